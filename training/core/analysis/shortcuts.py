"""Positional-shortcut controls: prefix matching by repeat period, and attention at fixed offsets.

A head can score well on prefix matching without reading content. When the repeats in the
training data always sit at one offset (tokens n/2..n-1 copying tokens 0..n/2-1), attending to
q - n/2 + 1 whatever the tokens is right wherever a repeat is, and on the prefix-matching
sequences it lands on the target whenever the repeat period happens to match. Olsson et al. 2022
call a head an induction head for what it does on *any* repeated random sequence ("Model
analysis table", prefix matching; "Argument 2", where the smeared-key 1-layer model must find
the earlier copy by content). These two measurements ask that of each head:

- `period_prefix_score`: the prefix-matching score on random tokens repeated with period P,
  for a sweep of periods. An induction head scores high at every P; a positional head peaks at
  the one period whose target q - P + 1 is the offset it attends to.
- `offset_attention`: mean attention from query q to key q - k on plain held-out text, for
  fixed offsets k. A positional head shows its offset here whatever the content.

The periods and offsets are module constants scaled to the context length (`sweep_periods`,
`sweep_offsets`), not analysis settings: the analysis stores them with the measured arrays.
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from training.core.analysis.scores import eligible_token_types, prefix_matching_sequences

# The period sweep at n_ctx = 256, scaled to other context lengths. `sweep_periods` adds
# n_ctx/2 - 1 and n_ctx/2: both sides of the half-context offset of the old fixed-offset data,
# where a head that attends to q - n_ctx/2 + 1 by position scores at period n_ctx/2 only.
PERIODS_AT_256 = (5, 10, 25, 50, 100)
# Sequences per period (the prefix-matching score has 10; at its period 25 these are its first
# 4). The long periods fill the context: 10 cost ~0.7 of the evaluation forward pass of the
# default 2-layer model, 4 about a quarter (~20-25 ms on a quiet CPU), and still score 60
# queries at period 5 and 400-600 at the periods from 50 up.
PERIOD_SEQUENCES = 4


def sweep_periods(n_ctx: int) -> tuple[int, ...]:
    """The repeat periods swept for a context of `n_ctx` tokens: `PERIODS_AT_256` scaled by
    n_ctx / 256 (at least 2), then n_ctx/2 - 1 and n_ctx/2; sorted, distinct, in [2, n_ctx/2].
    For n_ctx 256: 5, 10, 25, 50, 100, 127, 128."""
    scaled = {max(2, round(p * n_ctx / 256)) for p in PERIODS_AT_256}
    return tuple(sorted(p for p in scaled | {n_ctx // 2 - 1, n_ctx // 2} if 2 <= p <= n_ctx // 2))


def sweep_offsets(n_ctx: int) -> tuple[int, ...]:
    """The fixed offsets k of `offset_attention` for a context of `n_ctx` tokens: 1 and 2 (the
    previous tokens), a quarter of the context, half of it and one less (q - 127 at n_ctx 256,
    the half-layout shortcut's target), and three quarters less one; sorted, distinct, in
    [1, n_ctx). For n_ctx 256: 1, 2, 64, 127, 128, 191."""
    ks = {1, 2, n_ctx // 4, n_ctx // 2 - 1, n_ctx // 2, 3 * n_ctx // 4 - 1}
    return tuple(sorted(k for k in ks if 1 <= k < n_ctx))


def period_copies(period: int, n_ctx: int, max_copies: int) -> int:
    """Copies of the random block in one period-`period` sequence: as many as fit after BOS in
    `n_ctx` tokens, at most `max_copies` (the prefix-matching score's `prefix_repeats`), and at
    least 2; when two do not fit (period n_ctx/2) the second is cut at n_ctx tokens."""
    return max(2, min(max_copies, (n_ctx - 1) // period))


def period_sweep(
    token_counts: np.ndarray | Tensor,
    n_ctx: int,
    *,
    n_sequences: int,
    max_copies: int,
    exclude_fraction: float,
    bos_token: int,
    seed: int,
) -> tuple[tuple[int, Int[Tensor, "seq pos"]], ...]:
    """(period, sequences) for every period of `sweep_periods(n_ctx)`.

    Each period's sequences are `prefix_matching_sequences` with `n_random` = the period and
    `period_copies` copies (same token-type exclusion, same `seed`: at the prefix-matching
    score's own period and repeats they are its sequences), cut at `n_ctx` tokens. A period
    longer than the number of eligible token types (a tiny vocabulary) is left out: a period's
    tokens are distinct, so that each query has one earlier copy per repeat."""
    n_types = len(eligible_token_types(token_counts, exclude_fraction=exclude_fraction, bos_token=bos_token))
    sweep = []
    for period in sweep_periods(n_ctx):
        if period > n_types:
            continue
        tokens = prefix_matching_sequences(
            token_counts,
            n_sequences=n_sequences,
            n_random=period,
            n_repeats=period_copies(period, n_ctx, max_copies),
            exclude_fraction=exclude_fraction,
            bos_token=bos_token,
            seed=seed,
        )
        sweep.append((period, tokens[:, :n_ctx]))
    return tuple(sweep)


def period_mask(n_pos: int, period: int) -> Float[Tensor, "query key"]:
    """1 where the key follows an earlier occurrence of the query's token, in a sequence of BOS
    then random tokens repeated with `period` (token i of copy r at 1 + r * period + i), cut at
    `n_pos` positions: q - key + 1 is a positive multiple of `period` and key >= 2. As
    `scores.prefix_matching_mask`, for any length."""
    q = torch.arange(n_pos)[:, None]
    k = torch.arange(n_pos)[None, :]
    lag = q - k + 1
    return ((lag >= period) & (lag % period == 0) & (k >= 2)).float()


def period_prefix_score(pattern: Float[Tensor, "batch head query key"], period: int) -> Float[Tensor, "head"]:
    """The prefix-matching score at one repeat period (Olsson et al. 2022, "Model Analysis
    Table", prefix matching, on sequences repeated with period `period` instead of 25).

    For each query in copies 2.. (q >= 1 + period), the attention summed over the keys that
    followed the query's token in every earlier copy (`period_mask`: q - period + 1,
    q - 2 * period + 1, ...); mean over those queries and the batch. With the prefix-matching
    sequences' period and length it is `scores.prefix_matching_score`. A head attending to
    q - period + 1 scores 1 at every period; uniform causal attention scores the mean over
    scored queries of (earlier copies) / (q + 1).
    """
    n_pos = pattern.shape[-1]
    if pattern.shape[-2] != n_pos or n_pos < period + 2:
        raise ValueError(f"a period-{period} score needs a square pattern of at least {period + 2} positions")
    mask = period_mask(n_pos, period).to(pattern)
    on_target = (pattern * mask).sum(-1)  # (batch, head, query)
    return on_target[:, :, 1 + period :].mean(dim=(0, 2))


def offset_attention(
    pattern: Float[Tensor, "batch head query key"], offsets: tuple[int, ...] | list[int]
) -> Float[Tensor, "head offset"]:
    """Mean attention from each query q to key q - k, for every offset k (our control for a
    positional shortcut; at k = 1 it is `scores.previous_token_score`).

    Averaged over the queries that have such a key (q >= k) and the batch. On plain text a
    content-reading head spreads over many offsets; a head that attends to q - k by position
    scores near 1 at k. Uniform causal attention scores the mean over q >= k of 1 / (q + 1).
    """
    n_pos = pattern.shape[-1]
    if any(not 1 <= k < n_pos for k in offsets):
        raise ValueError(f"offsets must lie in [1, {n_pos}) for a pattern of {n_pos} positions, got {list(offsets)}")
    columns = [torch.diagonal(pattern, offset=-k, dim1=-2, dim2=-1).mean(dim=(0, 2)) for k in offsets]
    if not columns:
        return pattern.new_zeros(pattern.shape[1], 0)
    return torch.stack(columns, dim=-1)
