"""The local learning coefficient (devinterp's SGLD) against models whose LLC is known.

A regular model at a minimum has LLC = d/2 (d parameters): least-squares linear regression at
its least-squares solution is one, its loss exactly quadratic. Writing each weight as a product
of two parameters adds parameters the loss cannot tell apart (one direction of each pair is
flat): the LLC stays that of the effective parameters, not half the parameter count. Full-batch
SGLD (no minibatch noise), fixed seeds. The tolerances: five seeds of the linear case gave
4.79-5.23 (d/2 = 5) and four of the product case 5.13-5.46, the step size's bias (about
epsilon * n*beta * curvature / 4) included.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from training.core.analysis.llc import estimate_llc
from training.core.config import LLCConfig, ModelConfig
from training.core.model import Transformer

N = 400  # samples
D_IN = 9  # inputs: with the bias, 10 parameters


class ProductRegression(nn.Module):
    """y = x . (u * v) + b: 2 * D_IN + 1 parameters, D_IN + 1 of them effective."""

    def __init__(self, d_in: int):
        super().__init__()
        self.u, self.v, self.b = (
            nn.Parameter(torch.ones(d_in)),
            nn.Parameter(torch.ones(d_in)),
            nn.Parameter(torch.zeros(1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.u * self.v) + self.b


def regression_problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(X, y, least-squares solution [weights..., bias]); true weights in [1, 2], noise 0.5."""
    g = torch.Generator().manual_seed(0)
    true = 1.0 + torch.rand(D_IN, generator=g)
    x = torch.randn(N, D_IN, generator=g)
    y = x @ true + 0.5 * torch.randn(N, generator=g)
    solution = torch.linalg.lstsq(torch.cat([x, torch.ones(N, 1)], 1), y[:, None]).solution[:, 0]
    return x, y, solution


def estimate(model: nn.Module, predict, **settings) -> float:
    """The LLC of `model` on the regression problem; each "sequence" is a sample index twice
    (devinterp's data are token sequences; the loss reads the index and scores one position)."""
    x, y, _ = regression_problem()

    def squared_error(m: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        i = tokens[:, 0]
        return 0.5 * (predict(m, x[i]) - y[i])[:, None] ** 2  # (batch, 1): one "next token"

    cfg = LLCConfig(
        **{
            "chains": 2,
            "draws": 800,
            "burnin": 100,
            "gamma": 1.0,  # weak: nbeta * curvature (~67) dominates it in every direction that counts
            "nbeta": N / math.log(N),  # Lau et al.'s n / log n
            "batch_size": N,  # full batch
            "batches": 1,
            "seed": 0,
            **settings,
        }
    )
    sequences = torch.arange(N)[:, None].repeat(1, 2)
    return estimate_llc(model, sequences, cfg, loss_fn=squared_error).mean


def test_llc_of_least_squares_regression_at_its_minimum_is_half_the_parameter_count():
    _, _, solution = regression_problem()
    model = nn.Linear(D_IN, 1)
    with torch.no_grad():
        model.weight.copy_(solution[:D_IN][None])
        model.bias.copy_(solution[D_IN:])
    d = sum(p.numel() for p in model.parameters())
    llc = estimate(model, lambda m, x: m(x)[:, 0], epsilon=2e-3)
    assert llc == pytest.approx(d / 2, rel=0.1)


def test_llc_counts_effective_parameters_not_parameters():
    _, _, solution = regression_problem()
    model = ProductRegression(D_IN)
    w = solution[:D_IN]
    with torch.no_grad():  # the same function as the least-squares fit: u * v = w
        model.u.copy_(w.abs().sqrt() * w.sign())
        model.v.copy_(w.abs().sqrt())
        model.b.copy_(solution[D_IN:])
    d = sum(p.numel() for p in model.parameters())
    llc = estimate(model, lambda m, x: m(x), epsilon=1e-3)
    assert d == 2 * D_IN + 1
    assert llc == pytest.approx((D_IN + 1) / 2, rel=0.15)  # 5, not d/2 = 9.5


def tiny_transformer() -> tuple[Transformer, torch.Tensor]:
    torch.manual_seed(0)
    model = Transformer(ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, n_ctx=16, d_vocab=20))
    return model, torch.randint(0, 20, (8, 16), generator=torch.Generator().manual_seed(1))


def test_estimate_leaves_the_model_and_the_global_random_state_unchanged():
    model, sequences = tiny_transformer()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    cfg = LLCConfig(chains=2, draws=6, burnin=2, batch_size=2, batches=4)
    first = estimate_llc(model, sequences, cfg)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch_state, torch.get_rng_state()) and np.array_equal(np_state, np.random.get_state()[1])
    assert first.loss_trace.shape == (2, 8) and first.burnin == 2 and first.diverged == 0
    assert first.std == pytest.approx(float(np.std(first.per_chain)))
    again = estimate_llc(model, sequences, cfg)  # seeded: the same chains
    np.testing.assert_array_equal(first.loss_trace, again.loss_trace)
    other = estimate_llc(model, sequences, LLCConfig(**{**cfg.sampler_settings(), "seed": 1}))
    assert not np.array_equal(first.loss_trace, other.loss_trace)


def test_a_diverging_chain_is_reported_not_averaged():
    model, sequences = tiny_transformer()
    est = estimate_llc(model, sequences, LLCConfig(chains=2, draws=10, burnin=2, epsilon=10.0, batch_size=2, batches=4))
    assert est.diverged == 2 and math.isnan(est.mean) and np.isnan(est.per_chain).all()
    assert not np.isfinite(est.loss_trace[:, -1]).any()


def test_too_few_sequences_is_a_clear_error():
    model, sequences = tiny_transformer()
    with pytest.raises(ValueError, match="need at least 16 sequences"):
        estimate_llc(model, sequences, LLCConfig(batch_size=4, batches=4))
