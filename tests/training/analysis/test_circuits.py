"""Weight-based scores on hand-built circuits, and against TransformerLens' own computations."""

from __future__ import annotations

import pytest
import torch

from training.core.analysis.circuits import (
    composition_scores,
    copying_sample,
    copying_score,
    ov_eigenvalue_positivity,
    qk_match_positivity,
    random_composition_baseline,
)

from .conftest import D_HEAD, D_MODEL, D_VOCAB, orthonormal_rows_orthogonal_to_ones, set_ov_circuit


@pytest.mark.parametrize("normalization_type", ["LN", None])
def test_identity_ov_circuit_is_a_perfect_copier(make_model, normalization_type):
    model = make_model(d_vocab=D_VOCAB, d_model=D_MODEL, d_head=D_HEAD, normalization_type=normalization_type)
    set_ov_circuit(model, sign=1.0)
    torch.testing.assert_close(ov_eigenvalue_positivity(model), torch.ones(2, 2))
    torch.testing.assert_close(copying_score(model), torch.ones(2, 2))


def test_negated_identity_ov_circuit_is_a_perfect_anti_copier(make_model):
    model = make_model(d_vocab=D_VOCAB, d_model=D_MODEL, d_head=D_HEAD)
    set_ov_circuit(model, sign=-1.0)
    torch.testing.assert_close(ov_eigenvalue_positivity(model), -torch.ones(2, 2))
    # Logits -3 e_t: every other token sits above the mean, the attended one below it.
    torch.testing.assert_close(copying_score(model), -torch.ones(2, 2))


def test_copying_score_does_not_depend_on_chunking_and_random_heads_score_near_minus_one(make_model):
    model = make_model()
    sample = copying_sample(model.cfg.d_vocab, 20, seed=3)
    torch.testing.assert_close(copying_score(model, tokens=sample, chunk_size=7), copying_score(model, tokens=sample))
    assert ((copying_score(model, tokens=sample) > -1) & (copying_score(model, tokens=sample) < -0.5)).all()


def noisy_copier(make_model, d_vocab: int = 256, noise: float = 0.05):
    """A 1-layer model whose direct OV path is 3 I + 3 * noise * N(0, 1) over the vocabulary
    (d_model = d_vocab, no LayerNorm): a copier with some noise."""
    model = make_model(n_layers=1, n_heads=1, d_vocab=d_vocab, d_model=d_vocab, d_head=d_vocab, normalization_type=None)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.embed.W_E.copy_(torch.eye(d_vocab))
        model.unembed.W_U.copy_(3.0 * torch.eye(d_vocab))
        model.blocks[0].attn.W_V.copy_(torch.eye(d_vocab)[None])
        model.blocks[0].attn.W_O.copy_((torch.eye(d_vocab) + noise * torch.randn(d_vocab, d_vocab, generator=g))[None])
    return model


def test_a_noisy_copier_scores_high_among_50_sampled_tokens_as_in_the_paper(make_model):
    # Issue 12: scored against the whole vocabulary, a head whose OV eigenvalues are 86% positive
    # came out at -0.63; among a 50-token sample, as the paper samples, it copies. Golden values
    # for this seed: eigenvalue positivity 0.925, sampled score 0.264, whole-vocabulary -0.643.
    model = noisy_copier(make_model)
    assert ov_eigenvalue_positivity(model).item() == pytest.approx(0.925, abs=0.005)
    sampled = copying_score(model, tokens=copying_sample(256, 50, seed=7)).item()
    whole = copying_score(model).item()
    assert sampled == pytest.approx(0.264, abs=0.005) and whole == pytest.approx(-0.643, abs=0.005)
    # a random head over the same sample stays near -1
    random_head = make_model(n_layers=1, n_heads=1, d_vocab=256)
    assert copying_score(random_head, tokens=copying_sample(256, 50, seed=7)).item() < -0.7


def test_copying_sample_is_seeded_distinct_and_skips_excluded_tokens():
    a = copying_sample(100, 50, seed=7, exclude=(0,))
    assert torch.equal(a, copying_sample(100, 50, seed=7, exclude=(0,)))
    assert len(set(a.tolist())) == 50 and 0 not in a.tolist()
    assert not torch.equal(a, copying_sample(100, 50, seed=8, exclude=(0,)))
    assert copying_sample(10, 50, seed=7).tolist() == list(range(10))  # a small vocabulary: all of it


def test_eigenvalue_positivity_equals_the_full_vocab_circuit_computation(make_model):
    model = make_model(normalization_type=None)
    full = torch.einsum("vd,lhde,lhem,mw->lhvw", model.W_E, model.W_V, model.W_O, model.W_U)
    eigenvalues = torch.linalg.eigvals(full.double())  # (layer, head, d_vocab), mostly ~0
    expected = eigenvalues.real.sum(-1) / eigenvalues.abs().sum(-1)
    torch.testing.assert_close(ov_eigenvalue_positivity(model), expected.float(), atol=1e-3, rtol=1e-3)


def test_composition_scores_are_transformer_lens_scores_minus_the_random_baseline(make_model):
    model = make_model(n_layers=3)
    scores = composition_scores(model, baseline_samples=50, seed=1)
    baseline = random_composition_baseline(model.cfg.d_model, model.cfg.d_head, samples=50, seed=1)
    later = torch.arange(3)[:, None, None, None] < torch.arange(3)[None, None, :, None]
    later = later.expand(-1, 2, -1, 2)
    for mode in ("q", "k", "v"):
        expected = model.all_composition_scores(mode.upper()).detach() - baseline
        torch.testing.assert_close(scores[mode][later], expected[later])
        assert scores[mode][~later].isnan().all()


def test_random_baseline_is_reproducible_and_random_heads_score_near_zero(make_model):
    a = random_composition_baseline(32, 16, samples=100, seed=0)
    assert a == random_composition_baseline(32, 16, samples=100, seed=0)
    assert 0.1 < a < 0.3
    scores = composition_scores(make_model())["k"]
    assert scores.nanmean().abs() < 0.05


def test_hand_built_induction_circuit_has_the_top_k_composition(make_model):
    """L0H0 copies the token subspace (dims 0-7) into a 'previous token' subspace (dims 8-15);
    L1H1's keys read that subspace and its queries the token subspace. Other heads are random.
    """
    model = make_model(d_head=8)
    eye = torch.eye(8)
    with torch.no_grad():
        attn0, attn1 = model.blocks[0].attn, model.blocks[1].attn
        attn0.W_V[0].zero_()
        attn0.W_V[0, 0:8] = eye
        attn0.W_O[0].zero_()
        attn0.W_O[0, :, 8:16] = eye
        attn1.W_Q[1].zero_()
        attn1.W_Q[1, 0:8] = eye
        attn1.W_K[1].zero_()
        attn1.W_K[1, 8:16] = eye
    scores = composition_scores(model)
    best = {mode: s.nan_to_num(-1.0).max().item() for mode, s in scores.items()}
    assert scores["k"][0, 0, 1, 1].item() == best["k"] > max(best["q"], best["v"])
    # ||P_tok|| / (||W_OV|| ||W_KQ||) = sqrt(8) / 8, minus the baseline (about 0.2 here).
    assert scores["k"][0, 0, 1, 1].item() > 0.1
    assert scores["q"][0, 0, 1, 1].item() < 0  # the queries read the token subspace, not dims 8-15


@pytest.mark.parametrize(
    "architecture",
    [dict(normalization_type=None), dict(positional_embedding_type="shortformer", attn_only=False, d_mlp=64)],
    ids=["no-ln", "shortformer-mlp"],
)
def test_weight_scores_cover_every_head_of_other_architectures(make_model, architecture):
    model = make_model(**architecture)
    for scores in (copying_score(model), ov_eigenvalue_positivity(model)):
        assert scores.shape == (2, 2) and scores.isfinite().all() and (scores.abs() <= 1).all()
    assert composition_scores(model, baseline_samples=10)["v"][0, :, 1, :].isfinite().all()


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("normalization_type", ["LN", None])
def test_qk_match_sign_is_plus_one_for_a_head_that_attends_to_matches(make_model, sign, normalization_type):
    """Layer 0 copies its token (OV = identity on the embedding); layer 1's QK circuit through it is
    sign * identity: every layer-1 head attends where layer 0's token matches its query (+1)
    or avoids exactly that (-1)."""
    model = make_model(d_vocab=D_VOCAB, d_model=D_MODEL, d_head=D_HEAD, normalization_type=normalization_type)
    q = orthonormal_rows_orthogonal_to_ones(D_VOCAB, D_MODEL)
    with torch.no_grad():
        model.embed.W_E.copy_(q)
        model.blocks[0].attn.W_V.copy_(q.T.expand(2, -1, -1))
        model.blocks[0].attn.W_O.copy_(q.expand(2, -1, -1))
        model.blocks[1].attn.W_Q.copy_(q.T.expand(2, -1, -1))
        model.blocks[1].attn.W_K.copy_(sign * q.T.expand(2, -1, -1))
    scores = qk_match_positivity(model)
    torch.testing.assert_close(scores[0, :, 1, :], torch.full((2, 2), sign), atol=1e-4, rtol=0)
    assert torch.isnan(scores[1]).all() and torch.isnan(scores[:, :, 0]).all()  # B must be later


def test_qk_match_sign_equals_the_full_vocab_eigenvalues(make_model):
    model = make_model(normalization_type=None)
    scores = qk_match_positivity(model)
    for h_from in range(2):
        for h_to in range(2):
            qside = model.W_E @ model.W_Q[1, h_to]
            kside = model.W_E @ model.W_V[0, h_from] @ model.W_O[0, h_from] @ model.W_K[1, h_to]
            eig = torch.linalg.eigvals((qside @ kside.T).double())  # (d_vocab,), mostly ~0
            expected = (eig.real.sum() / eig.abs().sum()).item()
            assert scores[0, h_from, 1, h_to].item() == pytest.approx(expected, abs=1e-3)
