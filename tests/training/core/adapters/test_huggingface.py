"""GPT-2 and GPT-NeoX checkpoints converted to HookedTransformer weights: logits and attention
patterns equal the Hugging Face model's within 1e-4, per architecture and option; what cannot
be represented faithfully is refused with the config field named."""

from __future__ import annotations

import pytest
import torch

from tests.training import hf_runs
from training.core.adapters.hooked import AdapterError, HookedAdapter, config_fields, hooked_from_fields
from training.core.adapters.huggingface import convert

TOL = 1e-4

GPT2_OPTIONS = {
    "default": {},
    "gelu": {"activation_function": "gelu"},
    "relu": {"activation_function": "relu"},
    "gelu_pytorch_tanh": {"activation_function": "gelu_pytorch_tanh"},
    "mlp_width": {"n_inner": 48},  # not 4 x width
    "inverse_layer_scale": {"scale_attn_by_inverse_layer_idx": True},
    "no_attn_scale": {"scale_attn_weights": False},
    "untied": {"tie_word_embeddings": False},
    "eps": {"layer_norm_epsilon": 1e-3},
    "three_layers": {"n_layer": 3},
}
NEOX_OPTIONS = {
    "default": {},  # Pythia's: parallel residual, a quarter of each head rotary
    "sequential": {"use_parallel_residual": False},
    "full_rotary": {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0}},
    "half_rotary_base": {
        "rope_parameters": {"rope_type": "default", "rope_theta": 500.0, "partial_rotary_factor": 0.5}
    },
    "relu": {"hidden_act": "relu"},
    "gelu_new": {"hidden_act": "gelu_new"},
    "mlp_width": {"intermediate_size": 40},
    "tied": {"tie_word_embeddings": True},
    "no_bias": {"attention_bias": False},
    "eps": {"layer_norm_eps": 1e-3},
}


def _max_errors(hf_model) -> tuple[float, float]:
    """(max |logit difference|, max |pattern difference|) of the converted model on random tokens."""
    hf_model.eval()
    cfg, state = convert(hf_model.config, hf_model.state_dict())
    converted = HookedAdapter(hooked_from_fields(config_fields(cfg), state))
    tokens = torch.randint(
        0, hf_model.config.vocab_size, (3, hf_runs.N_CTX), generator=torch.Generator().manual_seed(1)
    )
    with torch.no_grad():
        out = hf_model(tokens, output_attentions=True)
        logits, patterns = converted(tokens, return_patterns=True)
    assert len(patterns) == len(out.attentions)
    pattern_error = max((a - b).abs().max().item() for a, b in zip(out.attentions, patterns))
    return (out.logits - logits).abs().max().item(), pattern_error


def _randomise_norms(model) -> None:
    # LayerNorm weights start at 1 and biases at 0: perturb them so that a conversion that
    # dropped or swapped one would show
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name or "layernorm" in name or "layer_norm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)


@pytest.mark.parametrize("option", list(GPT2_OPTIONS))
def test_gpt2_conversion_equals_the_hugging_face_model(option):
    model = hf_runs.model("gpt2", seed=3, **GPT2_OPTIONS[option])
    _randomise_norms(model)
    logit_error, pattern_error = _max_errors(model)
    assert logit_error < TOL and pattern_error < TOL


@pytest.mark.parametrize("option", list(NEOX_OPTIONS))
def test_neox_conversion_equals_the_hugging_face_model(option):
    model = hf_runs.model("gpt_neox", seed=3, **NEOX_OPTIONS[option])
    _randomise_norms(model)
    logit_error, pattern_error = _max_errors(model)
    assert logit_error < TOL and pattern_error < TOL


def test_a_saved_checkpoint_without_its_tied_output_weights_converts(tmp_path):
    from training.core.checkpoints import read_hf_folder

    model = hf_runs.model("gpt2", seed=1)
    model.save_pretrained(str(tmp_path))  # safetensors, lm_head.weight left out (tied)
    config, state = read_hf_folder(tmp_path)
    assert "lm_head.weight" not in state
    cfg, converted = convert(config, state)
    assert torch.equal(converted["unembed.W_U"], model.lm_head.weight.T)


@pytest.mark.parametrize(
    ("arch", "options", "field"),
    [
        ("gpt_neox", {"rope_parameters": {"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.3}},
         "partial_rotary_factor"),
        ("gpt_neox", {"rope_parameters": {"rope_type": "linear", "rope_theta": 1e4, "factor": 2.0,
                                          "partial_rotary_factor": 0.25}}, "rope_type"),
        ("gpt_neox", {"hidden_act": "gelu_10"}, "hidden_act"),
        ("gpt2", {"activation_function": "quick_gelu"}, "activation_function"),
        ("gpt2", {"add_cross_attention": True}, "add_cross_attention"),
    ],
)  # fmt: skip
def test_what_cannot_be_represented_faithfully_is_refused_naming_the_field(arch, options, field):
    config = hf_runs.config(arch, **options).to_dict()
    with pytest.raises(AdapterError, match=field):
        convert(config, {})


def test_another_architecture_or_remote_code_is_refused():
    with pytest.raises(AdapterError, match="model_type.*'llama' is not supported"):
        convert({"model_type": "llama"}, {})
    with pytest.raises(AdapterError, match="trust_remote_code"):
        convert({"model_type": "gpt2", "auto_map": {"AutoModelForCausalLM": "modeling.MyGPT"}}, {})
    with pytest.raises(AdapterError, match="architectures"):
        convert(hf_runs.config("gpt2").to_dict() | {"architectures": ["GPT2ForSequenceClassification"]}, {})


def test_a_missing_tensor_is_named():
    model = hf_runs.model("gpt2", seed=1)
    state = {k: v for k, v in model.state_dict().items() if k != "transformer.h.1.mlp.c_fc.bias"}
    with pytest.raises(AdapterError, match=r"transformer\.h\.1\.mlp\.c_fc\.bias"):
        convert(model.config, state)
