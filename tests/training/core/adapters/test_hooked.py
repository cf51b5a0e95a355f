"""`HookedAdapter`: a HookedTransformer with the interface the registry's `Probe` measures."""

from __future__ import annotations

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from training.core.adapters.hooked import AdapterError, HookedAdapter, build_config, config_fields
from training.core.model import next_token_loss


def _model() -> HookedTransformer:
    torch.manual_seed(0)
    cfg = HookedTransformerConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, n_ctx=24, d_vocab=40, act_fn="gelu")
    return HookedTransformer(cfg).eval()


def test_losses_at_equal_the_next_token_losses_at_those_indices():
    adapter = HookedAdapter(_model())
    tokens = torch.randint(0, 40, (3, 24))
    with torch.no_grad():
        want = next_token_loss(adapter(tokens), tokens)[:, [2, 10, 20]]
        got = adapter.losses_at(tokens, [2, 10, 20])
        per_context = torch.tensor([[2, 10, 20], [0, 1, 22], [7, 7, 3]])
        got_each = adapter.losses_at(tokens, per_context)
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(got_each, next_token_loss(adapter(tokens), tokens).gather(1, per_context), atol=1e-5)


def test_patterns_are_one_per_layer_batch_head_query_key():
    adapter = HookedAdapter(_model())
    logits, patterns = adapter(torch.randint(0, 40, (2, 9)), return_patterns=True)
    assert logits.shape == (2, 9, 40) and [p.shape for p in patterns] == [(2, 2, 9, 9)] * 2
    assert adapter.as_hooked().hook_dict["blocks.0.attn.hook_pattern"].fwd_hooks == []  # none left behind


def test_stored_config_round_trips_and_unknown_fields_are_refused():
    fields = config_fields(_model().cfg)
    assert config_fields(build_config(fields)) == fields
    try:
        build_config(fields | {"gated_mlp": True})
    except AdapterError as e:
        assert "'gated_mlp'" in str(e)
    else:
        raise AssertionError("an unknown field was accepted")
