"""Attention-pattern head scores: prefix matching, previous token, duplicate token.

Each score is a pure function of attention patterns `[batch head query key]` (as cached at
`blocks.{L}.attn.hook_pattern`), plus thin wrappers that run a `HookedTransformer` and apply it
to every layer. The wrappers use `run_with_cache`, which keeps permanent hooks (e.g. smeared
keys), so the patterns are the ones the model really computes.
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens import HookedTransformer
from transformer_lens.utilities import get_act_name

# Prefix-matching score above which a head counts as an induction head (uniform attention over
# a 101-token sequence scores about 0.03; a perfect induction head 1.0).
INDUCTION_THRESHOLD = 0.3


def eligible_token_types(
    token_counts: np.ndarray | Tensor, *, exclude_fraction: float, bos_token: int
) -> Int[Tensor, "types"]:
    """The token types random prefix-matching tokens are drawn from: those that occur in the
    corpus (`token_counts > 0`), less `bos_token` and the most and the least common
    `exclude_fraction` of them (see `prefix_matching_sequences`), in ascending count order."""
    counts = torch.as_tensor(np.asarray(token_counts), dtype=torch.float64)
    types = torch.nonzero(counts > 0).flatten()
    types = types[types != bos_token]
    # Stable sort by count so that equal counts keep token-id order: the draw is reproducible.
    types = types[torch.argsort(counts[types], stable=True)]
    n_cut = int(exclude_fraction * len(types))
    return types[n_cut : len(types) - n_cut]


def prefix_matching_sequences(
    token_counts: np.ndarray | Tensor,
    *,
    n_sequences: int = 10,
    n_random: int = 25,
    n_repeats: int = 4,
    exclude_fraction: float = 0.1,
    bos_token: int,
    seed: int,
) -> Int[Tensor, "seq pos"]:
    """The paper's prefix-matching evaluator input (Olsson et al. 2022, "Model Analysis Table").

    Per sequence: `n_random` distinct tokens drawn uniformly from the token types that occur in
    the corpus (`token_counts > 0`), leaving out `bos_token` and the most and the least common
    `exclude_fraction` of those types (floor of the fraction times the number of types, at each
    end; ties broken by token id); the draw is repeated `n_repeats` times and BOS prepended, so
    the length is `1 + n_random * n_repeats` (101 with the defaults). Deterministic given `seed`.
    """
    eligible = eligible_token_types(token_counts, exclude_fraction=exclude_fraction, bos_token=bos_token)
    if len(eligible) < n_random:
        raise ValueError(
            f"only {len(eligible)} token types are eligible for prefix-matching sequences, {n_random} are needed"
        )
    generator = torch.Generator().manual_seed(seed)
    draws = torch.stack(
        [eligible[torch.randperm(len(eligible), generator=generator)[:n_random]] for _ in range(n_sequences)]
    )  # (seq, n_random)
    bos = torch.full((n_sequences, 1), bos_token, dtype=torch.long)
    return torch.cat([bos, draws.repeat(1, n_repeats)], dim=1)


def prefix_matching_mask(n_random: int, n_repeats: int) -> Float[Tensor, "query key"]:
    """1 where the key is the position right after an earlier occurrence of the query's token.

    Layout as in `prefix_matching_sequences`: BOS at 0, repeat r's token i at 1 + r*n_random + i.
    For a query q the earlier occurrences are q - m*n_random (m >= 1) while >= 1; the keys are
    those plus one, i.e. q - key + 1 is a positive multiple of n_random and key >= 2.
    """
    n_pos = 1 + n_random * n_repeats
    q = torch.arange(n_pos)[:, None]
    k = torch.arange(n_pos)[None, :]
    lag = q - k + 1
    return ((lag >= n_random) & (lag % n_random == 0) & (k >= 2)).float()


def prefix_matching_score(
    pattern: Float[Tensor, "batch head query key"], *, n_random: int, n_repeats: int
) -> Float[Tensor, "head"]:
    """Prefix-matching score (Olsson et al. 2022, "Model Analysis Table", "Prefix matching").

    For each query in repeats 2..n_repeats, the attention summed over the positions that followed
    the query's token in all earlier repeats (see `prefix_matching_mask`); mean over those
    queries and the batch. A perfect induction head scores 1; uniform causal attention scores
    about 0.03 with the defaults. The targets are the paper's; the average is over the batch
    given (the paper's evaluator uses its own sequences).
    """
    n_pos = 1 + n_random * n_repeats
    if pattern.shape[-1] != n_pos or pattern.shape[-2] != n_pos:
        raise ValueError(f"pattern has {pattern.shape[-1]} positions, expected 1 + {n_random} * {n_repeats}")
    mask = prefix_matching_mask(n_random, n_repeats).to(pattern)
    on_target = (pattern * mask).sum(-1)  # (batch, head, query)
    return on_target[:, :, 1 + n_random :].mean(dim=(0, 2))


def previous_token_score(pattern: Float[Tensor, "batch head query key"]) -> Float[Tensor, "head"]:
    """Mean attention from each query i >= 1 to key i - 1, over queries and batch.

    TransformerLens' `detect_head(..., "previous_token_head")` also averages in query 0 (which
    cannot score), so its value is ours times (pos - 1) / pos.
    """
    diagonal = torch.diagonal(pattern, offset=-1, dim1=-2, dim2=-1)  # (batch, head, query - 1)
    return diagonal.mean(dim=(0, 2))


def duplicate_token_score(
    pattern: Float[Tensor, "batch head query key"], tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "head"]:
    """Attention to earlier copies of the query's token (Olsson et al. 2022, duplicate heads).

    For each query whose token occurred earlier in its sequence, the attention summed over
    those earlier positions; mean over such queries (all sequences pooled), 0 if there are
    none. TransformerLens' `detect_head(..., "duplicate_token_head")` averages over all queries
    instead, so on sequences with few repeats its values are smaller.
    """
    same = tokens[:, :, None] == tokens[:, None, :]  # (batch, query, key)
    earlier = torch.ones_like(same[0]).tril(diagonal=-1)
    duplicate = (same & earlier).to(pattern)
    has_duplicate = duplicate.amax(-1)  # (batch, query): 1 where the token occurred before
    on_target = (pattern * duplicate[:, None]).sum(-1)  # (batch, head, query)
    n_queries = has_duplicate.sum()
    if n_queries == 0:
        return torch.zeros(pattern.shape[1], dtype=pattern.dtype, device=pattern.device)
    return (on_target * has_duplicate[:, None]).sum(dim=(0, 2)) / n_queries


def attention_patterns(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"]
) -> list[Float[Tensor, "batch head query key"]]:
    """Every layer's attention pattern, caching nothing else; permanent hooks stay active."""
    names = {get_act_name("pattern", layer) for layer in range(model.cfg.n_layers)}
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    return [cache[get_act_name("pattern", layer)] for layer in range(model.cfg.n_layers)]


def prefix_matching_scores(
    model: HookedTransformer,
    tokens: Int[Tensor, "batch pos"],
    *,
    n_random: int = 25,
    n_repeats: int = 4,
) -> Float[Tensor, "layer head"]:
    """`prefix_matching_score` for every head, on `prefix_matching_sequences` tokens."""
    patterns = attention_patterns(model, tokens)
    return torch.stack([prefix_matching_score(p, n_random=n_random, n_repeats=n_repeats) for p in patterns])


def head_scores_on_text(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"]
) -> dict[str, Float[Tensor, "layer head"]]:
    """Previous-token and duplicate-token scores of every head on the given (natural) text."""
    patterns = attention_patterns(model, tokens)
    return {
        "previous_token": torch.stack([previous_token_score(p) for p in patterns]),
        "duplicate_token": torch.stack([duplicate_token_score(p, tokens) for p in patterns]),
    }
