"""Attention-pattern scores: golden values on hand-built patterns, and TransformerLens' detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformer_lens.head_detector import detect_head
from transformer_lens.utilities import get_act_name

from training.core.analysis.scores import (
    duplicate_token_score,
    head_scores_on_text,
    prefix_matching_score,
    prefix_matching_scores,
    prefix_matching_sequences,
    previous_token_score,
)

N_RANDOM, N_REPEATS = 25, 4
N_POS = 1 + N_RANDOM * N_REPEATS  # 101


def pattern_from_targets(targets: list[list[int]]) -> torch.Tensor:
    """(1, 1, query, key) pattern spreading each query's attention evenly over its targets."""
    pattern = torch.zeros(1, 1, len(targets), len(targets))
    for query, keys in enumerate(targets):
        pattern[0, 0, query, keys] = 1.0 / len(keys)
    return pattern


def induction_targets(all_repeats: bool) -> list[list[int]]:
    """Queries in repeats 2..4 attend to the token after their earlier copies; others to BOS."""
    targets = []
    for q in range(N_POS):
        if q <= N_RANDOM:
            targets.append([0])
        else:
            lags = range(N_RANDOM, q, N_RANDOM) if all_repeats else [N_RANDOM]
            targets.append([q - lag + 1 for lag in lags])
    return targets


def test_prefix_sequences_are_bos_then_four_repeats_of_25_distinct_tokens():
    seqs = prefix_matching_sequences(np.ones(200), bos_token=0, seed=0)
    assert seqs.shape == (10, N_POS)
    assert (seqs[:, 0] == 0).all()
    first = seqs[:, 1 : 1 + N_RANDOM]
    assert torch.equal(seqs[:, 1:], first.repeat(1, N_REPEATS))
    assert all(len(set(row.tolist())) == N_RANDOM for row in first)


def test_prefix_sequences_exclude_bos_unseen_and_the_most_and_least_common_tenth():
    counts = np.zeros(130, dtype=np.int64)
    counts[1:101] = np.arange(1, 101)  # token t (1..100) seen t times; 101..129 never seen
    counts[0] = 10**6  # BOS: excluded before the frequency cut
    seqs = prefix_matching_sequences(counts, n_sequences=50, bos_token=0, seed=0)
    used = set(seqs[:, 1:].flatten().tolist())
    assert used <= set(range(11, 91))  # 100 types: the 10 rarest (1..10) and commonest (91..100) go
    assert len(used) > 60


def test_prefix_sequences_are_deterministic_given_the_seed():
    counts = torch.ones(100)
    a = prefix_matching_sequences(counts, bos_token=0, seed=3)
    assert torch.equal(a, prefix_matching_sequences(counts, bos_token=0, seed=3))
    assert not torch.equal(a, prefix_matching_sequences(counts, bos_token=0, seed=4))


def test_prefix_sequences_need_n_random_eligible_types():
    counts = np.ones(28)  # BOS + 27 types; the 10% cut drops 2 at each end, leaving 23 < 25
    with pytest.raises(ValueError, match="only 23 token types are eligible"):
        prefix_matching_sequences(counts, bos_token=0, seed=0)
    assert prefix_matching_sequences(counts, bos_token=0, seed=0, exclude_fraction=0.0).shape == (10, N_POS)


def test_prefix_score_is_one_for_perfect_induction_pattern():
    for all_repeats in (False, True):
        pattern = pattern_from_targets(induction_targets(all_repeats))
        score = prefix_matching_score(pattern, n_random=N_RANDOM, n_repeats=N_REPEATS)
        assert score.item() == pytest.approx(1.0, abs=1e-6)


def test_previous_token_score_of_induction_pattern_counts_only_query_one_to_bos():
    pattern = pattern_from_targets(induction_targets(all_repeats=False))
    # Only query 1 attends to its previous position (BOS), out of the 100 queries i >= 1.
    assert previous_token_score(pattern).item() == pytest.approx(1 / 100)


def test_previous_token_pattern_scores_one_previous_and_zero_prefix():
    pattern = pattern_from_targets([[0]] + [[q - 1] for q in range(1, N_POS)])
    assert previous_token_score(pattern).item() == pytest.approx(1.0)
    # The key q - 1 is a prefix-matching target only if n_random divides 2.
    assert prefix_matching_score(pattern, n_random=N_RANDOM, n_repeats=N_REPEATS).item() == 0.0


def test_uniform_attention_scores_match_the_closed_form():
    pattern = pattern_from_targets([list(range(q + 1)) for q in range(N_POS)])
    # Query q = 1 + r*n + i (repeat r >= 1) has r targets among its q + 1 keys.
    expected = np.mean([r / (2 + r * N_RANDOM + i) for r in range(1, N_REPEATS) for i in range(N_RANDOM)])
    score = prefix_matching_score(pattern, n_random=N_RANDOM, n_repeats=N_REPEATS).item()
    assert score == pytest.approx(expected, rel=1e-5)
    assert score == pytest.approx(0.0305, abs=5e-4)
    assert previous_token_score(pattern).item() == pytest.approx(np.mean([1 / (q + 1) for q in range(1, N_POS)]))


def test_duplicate_token_score_averages_over_queries_with_an_earlier_copy():
    tokens = torch.tensor([[5, 7, 5, 9, 7, 5]])
    # Query 2 (5) -> key 0; query 4 (7) -> key 1; query 5 (5) -> half on 0, half on its own position.
    pattern = pattern_from_targets([[0], [1], [0], [3], [1], [0, 5]])
    assert duplicate_token_score(pattern, tokens).item() == pytest.approx((1 + 1 + 0.5) / 3)
    assert duplicate_token_score(pattern, torch.tensor([[1, 2, 3, 4, 6, 8]])).item() == 0.0


def test_prefix_and_previous_scores_agree_with_transformer_lens_detect_head(make_model, monkeypatch):
    """Same targets as `detect_head`, different averaging: its "mul" score divides the attention
    on target by all the attention (one per query, 101 queries), ours by the queries that can
    score (75 for prefix matching and duplicates, 100 for previous token). On repeated random
    sequences of distinct tokens the two are therefore exactly proportional.
    """
    model = make_model(initializer_range=0.5)  # sharper random attention: heads differ more
    seqs = prefix_matching_sequences(np.ones(50), n_sequences=3, bos_token=0, seed=0)
    texts = {" ".join(map(str, row.tolist())): row[None] for row in seqs}

    def to_tokens(text: str | list[str]) -> torch.Tensor:
        return texts[text] if isinstance(text, str) else torch.cat([texts[t] for t in text])

    # The tiny model has no tokenizer; detect_head only needs `to_tokens` to map its input.
    monkeypatch.setattr(model, "to_tokens", to_tokens)
    names = ("induction_head", "previous_token_head", "duplicate_token_head")
    tl = {name: detect_head(model, list(texts), name) for name in names}

    ours = prefix_matching_scores(model, seqs)
    on_text = head_scores_on_text(model, seqs)
    torch.testing.assert_close(ours, tl["induction_head"] * N_POS / 75, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(on_text["previous_token"], tl["previous_token_head"] * N_POS / 100, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        on_text["duplicate_token"], tl["duplicate_token_head"] * N_POS / 75, atol=1e-5, rtol=1e-4
    )
    assert ours.argmax() == tl["induction_head"].argmax()


def test_prefix_scores_see_permanent_hooks_and_keep_them(make_model):
    model = make_model(initializer_range=0.5)
    seqs = prefix_matching_sequences(np.ones(50), n_sequences=2, bos_token=0, seed=0)
    before = prefix_matching_scores(model, seqs)
    name = get_act_name("k", 1)
    model.hook_dict[name].add_perma_hook(lambda k, hook: 3.0 * k)  # stands in for smeared keys
    after = prefix_matching_scores(model, seqs)
    assert torch.equal(after[0], before[0])  # layer 0 is upstream of the hook
    assert not torch.allclose(after[1], before[1])
    assert len(model.hook_dict[name].fwd_hooks) == 1


def test_scores_read_the_patterns_of_a_smeared_key_snapshot():
    """Snapshots load with smeared keys as permanent hooks: the scores must see the patterns the
    training model computes, not those of plain TransformerLens attention."""
    from training.core.config import ModelConfig
    from training.core.hooked import hooked_from_model
    from training.core.model import Transformer

    torch.manual_seed(0)
    trained = Transformer(ModelConfig(d_model=32, n_heads=2, d_head=8, n_ctx=128, d_vocab=50, smeared_keys=True))
    with torch.no_grad():
        for block in trained.blocks:
            block.attn.smear_alpha.fill_(-1.0)  # keys mostly take the previous position's key
    seqs = prefix_matching_sequences(np.ones(50), n_sequences=2, bos_token=0, seed=0)
    with torch.no_grad():
        _, patterns = trained(seqs, return_patterns=True)
    expected = torch.stack([prefix_matching_score(p, n_random=N_RANDOM, n_repeats=N_REPEATS) for p in patterns])
    torch.testing.assert_close(prefix_matching_scores(hooked_from_model(trained), seqs), expected)
