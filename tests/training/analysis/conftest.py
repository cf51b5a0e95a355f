"""Tiny seeded HookedTransformers for the analysis tests (built in well under a second)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
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
