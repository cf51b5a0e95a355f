"""Model adapters: a snapshot, a converted Hugging Face checkpoint or a model in someone else's
training loop, as the metric registry's `Probe` measures it.

    ours               our training model (it is what `Probe` measures already)
    hooked             any HookedTransformer (`HookedAdapter`), and its config as stored data
    huggingface        GPT-2 and GPT-NeoX checkpoints -> HookedTransformer weights
    transformer_lens   TransformerLens state dicts with their config file

`for_probe(manifest.model, state)` builds the right one for a stored snapshot
(`training.core.artifacts.schema.load_models`, the one snapshot loader, calls it).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor


def is_converted(model: dict[str, Any]) -> bool:
    """Whether a manifest's `model` describes HookedTransformer weights (an imported run)."""
    from training.core.adapters.hooked import FORMAT

    return model.get("format") == FORMAT


def for_probe(model: dict[str, Any], state: dict[str, Tensor], where: str = "snapshot"):
    """What `Probe` measures for a stored snapshot: our `Transformer`, or a `HookedAdapter`."""
    if is_converted(model):
        from training.core.adapters.hooked import HookedAdapter, hooked_from_fields

        return HookedAdapter(hooked_from_fields(model["hooked"], state, where))
    from training.core.adapters.ours import ours_from_state

    return ours_from_state(model, state)
