"""Tiny seeded HookedTransformers for the analysis tests (built in well under a second)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

TINY = dict(
    n_layers=2,
    d_model=32,
    n_heads=2,
    d_head=16,
    n_ctx=128,  # > 101, the length of a prefix-matching sequence
    d_vocab=50,
    attn_only=True,
    act_fn="relu",
    normalization_type="LN",
    seed=0,
)


@pytest.fixture
def make_model() -> Callable[..., HookedTransformer]:
    """Factory: `make_model(**overrides)` -> a tiny model, `TINY` updated by the overrides."""

    def make(**overrides) -> HookedTransformer:
        with warnings.catch_warnings():
            # TransformerLens 3.x warns that HookedTransformer is deprecated in favour of
            # TransformerBridge; our models are HookedTransformers, so the warning is noise here.
            warnings.simplefilter("ignore", DeprecationWarning)
            return HookedTransformer(HookedTransformerConfig(**{**TINY, **overrides})).eval()

    return make


# A hand-built copier: W_E W_V W_O W_U = +-3 I on a small vocabulary (`set_ov_circuit`)
D_VOCAB, D_MODEL, D_HEAD = 8, 16, 8


def orthonormal_rows_orthogonal_to_ones(n_rows: int, dim: int) -> torch.Tensor:
    """(n_rows, dim) with orthonormal rows summing to zero, so LayerNorm's centring keeps them."""
    generator = torch.Generator().manual_seed(0)
    basis = torch.cat([torch.ones(dim, 1), torch.randn(dim, n_rows, generator=generator)], dim=1)
    q, _ = torch.linalg.qr(basis)
    return q[:, 1:].T


def set_ov_circuit(model, sign: float) -> None:
    """W_E W_V W_O W_U = sign * 3 * identity for every head (W_E's rows q_t are orthonormal)."""
    q = orthonormal_rows_orthogonal_to_ones(D_VOCAB, D_MODEL)  # (d_vocab, d_model)
    with torch.no_grad():
        model.embed.W_E.copy_(q)
        model.unembed.W_U.copy_(3.0 * q.T)
        for block in model.blocks:
            block.attn.W_V.copy_(q.T.expand(model.cfg.n_heads, -1, -1))  # d_head == d_vocab
            block.attn.W_O.copy_(sign * q.expand(model.cfg.n_heads, -1, -1))
