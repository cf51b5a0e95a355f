"""Loss by context position and the ICL score."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from training.core.analysis.loss import default_icl_indices, icl_score, loss_by_position, per_token_loss


def test_per_token_loss_is_next_token_cross_entropy_at_each_context_index(make_model):
    model = make_model()
    tokens = torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(0))
    logits = model(tokens).detach()
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 50), tokens[:, 1:].reshape(-1), reduction="none")
    loss = per_token_loss(model, tokens)
    assert loss.shape == (2, 11)
    torch.testing.assert_close(loss, expected.reshape(2, 11))


def test_loss_by_position_averages_over_the_batch():
    losses = torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])
    torch.testing.assert_close(loss_by_position(losses), torch.tensor([2.0, 3.0, 4.0]))


def test_icl_score_is_late_minus_early_loss_averaged_over_examples():
    losses = torch.tensor([[5.0, 4.0, 3.0, 2.0], [6.0, 6.0, 6.0, 4.0]])
    assert icl_score(losses, late=3, early=0) == pytest.approx(((2 - 5) + (4 - 6)) / 2)
    assert icl_score(losses, late=2, early=1) == pytest.approx(-0.5)


@pytest.mark.parametrize(("late", "early"), [(4, 0), (1, 2), (2, 2), (2, -1)])
def test_icl_score_rejects_indices_out_of_order_or_range(late, early):
    with pytest.raises(ValueError, match="context indices"):
        icl_score(torch.zeros(2, 4), late=late, early=early)


@pytest.mark.parametrize(
    ("n_ctx", "expected"),
    [(512, (500, 50)), (256, (250, 25)), (64, (62, 6)), (8, (6, 1)), (3, (1, 0))],
)
def test_default_icl_indices_scale_the_papers_500_and_50_of_512(n_ctx, expected):
    assert default_icl_indices(n_ctx) == expected


def test_default_icl_indices_need_three_positions():
    with pytest.raises(ValueError, match="n_ctx"):
        default_icl_indices(2)
