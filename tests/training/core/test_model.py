"""The training model equals its TransformerLens twin for every architecture option."""

import itertools

import pytest
import torch

from tests.models import random_model
from training.core.config import ConfigError, ModelConfig
from training.core.hooked import hooked_from_model
from training.core.model import Transformer, next_token_loss, smear_keys

OPTIONS = [
    dict(n_layers=n, attn_only=a, layernorm=ln, positional=pos, smeared_keys=sm)
    for n, a, ln, pos, sm in itertools.product(
        [1, 2], [True, False], [True, False], ["standard", "shortformer"], [False, True]
    )
] + [
    dict(n_layers=6, attn_only=True, layernorm=True, positional="standard", smeared_keys=False),
    dict(n_layers=3, attn_only=True, layernorm=True, positional="shortformer", smeared_keys=True, qk_pos_layers=1),
    dict(n_layers=2, attn_only=False, layernorm=False, positional="shortformer", smeared_keys=False, qk_pos_layers=1),
    dict(n_layers=2, attn_only=True, layernorm=True, positional="rotary", smeared_keys=False),
    dict(n_layers=3, attn_only=False, layernorm=True, positional="rotary", smeared_keys=True, qk_pos_layers=1),
    dict(n_layers=2, attn_only=True, layernorm=True, positional="rotary", smeared_keys=False, qk_pos_layers=1),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_hooked_transformer_logits_and_patterns_equal_training_model(options):
    model = random_model(**options)
    tokens = torch.randint(0, 40, (3, 24), generator=torch.Generator().manual_seed(1))
    hooked = hooked_from_model(model)
    logits, patterns = model(tokens, return_patterns=True)
    hooked_logits, cache = hooked.run_with_cache(tokens)
    assert (logits - hooked_logits).abs().max().item() <= 1e-4
    assert (model(tokens) - logits).abs().max().item() <= 1e-4  # fused attention path agrees
    for layer, pattern in enumerate(patterns):
        assert torch.allclose(pattern, cache["pattern", layer], atol=1e-5)


def test_hooked_model_keeps_smear_hook_after_reset_hooks():
    model = random_model(n_layers=1, smeared_keys=True)
    hooked = hooked_from_model(model)
    tokens = torch.randint(0, 40, (2, 24))
    hooked.reset_hooks()
    assert torch.allclose(hooked(tokens), model(tokens), atol=1e-4)


def test_smear_keys_keeps_first_key_and_mixes_previous():
    k = torch.arange(12.0).reshape(1, 4, 3)  # (head, pos, d_head)
    out = smear_keys(k, torch.zeros(1, 1, 1))  # sigmoid(0) = 0.5: the mean of k_j and k_{j-1}
    assert torch.equal(out[0, 0], k[0, 0])
    assert torch.allclose(out[0, 2], (k[0, 2] + k[0, 1]) / 2)
    assert torch.allclose(smear_keys(k, torch.full((1, 1, 1), 50.0)), k)  # sigmoid -> 1: unchanged
    prev_only = smear_keys(k, torch.full((1, 1, 1), -50.0))
    assert torch.allclose(prev_only[0, 1:], k[0, :-1])  # sigmoid -> 0: the previous key


def test_smeared_keys_change_the_output_and_alpha_gets_gradient():
    model = random_model(n_layers=1, smeared_keys=True)
    tokens = torch.randint(0, 40, (2, 24))
    model(tokens).logsumexp(-1).mean().backward()
    assert model.blocks[0].attn.smear_alpha.grad.abs().sum() > 0
    plain = random_model(n_layers=1, smeared_keys=False)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if "smear" not in k})
    assert not torch.allclose(plain(tokens), model(tokens))


def test_smear_init_sets_sigmoid_alpha():
    cfg = ModelConfig(n_layers=1, smeared_keys=True, smear_init=0.8, d_vocab=10)
    assert torch.allclose(torch.sigmoid(Transformer(cfg).blocks[0].attn.smear_alpha), torch.tensor(0.8))


def test_shortformer_keeps_positions_out_of_the_residual_stream():
    model = random_model(n_layers=1, positional="shortformer")
    hooked = hooked_from_model(model)
    tokens = torch.full((1, 24), 3)
    _, cache = hooked.run_with_cache(tokens)
    resid = cache["resid_pre", 0][0]
    assert torch.allclose(resid, resid[0].expand_as(resid))  # same token everywhere, no position


@pytest.mark.parametrize(
    "bad, key",
    [
        (dict(n_layers=7), "model.n_layers"),
        (dict(smear_init=1.0), "model.smear_init"),
        (dict(qk_pos_layers=1), "model.qk_pos_layers"),
    ],
)
def test_invalid_model_config_names_the_field(bad, key):
    with pytest.raises(ConfigError, match=key):
        ModelConfig(**bad)


@pytest.mark.parametrize("positional", ["standard", "shortformer", "rotary"])
def test_losses_at_some_indices_equal_the_full_losses_there(positional):
    model = random_model(n_layers=2, positional=positional)
    tokens = torch.randint(0, 40, (3, 24), generator=torch.Generator().manual_seed(0))
    indices = [0, 4, 5, 22]
    full = next_token_loss(model(tokens), tokens)
    assert torch.allclose(model.losses_at(tokens, indices), full[:, indices], atol=1e-5)


@pytest.mark.parametrize("positional", ["standard", "shortformer", "rotary"])
def test_losses_at_indices_of_each_context_equal_the_full_losses_there(positional):
    model = random_model(n_layers=2, positional=positional)
    tokens = torch.randint(0, 40, (3, 24), generator=torch.Generator().manual_seed(0))
    indices = torch.tensor([[0, 5, 22], [3, 3, 9], [22, 1, 7]])
    full = next_token_loss(model(tokens), tokens)
    assert torch.allclose(model.losses_at(tokens, indices), full.gather(1, indices), atol=1e-5)


@pytest.mark.parametrize("options", OPTIONS[-3:], ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_running_from_a_layers_input_or_replaying_the_clean_patterns_gives_the_clean_run(options):
    """`run_from` (what the ablations start from) and `replay` change nothing on their own."""
    model = random_model(**options)
    tokens = torch.randint(0, 40, (3, 24), generator=torch.Generator().manual_seed(1))
    streams = []
    with torch.no_grad():
        final, patterns = model.run_from(model.embed_tokens(tokens), 0, return_patterns=True, streams=streams)
        assert torch.allclose(final, model.residual(tokens)[0], atol=1e-5)
        assert len(streams) == model.cfg.n_layers
        for layer in range(model.cfg.n_layers):
            later, _ = model.run_from(streams[layer], layer)
            assert torch.allclose(later, final, atol=1e-5)
            replayed, _ = model.run_from(streams[layer], layer, replay=patterns)
            assert torch.allclose(replayed, final, atol=1e-5)
        # a replayed pattern is what the layer attends with: uniform attention moves the output
        uniform = [torch.ones_like(p).tril() / torch.ones_like(p).tril().sum(-1, keepdim=True) for p in patterns]
        assert not torch.allclose(model.run_from(streams[0], 0, replay=uniform)[0], final, atol=1e-3)
