"""What a snapshot does on a given text: attention patterns, per-token loss, top predictions,
and each head's direct contribution to the next-token logit. Run on demand: attention on the
snapshot's plain-torch model, logit attribution on its HookedTransformer under the snapshot's
lock (see `store`) with the analysis package's function."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import orjson
import torch

from backend.models import AttentionRequest, LogitAttributionRequest, LogitAttributionResponse
from backend.models.compute import PACKED_SCALE
from backend.services.convert import floats, scalar
from backend.services.inputs import check_head_count, encode, piece_strings, select_heads, token_strings
from backend.services.store import ArtifactStore, LoadedSnapshot
from training.core.science import attribution, head_label

TOP_K = 5


@dataclass(frozen=True)
class TextLimits:
    """What one request may ask for (the settings MAX_TEXT_CHARS, MAX_TEXT_TOKENS, MAX_HEADS,
    MAX_ABLATION_HEADS): the text's length, and how many heads an answer or an ablation covers."""

    max_chars: int
    max_tokens: int
    max_heads: int
    max_ablation_heads: int


def attention(
    store: ArtifactStore, suite: str, run: str, step: str, req: AttentionRequest, limits: TextLimits
) -> bytes:
    """Attention patterns of the chosen heads, per-token loss and top-5 predictions on one text,
    as the JSON of an `AttentionResponse`; repeated requests are answered from `store.responses`."""
    snap = store.snapshot(suite, run, step)
    tokens = encode(
        store, suite, snap, text=req.text, tokens=req.tokens, max_chars=limits.max_chars, max_tokens=limits.max_tokens
    )
    heads = select_heads(snap, req.layers, req.heads, max_heads=limits.max_heads)
    key = ("attention", suite, run, snap.step, snap.sha256, tuple(tokens.tolist()), tuple(heads), req.encoding)
    return store.responses.get(key, lambda: attention_json(store, suite, run, snap, tokens, heads, req.encoding))


def attention_json(
    store: ArtifactStore,
    suite: str,
    run: str,
    snap: LoadedSnapshot,
    tokens: torch.Tensor,
    heads: list[tuple[int, int]],
    encoding: str = "json",
) -> bytes:
    """`attention`'s answer, computed with the snapshot's plain-torch model: the same weights and
    patterns as `run_with_cache` (tested), ~2x faster here, and without hooks, so it needs no lock.
    Encoded by orjson straight from numpy: building ~66k Python floats for a 128-token answer
    and serialising them took 4x longer than the model run. The encoding is the schema's:
    `tests/backend` validates it against `AttentionResponse`."""
    with torch.inference_mode():
        logits, by_layer = snap.plain(tokens[None], return_patterns=True)  # by_layer: (1, head, query, key)
        log_probs = logits[0].float().log_softmax(-1)  # (pos, d_vocab)
        # The model's own loss (`return_type="loss"`) is this same log-softmax cross-entropy.
        loss = -log_probs[:-1].gather(-1, tokens[1:, None])[:, 0]  # (pos-1,)
        top = log_probs.topk(min(TOP_K, log_probs.shape[-1]), dim=-1)  # log-probabilities
        chosen = torch.stack([by_layer[layer][0, head] for layer, head in heads])  # (head, query, key)
        top_probs = rounded(top.values.exp()).tolist()
    pieces = store.token_pieces(suite)
    ids = tokens.tolist()
    top_ids = top.indices.tolist()
    return orjson.dumps(
        {
            "suite": suite,
            "run": run,
            "step": snap.step,
            "token_ids": ids,
            "tokens": piece_strings(pieces, ids),
            "patterns": [
                {"layer": layer, "head": head, "label": head_label(layer, head)} | encoded
                for (layer, head), encoded in zip(heads, encode_patterns(chosen, encoding))
            ],
            "loss": loss.numpy(),
            "mean_loss": scalar(loss.mean()),
            "top_predictions": [
                [
                    {"token_id": i, "token": t, "prob": p}
                    for i, t, p in zip(row_ids, piece_strings(pieces, row_ids), row_p)
                ]
                for row_ids, row_p in zip(top_ids, top_probs)
            ],
        },
        option=orjson.OPT_SERIALIZE_NUMPY,  # float32 arrays as their shortest repr; NaN as null
    )


def rounded(x: torch.Tensor, decimals: int = 6) -> np.ndarray:
    """float32 values rounded to `decimals` (in float64, so 0.1234565 rounds as written): six
    decimals are all a weight or probability needs, and the short numbers halve the JSON."""
    return np.round(x.detach().cpu().numpy().astype(np.float64), decimals).astype(np.float32)


def causal_rows(pattern: np.ndarray) -> list[np.ndarray]:
    """One head's (query, key) pattern as ragged rows, row q holding keys 0..q: the masked keys
    after the query are always 0, and leaving them out halves the JSON."""
    return [pattern[q, : q + 1] for q in range(pattern.shape[0])]


def encode_patterns(patterns: torch.Tensor, encoding: str) -> list[dict]:
    """Each (query, key) pattern of `patterns` (head, query, key) as the `pattern` and `packed`
    fields of a `HeadPattern`. 'json': ragged rows of floats rounded to 6 decimals. 'packed': the
    same rows as base64 of little-endian uint16 (weight x PACKED_SCALE, rounded): 2.7 bytes a
    weight instead of ~9, and no float formatting, which was most of an answer's cost."""
    if encoding == "json":
        return [{"pattern": causal_rows(p), "packed": None} for p in rounded(patterns)]
    lower = torch.ones(patterns.shape[-2:], dtype=torch.bool).tril()
    values = (patterns[:, lower].double() * PACKED_SCALE).round().numpy().astype("<u2")  # (head, n_lower)
    return [{"pattern": None, "packed": base64.b64encode(v.tobytes()).decode("ascii")} for v in values]


def logit_attribution(
    store: ArtifactStore, suite: str, run: str, step: str, req: LogitAttributionRequest, limits: TextLimits
) -> LogitAttributionResponse:
    """Per position, each head's direct-path contribution to the actual next token's logit minus
    the mean logit (`training.core.analysis.attribution.direct_logit_attribution_per_token`), and
    that centred logit."""
    snap = store.snapshot(suite, run, step)
    tokens = encode(
        store, suite, snap, text=req.text, tokens=req.tokens, max_chars=limits.max_chars, max_tokens=limits.max_tokens
    )
    check_head_count(snap, limits.max_heads)
    with snap.lock, torch.no_grad():
        contributions = attribution.direct_logit_attribution_per_token(snap.model, tokens[None])[
            0
        ]  # (pos-1, layer, head)
        logits = snap.model(tokens[None], return_type="logits")[0]  # (pos, d_vocab)
        centred = logits - logits.mean(-1, keepdim=True)  # what the contributions are shares of
        next_logit = centred[:-1].gather(-1, tokens[1:, None])[:, 0]
    ids = tokens.tolist()
    return LogitAttributionResponse(
        suite=suite,
        run=run,
        step=snap.step,
        token_ids=ids,
        tokens=token_strings(store, suite, ids),
        logits=floats(next_logit),
        contributions=floats(contributions),
    )
