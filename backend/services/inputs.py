"""Request inputs checked against the snapshot: text or token ids to a token tensor, and the
chosen layers and heads. Every misfit is an InputError (422) that says what the limit is."""

from __future__ import annotations

import torch

from backend.errors import InputError
from backend.services.store import ArtifactStore, LoadedSnapshot


def encode(
    store: ArtifactStore,
    suite: str,
    snap: LoadedSnapshot,
    *,
    text: str | None,
    tokens: list[int] | None,
    max_chars: int,
    max_tokens: int,
) -> torch.Tensor:
    """The input as a (pos,) int64 tensor: the model's BOS (if it has one) + the text's tokens,
    or the token ids as given."""
    cfg = snap.model.cfg
    if text is not None:
        if len(text) > max_chars:
            raise InputError(
                f"text is {len(text)} characters long; the service accepts at most {max_chars} (MAX_TEXT_CHARS)"
            )
        try:
            text.encode("utf-8")
            bos = store.special_tokens(suite)[0]  # an imported model without a BOS gets none
            ids = [*([] if bos is None else [bos]), *store.tokenizer(suite).encode(text, add_special_tokens=False).ids]
        except UnicodeEncodeError:
            raise InputError("text is not valid Unicode (it contains a lone surrogate)") from None
    else:
        ids = list(tokens or [])
        bad = [t for t in ids if not 0 <= t < cfg.d_vocab]
        if bad:
            raise InputError(
                f"token id {bad[0]} is out of range: the vocabulary has {cfg.d_vocab} tokens (0..{cfg.d_vocab - 1})"
            )
    limit = min(cfg.n_ctx, max_tokens)
    if len(ids) > limit:
        what = "text is" if text is not None else "input is"
        raise InputError(
            f"{what} {len(ids)} tokens long after tokenisation (with BOS); the model's context is {cfg.n_ctx} tokens"
            + (f" and the service runs at most {max_tokens} (MAX_TEXT_TOKENS)" if max_tokens < cfg.n_ctx else "")
        )
    if len(ids) < 2:
        raise InputError("text has no tokens after tokenisation: nothing to predict")
    return torch.tensor(ids, dtype=torch.long)


def token_strings(store: ArtifactStore, suite: str, ids: list[int]) -> list[str]:
    """Each token id as its text (`ArtifactStore.token_pieces`); "" for an id the tokenizer lacks."""
    return piece_strings(store.token_pieces(suite), ids)


def piece_strings(pieces: list[str], ids: list[int]) -> list[str]:
    """`token_strings` with the suite's pieces already in hand (for many lookups per request)."""
    return [pieces[i] if 0 <= i < len(pieces) else "" for i in ids]


def _indices(kind: str, chosen: list[int] | None, n: int) -> list[int]:
    if chosen is None:
        return list(range(n))
    for i in chosen:
        if not 0 <= i < n:
            raise InputError(f"{kind} {i} is out of range: the model has {n} {kind}s (0..{n - 1})")
    return list(dict.fromkeys(chosen))  # unique, in the order given


def select_heads(
    snap: LoadedSnapshot, layers: list[int] | None, heads: list[int] | None, *, max_heads: int
) -> list[tuple[int, int]]:
    """(layer, head) for every chosen head of every chosen layer (default: all), at most
    `max_heads` (MAX_HEADS) of them."""
    cfg = snap.model.cfg
    chosen = [
        (layer, head)
        for layer in _indices("layer", layers, cfg.n_layers)
        for head in _indices("head", heads, cfg.n_heads)
    ]
    if len(chosen) > max_heads:
        raise InputError(
            f"'layers' and 'heads' select {len(chosen)} heads (every chosen head of every chosen layer; "
            f"default: all of the model's {cfg.n_layers * cfg.n_heads}); the service returns at most {max_heads} "
            "per request (MAX_HEADS): choose fewer"
        )
    return chosen


def check_head_count(snap: LoadedSnapshot, max_heads: int) -> None:
    """For answers that cover every head of the model (logit attribution): at most `max_heads`."""
    cfg = snap.model.cfg
    if cfg.n_layers * cfg.n_heads > max_heads:
        raise InputError(
            f"the model has {cfg.n_layers * cfg.n_heads} heads and this answer covers all of them; the service "
            f"returns at most {max_heads} per request (MAX_HEADS)"
        )


def check_heads(snap: LoadedSnapshot, heads: list[tuple[int, int]], *, max_heads: int) -> list[tuple[int, int]]:
    """[layer, head] pairs, each in range, at most `max_heads` distinct ones; duplicates dropped."""
    cfg = snap.model.cfg
    for layer, head in heads:
        _indices("layer", [layer], cfg.n_layers)
        _indices("head", [head], cfg.n_heads)
    unique = list(dict.fromkeys((int(layer), int(head)) for layer, head in heads))
    if len(unique) > max_heads:
        raise InputError(
            f"'heads' lists {len(unique)} distinct heads; an ablation removes at most {max_heads} together "
            "(MAX_ABLATION_HEADS)"
        )
    return unique
