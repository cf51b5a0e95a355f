"""Our own snapshots: the training model (`training.model.Transformer`) is already what `Probe`
measures, and `training.hooked` converts it to a HookedTransformer for the circuits tier."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from training.core.config import ModelConfig
from training.core.model import Transformer


def ours_from_state(model: dict[str, Any], state: dict[str, Tensor]) -> Transformer:
    """The training model of a manifest's `model` fields, with `state` loaded (strict)."""
    fast = Transformer(ModelConfig(**model))
    fast.load_state_dict(state)
    return fast.eval()
