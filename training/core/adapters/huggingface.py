"""Hugging Face GPT-2 and GPT-NeoX (Pythia) checkpoints of any size as HookedTransformer weights.

`convert(hf_config, state)` maps a checkpoint's config to an explicitly built
`HookedTransformerConfig` and its state dict through TransformerLens' own weight conversion
functions (`convert_gpt2_weights`, `convert_neox_weights`); it never calls `from_pretrained`,
which needs the hub and knows only the official sizes. The conversion functions read the
weights by attribute (`gpt2.transformer.h[0].attn.c_attn.weight`); `_Weights` answers those
reads from the checkpoint's state dict, so no Hugging Face model is built (no second copy of
the weights, no initialisation, no RNG draw).

What the converted model cannot compute exactly as the Hugging Face one does is refused, with
an `AdapterError` naming the config field: another architecture, an activation TransformerLens
lacks, rotary scaling, a rotary width that is not a whole even number of dimensions, cross
attention. Logits and attention patterns equal the Hugging Face model's within 1e-4 for every
option accepted here (tests/training/core/adapters/test_huggingface.py).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from transformer_lens import HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights
from transformer_lens.pretrained.weight_conversions.neox import convert_neox_weights

from training.core.adapters.hooked import AdapterError, build_config

# Hugging Face activation name -> TransformerLens' (the same function under the same name)
ACTIVATIONS = {"gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "relu", "silu"}
ARCHITECTURES = {"gpt2": "GPT2LMHeadModel", "gpt_neox": "GPTNeoXForCausalLM"}


def _get(hf: Any, name: str, default: Any = None) -> Any:
    return hf.get(name, default) if isinstance(hf, dict) else getattr(hf, name, default)


def _require(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise AdapterError(f"config field {field!r}: {message}")


def check_architecture(hf: Any) -> str:
    """The checkpoint's `model_type` if it is one we convert; AdapterError naming the field otherwise."""
    if _get(hf, "auto_map"):
        raise AdapterError(
            "config field 'auto_map': the model needs trust_remote_code (its own Python code); "
            "inductionscope runs no code from a checkpoint"
        )
    model_type = _get(hf, "model_type")
    _require(
        model_type in ARCHITECTURES,
        "model_type",
        f"{model_type!r} is not supported; GPT-2 ('gpt2') and GPT-NeoX / Pythia ('gpt_neox') are",
    )
    archs = _get(hf, "architectures") or [ARCHITECTURES[model_type]]
    _require(
        ARCHITECTURES[model_type] in archs,
        "architectures",
        f"{archs} has no language-model head; a {ARCHITECTURES[model_type]} checkpoint is needed",
    )
    return model_type


def _activation(hf: Any, field: str) -> str:
    act = _get(hf, field)
    _require(
        act in ACTIVATIONS, field, f"{act!r} is not one TransformerLens computes ({', '.join(sorted(ACTIVATIONS))})"
    )
    return act


def _heads(d_model: int, n_heads: int, field: str) -> int:
    _require(d_model % n_heads == 0, field, f"width {d_model} is not a multiple of {n_heads} heads")
    return d_model // n_heads


def gpt2_config(hf: Any) -> HookedTransformerConfig:
    """The HookedTransformerConfig of a GPT-2 checkpoint (`GPT2Config` or its dict)."""
    _require(not _get(hf, "add_cross_attention", False), "add_cross_attention", "cross attention is not supported")
    d_model, n_heads = _get(hf, "n_embd"), _get(hf, "n_head")
    return build_config(
        {
            "n_layers": _get(hf, "n_layer"),
            "d_model": d_model,
            "n_heads": n_heads,
            "d_head": _heads(d_model, n_heads, "n_head"),
            "d_mlp": _get(hf, "n_inner") or 4 * d_model,  # n_inner None: GPT-2's 4 x width
            "n_ctx": _get(hf, "n_positions"),
            "d_vocab": _get(hf, "vocab_size"),
            "act_fn": _activation(hf, "activation_function"),
            "eps": _get(hf, "layer_norm_epsilon", 1e-5),
            "normalization_type": "LN",
            "positional_embedding_type": "standard",
            "use_attn_scale": _get(hf, "scale_attn_weights", True),
            "scale_attn_by_inverse_layer_idx": _get(hf, "scale_attn_by_inverse_layer_idx", False),
            "original_architecture": "GPT2LMHeadModel",
            "default_prepend_bos": False,  # the probes decide about BOS (the importer's probe inputs)
        },
        "GPT-2 config",
    )


def _rope(hf: Any) -> tuple[float, float]:
    """(rope_theta, partial_rotary_factor) from a transformers-5 `rope_parameters` or the
    older `rotary_emb_base` / `rotary_pct` fields."""
    rope = _get(hf, "rope_parameters") or {}
    rope_type = rope.get("rope_type", "default")
    _require(rope_type == "default", "rope_parameters.rope_type", f"{rope_type!r} scaling is not supported")
    theta = rope.get("rope_theta", _get(hf, "rotary_emb_base", 10000.0))
    pct = rope.get("partial_rotary_factor", _get(hf, "rotary_pct", 0.25))
    return float(theta), float(pct)


def neox_config(hf: Any) -> HookedTransformerConfig:
    """The HookedTransformerConfig of a GPT-NeoX / Pythia checkpoint (`GPTNeoXConfig` or its dict)."""
    d_model, n_heads = _get(hf, "hidden_size"), _get(hf, "num_attention_heads")
    d_head = _heads(d_model, n_heads, "num_attention_heads")
    theta, pct = _rope(hf)
    rotary = pct * d_head
    # Hugging Face rotates int(pct * d_head) dimensions, TransformerLens round(pct * d_head):
    # only a whole, even number is the same rotation in both.
    _require(
        rotary == int(rotary) and int(rotary) % 2 == 0 and 0 < rotary <= d_head,
        "rope_parameters.partial_rotary_factor",
        f"{pct} x head width {d_head} = {rotary:g} rotary dimensions; a whole even number is needed",
    )
    return build_config(
        {
            "n_layers": _get(hf, "num_hidden_layers"),
            "d_model": d_model,
            "n_heads": n_heads,
            "d_head": d_head,
            "d_mlp": _get(hf, "intermediate_size"),
            "n_ctx": _get(hf, "max_position_embeddings"),
            "d_vocab": _get(hf, "vocab_size"),
            "act_fn": _activation(hf, "hidden_act"),
            "eps": _get(hf, "layer_norm_eps", 1e-5),
            "normalization_type": "LN",
            "positional_embedding_type": "rotary",
            "rotary_dim": int(rotary),
            "rotary_base": theta,
            "rotary_adjacent_pairs": False,  # GPT-NeoX pairs dimension i with i + rotary_dim / 2
            "parallel_attn_mlp": bool(_get(hf, "use_parallel_residual", True)),
            "original_architecture": "GPTNeoXForCausalLM",
            "default_prepend_bos": False,
        },
        "GPT-NeoX config",
    )


class _Weights:
    """Attribute reads of a Hugging Face module tree answered from a flat state dict:
    `_Weights(state).transformer.h[0].ln_1.weight` is `state["transformer.h.0.ln_1.weight"]`."""

    def __init__(self, state: dict[str, Tensor], prefix: str = ""):
        self._state, self._prefix = state, prefix

    def __getattr__(self, name: str):
        key = self._prefix + name
        if key in self._state:
            return self._state[key]
        if not any(k.startswith(key + ".") for k in self._state):
            raise AdapterError(f"checkpoint has no tensor {key!r} (nor any under it)")
        return _Weights(self._state, key + ".")

    def __getitem__(self, index: int):
        return getattr(self, str(index))


def _normalise(model_type: str, hf: Any, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The checkpoint's tensors as float32, under the names the conversion reads: tied output
    weights filled in, the older `embed_out` named `lm_head`, absent NeoX biases as zeros."""
    state = {k: v.float() for k, v in state.items()}
    if model_type == "gpt2":
        if "lm_head.weight" not in state and "transformer.wte.weight" in state:
            _require(
                _get(hf, "tie_word_embeddings", True),
                "tie_word_embeddings",
                "False, but the checkpoint has no lm_head.weight",
            )
            state["lm_head.weight"] = state["transformer.wte.weight"]
        return state
    if "embed_out.weight" in state:
        state["lm_head.weight"] = state.pop("embed_out.weight")
    if "lm_head.weight" not in state and _get(hf, "tie_word_embeddings", False) and "gpt_neox.embed_in.weight" in state:
        state["lm_head.weight"] = state["gpt_neox.embed_in.weight"]
    if not _get(hf, "attention_bias", True):  # no biases: the same model with biases of zero
        d_model = _get(hf, "hidden_size")
        for layer in range(_get(hf, "num_hidden_layers")):
            prefix = f"gpt_neox.layers.{layer}.attention"
            state.setdefault(f"{prefix}.query_key_value.bias", torch.zeros(3 * d_model))
            state.setdefault(f"{prefix}.dense.bias", torch.zeros(d_model))
    return state


def hooked_config(hf: Any) -> HookedTransformerConfig:
    """The HookedTransformerConfig of a GPT-2 or GPT-NeoX checkpoint's config."""
    model_type = check_architecture(hf)
    return gpt2_config(hf) if model_type == "gpt2" else neox_config(hf)


def convert(hf: Any, state: dict[str, Tensor]) -> tuple[HookedTransformerConfig, dict[str, Tensor]]:
    """(HookedTransformerConfig, HookedTransformer state dict) of a Hugging Face checkpoint:
    its config (`PretrainedConfig` or the dict of its config.json) and its tensors."""
    model_type = check_architecture(hf)
    cfg = gpt2_config(hf) if model_type == "gpt2" else neox_config(hf)
    weights = _Weights(_normalise(model_type, hf, state))
    converter = convert_gpt2_weights if model_type == "gpt2" else convert_neox_weights
    converted = converter(weights, cfg)
    if "unembed.b_U" not in converted:  # GPT-2 has no output bias; HookedTransformer has one
        converted["unembed.b_U"] = torch.zeros(cfg.d_vocab)
    return cfg, {k: v.detach().contiguous() for k, v in converted.items()}
