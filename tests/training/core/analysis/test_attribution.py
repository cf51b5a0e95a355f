"""Direct logit attribution, copying on behaviour and head ablations on tiny hand-built and random models."""

from __future__ import annotations

import pytest
import torch
from transformer_lens.utilities import get_act_name

from tests.models import random_model
from training.core.analysis.attribution import (
    ablate_heads_loss,
    clean_attention_patterns,
    copying_on_repeats,
    copying_share,
    direct_logit_attribution,
    direct_logit_attribution_per_token,
    head_ablation_effects,
)
from training.core.analysis.loss import per_token_loss
from training.core.hooked import hooked_from_model

from .conftest import D_HEAD, D_MODEL, D_VOCAB, set_ov_circuit


def random_tokens(n_batch: int = 3, n_pos: int = 20, d_vocab: int = 50) -> torch.Tensor:
    return torch.randint(0, d_vocab, (n_batch, n_pos), generator=torch.Generator().manual_seed(0))


def zero_head_output(model, layer: int, head: int) -> None:
    with torch.no_grad():
        model.blocks[layer].attn.W_O[head].zero_()


ARCHITECTURES = [
    dict(normalization_type="LN"),
    dict(normalization_type=None),
    dict(normalization_type="LN", positional_embedding_type="shortformer", attn_only=False, d_mlp=64),
]


@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=["ln", "no-ln", "shortformer-mlp"])
def test_head_attributions_plus_the_other_components_sum_to_the_centred_next_token_logit(make_model, architecture):
    """With ln_final's scale frozen, the logit minus the mean logit splits exactly into heads,
    embeddings, MLPs and biases."""
    model = make_model(initializer_range=0.3, **architecture)
    with torch.no_grad():
        for block in model.blocks:  # nonzero biases, so that leaving them out would show
            block.attn.b_O.normal_(generator=torch.Generator().manual_seed(1))
    tokens = random_tokens()
    logits, cache = model.run_with_cache(tokens)
    nxt = tokens[:, 1:]
    centred = logits - logits.mean(-1, keepdim=True)
    target = centred[:, :-1].gather(-1, nxt[..., None])[..., 0]

    rest = cache["hook_embed"] + model.b_O.sum(0)  # (batch, pos, d_model)
    if model.cfg.positional_embedding_type == "standard":
        rest = rest + cache["hook_pos_embed"]
    if not model.cfg.attn_only:
        rest = rest + sum(cache[get_act_name("mlp_out", layer)] for layer in range(model.cfg.n_layers))
    if model.cfg.normalization_type == "LN":
        rest = (rest - rest.mean(-1, keepdim=True)) / cache["ln_final.hook_scale"] * model.ln_final.w
        rest = rest + model.ln_final.b
    rest_logits = rest[:, :-1] @ model.W_U + model.b_U
    rest_logit = (rest_logits - rest_logits.mean(-1, keepdim=True)).gather(-1, nxt[..., None])[..., 0]

    heads = direct_logit_attribution_per_token(model, tokens)
    assert heads.shape == (3, 19, 2, 2)
    torch.testing.assert_close(heads.sum(dim=(-2, -1)) + rest_logit, target, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(direct_logit_attribution(model, tokens), heads.mean(dim=(0, 1)))


def test_a_head_raising_every_logit_alike_gets_no_attribution(make_model):
    # Issue 12: uncentred, a head writing along a direction that raises every logit alike scored
    # for every token. Here residual dimension 0 unembeds to the same +5 for every token.
    model = make_model(normalization_type=None)
    with torch.no_grad():
        model.W_U[0].fill_(5.0)
        model.blocks[1].attn.W_O[0].zero_()
        model.blocks[1].attn.W_O[0, :, 0] = 1.0  # L1H0 writes only along dimension 0
    tokens = random_tokens()
    logits = model(tokens)
    assert (logits.std(-1) > 0).all()  # other heads still tell tokens apart
    dla = direct_logit_attribution(model, tokens)
    assert dla[1, 0].abs() < 1e-6
    assert (dla.flatten()[[0, 1, 3]].abs() > 1e-4).all()


def test_a_head_with_zero_output_weights_has_zero_attribution(make_model):
    model = make_model()
    zero_head_output(model, 1, 0)
    dla = direct_logit_attribution(model, random_tokens())
    assert dla[1, 0] == 0.0
    assert (dla.flatten()[[0, 1, 3]] != 0).all()


@pytest.mark.parametrize("mode", ["mean", "pattern_preserving"])
def test_ablating_a_head_changes_the_loss_unless_its_output_weights_are_zero(make_model, mode):
    model = make_model(initializer_range=0.3)
    tokens = random_tokens()
    clean = per_token_loss(model, tokens)
    assert not torch.allclose(ablate_heads_loss(model, tokens, [(0, 1)], mode=mode), clean)
    zero_head_output(model, 0, 1)
    clean = per_token_loss(model, tokens)
    torch.testing.assert_close(ablate_heads_loss(model, tokens, [(0, 1)], mode=mode), clean)


def test_pattern_preserving_ablation_of_no_heads_replays_the_clean_run(make_model):
    model = make_model(initializer_range=0.3)
    tokens = random_tokens()
    loss = ablate_heads_loss(model, tokens, [], mode="pattern_preserving")
    torch.testing.assert_close(loss, per_token_loss(model, tokens))


def test_pattern_preserving_ablation_of_a_last_layer_head_is_zero_ablation(make_model):
    """Nothing is downstream of the last layer, so freezing patterns changes nothing."""
    model = make_model(initializer_range=0.3)
    tokens = random_tokens()

    def zero_head(z, hook):
        z[:, :, 1] = 0.0
        return z

    with torch.no_grad():
        expected = model.run_with_hooks(
            tokens, return_type="loss", loss_per_token=True, fwd_hooks=[(get_act_name("z", 1), zero_head)]
        )
    torch.testing.assert_close(ablate_heads_loss(model, tokens, [(1, 1)], mode="pattern_preserving"), expected)


def test_pattern_preserving_ablation_replays_clean_patterns_downstream(make_model):
    """Layer 1 must attend with its clean pattern to the values changed by ablating L0H0; in a
    mean ablation its pattern moves instead."""
    model = make_model(initializer_range=0.3)
    tokens = random_tokens()
    _, clean = model.run_with_cache(tokens)
    seen = {}
    for name in ("v", "pattern", "z"):
        record = lambda act, hook: seen.__setitem__(hook.name, act.detach().clone())  # noqa: E731
        model.hook_dict[get_act_name(name, 1)].add_perma_hook(record)

    ablate_heads_loss(model, tokens, [(0, 0)], mode="pattern_preserving")
    v, z = seen[get_act_name("v", 1)], seen[get_act_name("z", 1)]
    assert not torch.allclose(v, clean[get_act_name("v", 1)])
    replayed = torch.einsum("bhqk,bkhe->bqhe", clean[get_act_name("pattern", 1)], v)
    torch.testing.assert_close(z, replayed)

    ablate_heads_loss(model, tokens, [(0, 0)], mode="mean")
    assert not torch.allclose(seen[get_act_name("pattern", 1)], clean[get_act_name("pattern", 1)])


def test_ablation_rejects_an_unknown_mode(make_model):
    # TypeError: jaxtyping's import hook, when enabled, checks the Literal before our ValueError.
    with pytest.raises((ValueError, TypeError), match="mode"):
        ablate_heads_loss(make_model(), random_tokens(), [(0, 0)], mode="zero")


def test_head_ablation_effects_are_per_head_ablations_minus_clean(make_model):
    model = make_model(initializer_range=0.3)
    zero_head_output(model, 1, 1)
    tokens = random_tokens(n_pos=24)
    effects = head_ablation_effects(model, tokens, mode="mean", icl_late=20, icl_early=2)
    clean = per_token_loss(model, tokens)
    ablated = ablate_heads_loss(model, tokens, [(0, 1)], mode="mean")
    assert effects["delta_loss"].shape == effects["delta_icl"].shape == (2, 2)
    assert effects["per_token_delta"].shape == (2, 2, 3, 23)
    assert effects["clean_loss"].item() == pytest.approx(clean.mean().item())
    assert effects["delta_loss"][0, 1].item() == pytest.approx((ablated - clean).mean().item(), abs=1e-6)
    icl_change = (ablated - clean)[:, 20] - (ablated - clean)[:, 2]
    assert effects["delta_icl"][0, 1].item() == pytest.approx(icl_change.mean().item(), abs=1e-5)
    assert effects["delta_loss"][1, 1] == 0.0 and effects["delta_icl"][1, 1] == 0.0


def test_pattern_preserving_effects_reuse_one_clean_run_with_the_same_result(make_model):
    model = make_model(initializer_range=0.3)
    tokens = random_tokens(n_pos=24)
    clean, patterns = clean_attention_patterns(model, tokens)
    torch.testing.assert_close(clean, per_token_loss(model, tokens))
    assert sorted(patterns) == [get_act_name("pattern", 0), get_act_name("pattern", 1)]
    effects = head_ablation_effects(model, tokens, mode="pattern_preserving", icl_late=20, icl_early=2)
    for layer, head in [(0, 0), (0, 1), (1, 0)]:
        alone = ablate_heads_loss(model, tokens, [(layer, head)], mode="pattern_preserving")  # its own clean run
        torch.testing.assert_close(effects["per_token_delta"][layer, head], alone - clean)
        reused = ablate_heads_loss(model, tokens, [(layer, head)], mode="pattern_preserving", clean_patterns=patterns)
        torch.testing.assert_close(reused, alone)


@pytest.mark.parametrize("mode", ["mean", "pattern_preserving"])
@pytest.mark.parametrize(
    "options",
    [
        dict(n_layers=2, positional="rotary", qk_pos_layers=1),  # the default suite's models
        dict(n_layers=3, attn_only=False, positional="rotary", smeared_keys=True, qk_pos_layers=1),
        dict(n_layers=2, attn_only=False, positional="shortformer"),
        dict(n_layers=2, layernorm=False, positional="standard"),
        dict(n_layers=1, smeared_keys=True),
    ],
    ids=["rotary-l0", "mlp-smeared-3", "shortformer-mlp", "no-ln", "smeared-1"],
)
def test_ablations_on_the_training_model_equal_those_through_transformer_lens(options, mode):
    """`single_head_ablations` (start at the ablated layer, replay patterns without queries and
    keys) computes what `ablate_heads_loss` does on the HookedTransformer."""
    model = random_model(init_std=0.3, **options)
    tokens = random_tokens(n_pos=24, d_vocab=40)
    fast = head_ablation_effects(model, tokens, mode=mode, icl_late=20, icl_early=2)
    hooked = head_ablation_effects(hooked_from_model(model), tokens, mode=mode, icl_late=20, icl_early=2)
    assert fast["per_token_delta"].abs().amax(dim=(-2, -1)).min() > 1e-3  # every head's ablation does something
    for key in ("per_token_delta", "delta_loss", "delta_icl", "clean_loss", "clean_icl"):
        torch.testing.assert_close(fast[key], hooked[key], atol=1e-4, rtol=1e-4)


def test_ablation_on_the_training_model_rejects_an_unknown_mode():
    with pytest.raises((ValueError, TypeError), match="mode"):
        head_ablation_effects(random_model(), random_tokens(d_vocab=40), mode="zero", icl_late=15, icl_early=2)


def test_copying_share_counts_the_queries_whose_attended_token_is_raised_above_the_mean():
    logits = torch.tensor(
        [
            [3.0, 0.0, 0.0, 0.0],  # attends to token 0, raises it: counts
            [1.0, 1.0, 1.0, 1.0],  # raises every token alike: its token is not above the mean
            [0.0, 2.0, 2.0, 0.0],  # raises others, token 0 sits below the mean
            [0.0, 0.0, 0.5, 0.1],  # token 2 above the mean 0.15: counts
        ]
    )
    attended = torch.tensor([0, 2, 0, 2])
    assert copying_share(logits, attended).item() == pytest.approx(0.0)  # share 1/2 -> 2 * 1/2 - 1
    assert copying_share(logits[[0, 3]], attended[[0, 3]]).item() == 1.0
    assert copying_share(logits[[1, 2]], attended[[1, 2]]).item() == -1.0
    # leading axes are all queries: (batch, query, vocab) scores as the flattened queries
    assert copying_share(logits.view(2, 2, 4), attended.view(2, 2)).item() == pytest.approx(0.0)


def attend_to_previous_token(model) -> None:
    """Every head of every layer attends only to the token before the query (the first to itself),
    as a permanent hook, so the cached patterns are the replaced ones."""

    def one_hot(pattern, hook):
        n = pattern.shape[-1]
        previous = torch.diag(torch.ones(n - 1), -1)
        previous[0, 0] = 1.0
        return previous.expand_as(pattern).clone()

    for layer in range(model.cfg.n_layers):
        model.add_hook(get_act_name("pattern", layer), one_hot, is_permanent=True)


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("normalization_type", ["LN", None])
def test_a_head_whose_ov_circuit_is_plus_or_minus_identity_copies_at_plus_or_minus_one(
    make_model, sign, normalization_type
):
    # one layer: a second one would read the first one's output too (a mix of two tokens)
    model = make_model(
        n_layers=1, d_vocab=D_VOCAB, d_model=D_MODEL, d_head=D_HEAD, normalization_type=normalization_type
    )
    set_ov_circuit(model, sign=sign)
    with torch.no_grad():
        model.pos_embed.W_pos.zero_()  # the residual is the token's embedding alone
    attend_to_previous_token(model)
    g = torch.Generator().manual_seed(0)
    tokens = torch.cat(
        [torch.zeros(3, 1, dtype=torch.long), torch.randint(1, D_VOCAB, (3, 5), generator=g).repeat(1, 3)], 1
    )
    # each head writes +-3 times the previous token's unembedding: only that logit moves
    torch.testing.assert_close(copying_on_repeats(model, tokens, first_query=6), sign * torch.ones(1, 2))


def test_a_head_that_writes_nothing_does_not_copy(make_model):
    model = make_model(d_vocab=D_VOCAB, d_model=D_MODEL, d_head=D_HEAD)
    set_ov_circuit(model, sign=1.0)
    zero_head_output(model, 1, 0)
    tokens = torch.randint(1, D_VOCAB, (2, 13), generator=torch.Generator().manual_seed(0))
    scores = copying_on_repeats(model, tokens, first_query=7)
    assert scores[1, 0].item() == -1.0  # every logit at the mean: never above it
    assert scores.shape == (2, 2) and ((scores >= -1) & (scores <= 1)).all()
