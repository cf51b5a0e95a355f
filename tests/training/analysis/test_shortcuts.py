"""Positional-shortcut controls: golden values of the prefix-matching score by period and of the
attention to fixed offsets on hand-built patterns, and the sequences they are measured on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.core.analysis.scores import prefix_matching_score, prefix_matching_sequences, previous_token_score
from training.core.analysis.shortcuts import (
    offset_attention,
    period_copies,
    period_prefix_score,
    period_sweep,
    sweep_offsets,
    sweep_periods,
)

N_CTX = 256
SHORTCUT = 127  # the 1-layer control's head attended to q - 127 on the half-layout data


def pattern_from_targets(targets: list[list[int]]) -> torch.Tensor:
    """(1, 1, query, key) pattern spreading each query's attention evenly over its targets."""
    pattern = torch.zeros(1, 1, len(targets), len(targets))
    for query, keys in enumerate(targets):
        pattern[0, 0, query, keys] = 1.0 / len(keys)
    return pattern


def n_pos(period: int) -> int:
    return min(1 + period * period_copies(period, N_CTX, 4), N_CTX)


def induction_pattern(period: int) -> torch.Tensor:
    """Attends to q - period + 1 (the token after the previous copy) once there is one, else to BOS."""
    return pattern_from_targets([[q - period + 1] if q > period else [0] for q in range(n_pos(period))])


def positional_pattern(n: int, offset: int = SHORTCUT) -> torch.Tensor:
    """Attends to q - offset whatever the tokens, and to itself where there is no such key."""
    return pattern_from_targets([[q - offset] if q >= offset else [q] for q in range(n)])


def uniform_pattern(n: int) -> torch.Tensor:
    return torch.ones(n, n).tril().div(torch.arange(1, n + 1)[:, None])[None, None]


def test_periods_and_offsets_at_256_are_the_issues_and_scale_with_the_context():
    assert sweep_periods(256) == (5, 10, 25, 50, 100, 127, 128)
    assert sweep_offsets(256) == (1, 2, 64, 127, 128, 191)
    assert sweep_periods(512) == (10, 20, 50, 100, 200, 255, 256)
    assert sweep_periods(64) == (2, 6, 12, 25, 31, 32) and sweep_offsets(64) == (1, 2, 16, 31, 32, 47)
    assert sweep_periods(8) == (2, 3, 4) and sweep_offsets(8) == (1, 2, 3, 4, 5)


def test_copies_fill_the_context_up_to_the_prefix_repeats_and_never_fall_below_two():
    assert [period_copies(p, N_CTX, 4) for p in sweep_periods(N_CTX)] == [4, 4, 4, 4, 2, 2, 2]
    assert n_pos(128) == N_CTX  # BOS + 128 + the second copy cut one short


def test_period_sequences_repeat_distinct_tokens_and_match_the_prefix_matching_sequences():
    counts = np.arange(1000)  # token 0 (BOS) unseen; the rarest and commonest tenth are left out
    sweep = dict(period_sweep(counts, N_CTX, n_sequences=3, max_copies=4, exclude_fraction=0.1, bos_token=0, seed=5))
    assert tuple(sweep) == sweep_periods(N_CTX)
    for period, tokens in sweep.items():
        assert tokens.shape == (3, n_pos(period)) and (tokens[:, 0] == 0).all()
        block = tokens[:, 1 : 1 + period]
        assert all(len(set(row.tolist())) == period for row in block)
        assert torch.equal(tokens[:, 1 + period :], tokens[:, 1 : tokens.shape[1] - period])
    same = prefix_matching_sequences(counts, n_sequences=3, n_random=25, n_repeats=4, bos_token=0, seed=5)
    assert torch.equal(sweep[25], same)  # comparable with the stored prefix-matching score


def test_periods_longer_than_the_eligible_token_types_are_left_out():
    counts = np.ones(31)  # BOS + 30 types, 3 cut at each end: 24 eligible
    sweep = period_sweep(counts, 64, n_sequences=2, max_copies=4, exclude_fraction=0.1, bos_token=0, seed=0)
    assert [p for p, _ in sweep] == [2, 6, 12]  # not 25, 31, 32


@pytest.mark.parametrize("period", sweep_periods(N_CTX))
def test_a_head_attending_to_the_token_after_the_previous_copy_scores_one_at_every_period(period):
    assert period_prefix_score(induction_pattern(period), period).item() == pytest.approx(1.0)


def test_a_positional_head_scores_only_at_the_period_and_offset_it_attends_to():
    by_period = {p: period_prefix_score(positional_pattern(n_pos(p)), p).item() for p in sweep_periods(N_CTX)}
    assert by_period == {5: 0.0, 10: 0.0, 25: 0.0, 50: 0.0, 100: 0.0, 127: 0.0, 128: 1.0}  # target q - 127
    by_offset = offset_attention(positional_pattern(N_CTX), sweep_offsets(N_CTX))[0]
    assert by_offset.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]  # offsets 1, 2, 64, 127, 128, 191


def test_uniform_attention_gives_the_known_values():
    n = 64
    by_offset = offset_attention(uniform_pattern(n), (1, 5, 63))[0]
    for k, value in zip((1, 5, 63), by_offset.tolist()):
        harmonic = sum(1 / j for j in range(k + 1, n + 1))  # mean over q = k..n-1 of 1/(q+1)
        assert value == pytest.approx(harmonic / (n - k), rel=1e-6)
    for period, length in ((5, 21), (25, 101), (128, 256)):
        # a query q in copy m + 1 has m earlier copies, i.e. (q - 1) // period targets among q + 1 keys
        expected = np.mean([((q - 1) // period) / (q + 1) for q in range(1 + period, length)])
        assert period_prefix_score(uniform_pattern(length), period).item() == pytest.approx(expected, rel=1e-6)
    assert period_prefix_score(uniform_pattern(101), 25).item() == pytest.approx(0.03, abs=0.005)  # as documented


def test_the_sweep_agrees_with_the_prefix_matching_and_previous_token_scores():
    g = torch.Generator().manual_seed(0)
    pattern = torch.rand(2, 3, 101, 101, generator=g).tril()
    pattern = pattern / pattern.sum(-1, keepdim=True)
    assert torch.allclose(period_prefix_score(pattern, 25), prefix_matching_score(pattern, n_random=25, n_repeats=4))
    assert torch.allclose(offset_attention(pattern, (1,))[:, 0], previous_token_score(pattern))


def test_offsets_outside_the_context_and_too_short_patterns_are_refused():
    with pytest.raises(ValueError, match=r"offsets must lie in \[1, 8\)"):
        offset_attention(uniform_pattern(8), (0, 2))
    with pytest.raises(ValueError, match="offsets must lie"):
        offset_attention(uniform_pattern(8), (8,))
    with pytest.raises(ValueError, match="at least 7 positions"):
        period_prefix_score(uniform_pattern(6), 5)
