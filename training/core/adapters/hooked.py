"""A `HookedTransformer` as the metric registry measures it, and its config as stored data.

`Probe` (the registry) measures a `fast` model: `fast(tokens, return_patterns=True)` gives the
logits and one attention pattern per layer, `fast.losses_at(tokens, indices)` the losses at a
few context indices, `fast.cfg.n_layers` / `n_heads` the grid. Our training model has these;
`HookedAdapter` gives them to any HookedTransformer (a converted Hugging Face GPT-2 or GPT-NeoX,
a TransformerLens checkpoint), and `as_hooked()` hands the metrics of the circuits tier the
HookedTransformer itself.

An imported run stores its converted weights as a HookedTransformer state dict, and in the
manifest's `model` the config those weights need (`stored_config`): exactly the fields below,
never the whole HookedTransformerConfig (whose derived fields and defaults change between
TransformerLens versions).
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens import HookedTransformer, HookedTransformerConfig

from training.core.model import losses_of

FORMAT = "hooked_transformer"  # manifest.model["format"] of a run stored as HookedTransformer weights

# The HookedTransformerConfig fields an imported model may set; every other field keeps its
# TransformerLens default, which is what the conversions' equality tests were run with.
FIELDS = (
    "n_layers",
    "d_model",
    "n_heads",
    "d_head",
    "n_ctx",
    "d_vocab",
    "d_vocab_out",
    "d_mlp",
    "attn_only",
    "act_fn",
    "eps",
    "normalization_type",
    "positional_embedding_type",
    "rotary_dim",
    "rotary_base",
    "rotary_adjacent_pairs",
    "parallel_attn_mlp",
    "use_attn_scale",
    "scale_attn_by_inverse_layer_idx",
    "original_architecture",
    "default_prepend_bos",
    "tokenizer_prepends_bos",
)
# What the service and the analysis read without building the model (`manifest.model[...]`).
SUMMARY = ("n_layers", "n_heads", "d_model", "d_head", "d_vocab", "attn_only")


class AdapterError(ValueError):
    """A model or checkpoint that cannot be represented faithfully; the message names the field."""


def build_config(fields: dict[str, Any], where: str = "model config") -> HookedTransformerConfig:
    """A HookedTransformerConfig from stored `fields`: unknown fields are refused (by name), no
    weights are initialised (no RNG draw) and nothing is seeded."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise AdapterError(f"{where}: field {unknown[0]!r} is not one a converted model may set ({', '.join(FIELDS)})")
    try:
        return HookedTransformerConfig(**fields, init_weights=False, device="cpu")
    except (AssertionError, TypeError, ValueError) as e:
        raise AdapterError(f"{where}: {e}") from None


def config_fields(cfg: HookedTransformerConfig) -> dict[str, Any]:
    """The stored fields of `cfg` (plain JSON values)."""
    return {name: getattr(cfg, name) for name in FIELDS}


def stored_config(cfg: HookedTransformerConfig, *, probe_ctx: int) -> dict[str, Any]:
    """`manifest.model` of an imported run: the format tag, the summary the service reads, the
    context the analysis measures on (`n_ctx`, at most the model's), and the model's config."""
    return {
        "format": FORMAT,
        **{k: getattr(cfg, k) for k in SUMMARY},
        "n_ctx": min(probe_ctx, cfg.n_ctx),
        "hooked": config_fields(cfg),
    }


def hooked_from_fields(fields: dict[str, Any], state: dict[str, Tensor], where: str = "snapshot") -> HookedTransformer:
    """A HookedTransformer with `state` loaded strictly (no parameter missing or extra)."""
    cfg = build_config(fields, where)
    with torch.random.fork_rng(devices=[]):  # belt and braces: building draws nothing, and may not
        model = HookedTransformer(cfg, move_to_device=False)
    missing, unexpected = model.load_state_dict(state, strict=False)
    buffers = {name for name, _ in model.named_buffers()}
    missing = [k for k in missing if k not in buffers]
    if missing or unexpected:
        raise AdapterError(
            f"{where}: weights do not fit the config: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return model.eval()


class HookedAdapter(nn.Module):
    """A HookedTransformer with the interface `Probe` measures (see the module docstring)."""

    tier = "circuits"  # every registered metric can be measured on it

    def __init__(self, model: HookedTransformer):
        super().__init__()
        self.model = model
        self.cfg = model.cfg
        # Hooks live on the shared model: a pattern read (`run_with_cache`) and a caller's own
        # hooks (an ablation) must not overlap. Callers that hook it hold this lock too (the service).
        self.lock = threading.RLock()

    def as_hooked(self) -> HookedTransformer:
        return self.model

    def forward(
        self, tokens: Int[Tensor, "batch pos"], return_patterns: bool = False
    ) -> Float[Tensor, "batch pos d_vocab"] | tuple[Tensor, list[Tensor]]:
        names = {f"blocks.{layer}.attn.hook_pattern" for layer in range(self.cfg.n_layers)}
        with self.lock:
            if not return_patterns:
                return self.model(tokens)
            logits, cache = self.model.run_with_cache(tokens, names_filter=lambda name: name in names)
        # hook_pattern: (batch, head, query, key), as the training model returns it
        return logits, [cache[f"blocks.{layer}.attn.hook_pattern"] for layer in range(self.cfg.n_layers)]

    def losses_at(
        self, tokens: Int[Tensor, "batch pos"], indices: list[int] | Int[Tensor, "batch index"]
    ) -> Float[Tensor, "batch index"]:
        """Next-token losses at the context `indices` (as `training.core.model.Transformer.losses_at`)."""
        # unembed only the indices read: a 50 k vocabulary makes full logits ~100 MB a context
        with self.lock:
            resid = self.model(tokens, stop_at_layer=self.cfg.n_layers)  # (batch, pos, d_model)
        return losses_of(lambda x: self.model.unembed(self.model.ln_final(x)), resid, tokens, indices)
