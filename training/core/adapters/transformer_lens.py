"""TransformerLens checkpoints: a HookedTransformer state dict with its config file.

TransformerLens' toy models and the attention-only suites of *The Developmental Landscape of
In-Context Learning* are released as `*_{N}.pth` state dicts plus one config (the keyword
arguments of `HookedTransformerConfig`, or its `to_dict()`). `config_from_dict` builds the
config from the fields a converted model may set (`hooked.FIELDS`: shortformer positions,
attention-only, rotary ...); a field outside them is accepted only where it does not change the
forward pass (bookkeeping such as `seed`, `device`, `n_params`) or holds TransformerLens'
default, and refused by name otherwise — never a silently different model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from transformer_lens import HookedTransformerConfig

from training.core.adapters.hooked import FIELDS, AdapterError, build_config

# Fields that say how a model was made or where it runs, not what it computes.
BOOKKEEPING = {
    "model_name",
    "tokenizer_name",
    "seed",
    "device",
    "n_devices",
    "dtype",
    "n_params",
    "initializer_range",
    "init_mode",
    "init_weights",
    "from_checkpoint",
    "checkpoint_index",
    "checkpoint_label_type",
    "checkpoint_value",
    "use_hook_tokens",
    "use_split_qkv_input",
    "use_hook_mlp_in",
    "use_attn_result",
    "use_attn_in",
    "use_attn_scale_hook",
    "default_prepend_bos",
    "tokenizer_prepends_bos",
    "original_architecture",
    "d_vocab_out",
}


def config_from_dict(raw: dict[str, Any], where: str = "config") -> HookedTransformerConfig:
    """The HookedTransformerConfig of a TransformerLens checkpoint's config dict."""
    names = {f.name for f in dataclasses.fields(HookedTransformerConfig)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise AdapterError(f"{where}: field {unknown[0]!r} is not a HookedTransformerConfig field")
    kept = {k: v for k, v in raw.items() if k in FIELDS and k not in ("default_prepend_bos", "tokenizer_prepends_bos")}
    if raw.get("d_vocab_out", -1) not in (-1, raw.get("d_vocab")):
        raise AdapterError(f"{where}: field 'd_vocab_out' differs from 'd_vocab' (an output vocabulary of its own)")
    kept.pop("d_vocab_out", None)
    kept["default_prepend_bos"] = False
    cfg = build_config(kept, where)
    # Every other field must be what the rebuilt config has (its default, or what TransformerLens
    # derives from the stored fields, such as attn_scale): otherwise the model would differ.
    for key, value in raw.items():
        if key in FIELDS or key in BOOKKEEPING:
            continue
        if not _same(value, getattr(cfg, key)):
            raise AdapterError(f"{where}: field {key!r} = {value!r} is not supported (only {getattr(cfg, key)!r})")
    return cfg


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays, tensors: compare as text
        return repr(a) == repr(b)
