"""What a snapshot does on a given text: attention patterns, per-token loss, top predictions,
and each head's direct contribution to the next-token logit. Run on demand, under the
snapshot's lock (see `store`), with the analysis package's functions where one exists."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformer_lens.utilities import get_act_name

from backend.models import AttentionRequest, AttentionResponse, LogitAttributionRequest, LogitAttributionResponse
from backend.services.convert import floats, scalar
from backend.services.inputs import encode, select_heads, token_strings
from backend.services.store import ArtifactStore
from training.analysis.attribution import direct_logit_attribution_per_token
from training.schema import head_label

TOP_K = 5


@dataclass(frozen=True)
class TextLimits:
    max_chars: int
    max_tokens: int


def attention(
    store: ArtifactStore, suite: str, run: str, step: str, req: AttentionRequest, limits: TextLimits
) -> AttentionResponse:
    """Attention patterns of the chosen heads, per-token loss and top-5 predictions on one text."""
    snap = store.snapshot(suite, run, step)
    tokens = encode(
        store, suite, snap, text=req.text, tokens=req.tokens, max_chars=limits.max_chars, max_tokens=limits.max_tokens
    )
    heads = select_heads(snap, req.layers, req.heads)
    names = {get_act_name("pattern", layer) for layer, _ in heads}
    with snap.lock, torch.no_grad():
        logits, cache = snap.model.run_with_cache(tokens[None], names_filter=lambda name: name in names)
        log_probs = logits[0].float().log_softmax(-1)  # (pos, d_vocab)
        # The model's own loss (`return_type="loss"`) is this same log-softmax cross-entropy.
        loss = -log_probs[:-1].gather(-1, tokens[1:, None])[:, 0]  # (pos-1,)
        top = log_probs.exp().topk(min(TOP_K, log_probs.shape[-1]), dim=-1)
        patterns = {name: cache[name][0] for name in names}  # (head, query, key)
    ids = tokens.tolist()
    top_ids = top.indices.tolist()
    top_strings = [token_strings(store, suite, row) for row in top_ids]
    by_layer = {name: causal_rows(p) for name, p in patterns.items()}  # [head][query][key <= query]
    # Nested values go in as dicts: pydantic validates them in one pass in Rust, several times
    # faster than building hundreds of small models one by one.
    return AttentionResponse(
        suite=suite,
        run=run,
        step=snap.step,
        token_ids=ids,
        tokens=token_strings(store, suite, ids),
        patterns=[
            {
                "layer": layer,
                "head": head,
                "label": head_label(layer, head),
                "pattern": by_layer[get_act_name("pattern", layer)][head],
            }
            for layer, head in heads
        ],
        loss=floats(loss),
        mean_loss=scalar(loss.mean()),
        top_predictions=[
            [{"token_id": i, "token": t, "prob": p} for i, t, p in zip(row_ids, row_strings, row_p)]
            for row_ids, row_strings, row_p in zip(top_ids, top_strings, floats(top.values, decimals=6))
        ],
    )


def causal_rows(pattern: torch.Tensor) -> list[list[list[float]]]:
    """(head, query, key) patterns as ragged rows, row q holding keys 0..q: the masked keys
    after the query are always 0, and leaving them out halves the JSON. Rounded to 6 decimals."""
    return [[row[: q + 1] for q, row in enumerate(rows)] for rows in floats(pattern, decimals=6)]


def logit_attribution(
    store: ArtifactStore, suite: str, run: str, step: str, req: LogitAttributionRequest, limits: TextLimits
) -> LogitAttributionResponse:
    """Per position, each head's direct-path contribution to the actual next token's logit
    (`training.analysis.attribution.direct_logit_attribution_per_token`)."""
    snap = store.snapshot(suite, run, step)
    tokens = encode(
        store, suite, snap, text=req.text, tokens=req.tokens, max_chars=limits.max_chars, max_tokens=limits.max_tokens
    )
    with snap.lock, torch.no_grad():
        contributions = direct_logit_attribution_per_token(snap.model, tokens[None])[0]  # (pos-1, layer, head)
        logits = snap.model(tokens[None], return_type="logits")[0]  # (pos, d_vocab)
        next_logit = logits[:-1].gather(-1, tokens[1:, None])[:, 0]
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
