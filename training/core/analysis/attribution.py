"""Direct logit attribution, copying on behaviour, and head ablations: what heads do to the logits.

All runs on a HookedTransformer go through `run_with_cache` / `run_with_hooks`, which keep the
model's permanent hooks (e.g. smeared keys) and remove only the hooks added here. The head
ablations also run on the training model itself (`single_head_ablations`), tested equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens import HookedTransformer
from transformer_lens.hook_points import HookPoint
from transformer_lens.utilities import get_act_name

from training.core.analysis.loss import icl_score, per_token_loss
from training.core.model import Transformer, next_token_loss

AblationMode = Literal["mean", "pattern_preserving"]


def _check_mode(mode: str) -> None:
    if mode not in ("mean", "pattern_preserving"):
        raise ValueError(f"mode must be 'mean' or 'pattern_preserving', got {mode!r}")


def direct_logit_attribution_per_token(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "batch pos-1 layer head"]:
    """Each head's direct contribution to the logit of the actual next token, mean-centred over
    the vocabulary: to that logit minus the mean of all the logits.

    The softmax ignores what raises every logit alike, so only the centred logit says how much a
    head favours the next token (issue 12: uncentred, a head that writes along the mean
    unembedding direction scored large for every token). The residual stream is a sum of the components' outputs (Elhage et al. 2021, "Residual
    stream" and the path expansion), so the logit splits into one term per head; Olsson et al.
    2022 define no such score; we add it to show which heads predict the next token. A head's
    output at a position is z @ W_O (its share of `hook_attn_out`, without b_O). It reaches the
    logits through `ln_final`, whose scale 1/sigma we freeze at the value cached on the clean
    run: with a frozen scale the final LayerNorm is linear, so the heads' attributions plus
    those of the embeddings, biases (b_O, ln_final.b, b_U) and MLPs sum exactly to the centred
    logit. LayerNorm's centring and gain w are applied as in the model. Index i is the logit of
    tokens[:, i+1] predicted at position i.
    """
    names = {get_act_name("z", layer) for layer in range(model.cfg.n_layers)} | {"ln_final.hook_scale"}
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
        w_centred = model.W_U - model.W_U.mean(-1, keepdim=True)  # logit of a token minus the mean logit
        w_next = einops.rearrange(w_centred[:, tokens[:, 1:]], "d b p -> b p d")  # (batch, pos-1, d_model)
        per_layer = [
            einops.einsum(
                head_outputs_at_unembed(model, cache, layer, slice(None, -1)), w_next, "b p h d, b p d -> b p h"
            )
            for layer in range(model.cfg.n_layers)
        ]
    return torch.stack(per_layer, dim=-2)


def head_outputs_at_unembed(
    model: HookedTransformer, cache, layer: int, positions: slice
) -> Float[Tensor, "batch pos head d_model"]:
    """Each head's output z @ W_O (its share of `hook_attn_out`, without b_O) at `positions`,
    through `ln_final` with its scale 1/sigma frozen at the value in `cache` (centring and the
    gain w as in the model): multiplied by W_U, the head's direct share of the logits there.
    `cache` holds `blocks.{layer}.attn.hook_z` and, if the model has one, `ln_final.hook_scale`."""
    normalization = model.cfg.normalization_type
    z = cache[get_act_name("z", layer)][:, positions]  # (batch, pos, head, d_head)
    out = einops.einsum(z, model.W_O[layer], "b p h e, h e d -> b p h d")
    if normalization in ("LN", "LNPre"):
        out = out - out.mean(-1, keepdim=True)
    if "ln_final.hook_scale" in cache:
        out = out / cache["ln_final.hook_scale"][:, positions, None]  # scale: (batch, pos, 1)
    if normalization in ("LN", "RMS"):
        out = out * model.ln_final.w
    return out


def direct_logit_attribution(model: HookedTransformer, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "layer head"]:
    """`direct_logit_attribution_per_token` averaged over the batch and positions."""
    return direct_logit_attribution_per_token(model, tokens).mean(dim=(0, 1))


def copying_share(head_logits: Float[Tensor, "*query vocab"], attended: Int[Tensor, "*query"]) -> Float[Tensor, ""]:
    """Copying as the paper words it (Olsson et al. 2022, "Key concepts": an induction head's
    "output increases the logit corresponding to the attended-to token"), scored on behaviour.

    `head_logits` is one head's direct contribution to the logits at each query, `attended` the
    token it attends to most there. Mean-centred over the vocabulary (the softmax ignores what
    raises every logit alike), the attended token's logit is above 0 at a share s of the
    queries; the score is 2s - 1, in [-1, 1]: +1 for a head that always raises the token it
    reads, -1 for one that always lowers it, about 0 for a head whose output has nothing to do
    with what it attends to. The paper's own evaluator is in an appendix we could not read; the
    share and its map to [-1, 1] are ours (experiments/LOG.md, "Copying measured on behaviour").
    """
    centred = head_logits - head_logits.mean(-1, keepdim=True)
    own = centred.gather(-1, attended[..., None])[..., 0]
    return 2 * (own > 0).float().mean() - 1


def copying_on_repeats(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"], *, first_query: int
) -> Float[Tensor, "layer head"]:
    """`copying_share` of every head on repeated random tokens (the prefix-matching sequences:
    BOS, then random tokens repeated), at the queries from `first_query` on (the repeats after
    the first, where an induction head reads the token that comes next).

    A head's logits are its direct path to the unembedding (`head_outputs_at_unembed` @ W_U);
    the token it attends to is the one at the key of largest attention. Runs with
    `run_with_cache`, so permanent hooks (smeared keys) shape the patterns as in the model.
    """
    n_layers = model.cfg.n_layers
    names = {get_act_name(kind, layer) for kind in ("z", "pattern") for layer in range(n_layers)}
    names.add("ln_final.hook_scale")
    queries = slice(first_query, None)
    tokens = tokens.to(model.W_U.device)  # gathered with the patterns' argmax, on the model's device
    scores = torch.zeros(n_layers, model.cfg.n_heads)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
        for layer in range(n_layers):
            out = head_outputs_at_unembed(model, cache, layer, queries)  # (batch, query, head, d_model)
            key = cache[get_act_name("pattern", layer)][:, :, queries].argmax(-1)  # (batch, head, query)
            attended = tokens.gather(1, key.flatten(1)).view_as(key)
            for head in range(model.cfg.n_heads):  # one head at a time: (batch, query, vocab) at most
                scores[layer, head] = copying_share(out[:, :, head] @ model.W_U, attended[:, head])
    return scores


def ablate_heads_loss(
    model: HookedTransformer,
    tokens: Int[Tensor, "batch pos"],
    heads: list[tuple[int, int]],
    *,
    mode: AblationMode,
    clean_patterns: dict[str, Tensor] | None = None,
) -> Float[Tensor, "batch pos-1"]:
    """Per-token next-token loss (nats) with the given heads removed.

    - "mean" (full ablation): each head's z (`hook_z`) is replaced by its mean over the batch
      and positions of these tokens, so the head writes a constant; later heads see the change
      in both their attention patterns and their values.
    - "pattern_preserving" (Olsson et al. 2022, ablations of attention-only models): a clean run
      records every layer's attention pattern; the ablated run replays all of them
      (`hook_pattern` replaced) and sets the heads' z to zero. Later heads keep attending where
      they did, so only what flows through values and the residual stream changes.
    The two modes differ in what replaces the head (its mean vs nothing) as well as in whether
    patterns may move; the paper does not pin down the first choice for its ablations.
    `clean_patterns` (`clean_attention_patterns` of these tokens) skips the clean run, for
    callers that ablate many heads of one model on the same tokens.
    """
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def ablate_z(z: Tensor, hook: HookPoint, heads_here: list[int]) -> Tensor:
        z = z.clone()  # (batch, pos, head, d_head)
        if mode == "mean":
            z[:, :, heads_here] = z[:, :, heads_here].mean(dim=(0, 1), keepdim=True)
        else:
            z[:, :, heads_here] = 0.0
        return z

    _check_mode(mode)
    hooks = [(get_act_name("z", layer), lambda z, hook, hs=hs: ablate_z(z, hook, hs)) for layer, hs in by_layer.items()]
    if mode == "pattern_preserving":
        if clean_patterns is None:
            _, clean_patterns = clean_attention_patterns(model, tokens)
        hooks += [(name, lambda pattern, hook, clean=clean: clean) for name, clean in sorted(clean_patterns.items())]
    with torch.no_grad():
        return model.run_with_hooks(tokens, return_type="loss", loss_per_token=True, fwd_hooks=hooks)


def clean_attention_patterns(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"]
) -> tuple[Float[Tensor, "batch pos-1"], dict[str, Tensor]]:
    """One clean run: the per-token loss and every layer's attention pattern, by hook name
    (`blocks.{layer}.attn.hook_pattern`, each `[batch head query key]`)."""
    names = {get_act_name("pattern", layer) for layer in range(model.cfg.n_layers)}
    with torch.no_grad():
        loss, cache = model.run_with_cache(
            tokens, return_type="loss", loss_per_token=True, names_filter=lambda name: name in names
        )
    return loss, {name: cache[name] for name in names}


def head_ablation_effects(
    model: HookedTransformer | Transformer,
    tokens: Int[Tensor, "batch pos"],
    *,
    mode: AblationMode,
    icl_late: int,
    icl_early: int,
    icl_width: int = 0,
) -> dict[str, Tensor]:
    """Effect of ablating each head alone (`ablate_heads_loss`) on mean loss and ICL score.

    Returns "delta_loss" and "delta_icl" `[layer head]` (ablated minus clean; a positive
    delta_loss means the head helps, a positive delta_icl means it helps in-context learning,
    since the ICL score is more negative the more the context is used), "clean_loss" and
    "clean_icl" (0-d tensors) and "per_token_delta" `[layer head batch pos-1]`, the per-token
    loss changes that `trajectory.ablation_alignment` compares with the phase change.

    On the training model (`Transformer`) the same ablations run without TransformerLens
    (`single_head_ablations`: the same losses to float rounding, ~3x faster, which is most of
    what the analysis of a snapshot costs).
    """
    if isinstance(model, Transformer):
        clean, ablated = single_head_ablations(model, tokens, mode)
    else:
        if mode == "pattern_preserving":  # one clean run serves every head's ablation
            clean, patterns = clean_attention_patterns(model, tokens)
        else:
            clean, patterns = per_token_loss(model, tokens), None

        def ablated(layer: int, head: int) -> Tensor:
            return ablate_heads_loss(model, tokens, [(layer, head)], mode=mode, clean_patterns=patterns)

    clean_icl = icl_score(clean, late=icl_late, early=icl_early, width=icl_width)
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    per_token_delta = clean.new_zeros(n_layers, n_heads, *clean.shape)
    delta_icl = clean.new_zeros(n_layers, n_heads)
    for layer in range(n_layers):
        for head in range(n_heads):
            loss = ablated(layer, head)
            per_token_delta[layer, head] = loss - clean
            delta_icl[layer, head] = icl_score(loss, late=icl_late, early=icl_early, width=icl_width) - clean_icl
    return {
        "delta_loss": per_token_delta.mean(dim=(-2, -1)),
        "delta_icl": delta_icl,
        "clean_loss": clean.mean(),
        "clean_icl": torch.tensor(clean_icl, dtype=clean.dtype),
        "per_token_delta": per_token_delta,
    }


def single_head_ablations(
    model: Transformer, tokens: Int[Tensor, "batch pos"], mode: AblationMode
) -> tuple[Float[Tensor, "batch pos-1"], Callable[[int, int], Float[Tensor, "batch pos-1"]]]:
    """`ablate_heads_loss` of one head at a time, on the training model: (the clean per-token
    loss, a function of (layer, head) giving the loss with that head ablated).

    The same ablations, computed differently: one clean run keeps each layer's input and
    pattern; an ablation of a layer-L head starts from the clean input to layer L (nothing
    before it changes) and, pattern-preserving, attends with the clean patterns instead of
    computing queries and keys. The head's z is its mean over the batch and positions ("mean")
    or zero, as in `ablate_heads_loss`."""
    _check_mode(mode)
    preserve = mode == "pattern_preserving"
    streams: list[Tensor] = []
    with torch.no_grad():
        final, patterns = model.run_from(model.embed_tokens(tokens), 0, return_patterns=preserve, streams=streams)
        clean = next_token_loss(model.unembed_residual(final), tokens)

    def ablated(layer: int, head: int) -> Float[Tensor, "batch pos-1"]:
        def edit(z: Float[Tensor, "batch head pos d_head"]) -> Tensor:
            z = z.clone()
            z[:, head] = 0.0 if preserve else z[:, head].mean(dim=(0, 1), keepdim=True)
            return z

        with torch.no_grad():
            final, _ = model.run_from(
                streams[layer], layer, replay=patterns if preserve else None, edit_z=(layer, edit)
            )
            return next_token_loss(model.unembed_residual(final), tokens)

    return clean, ablated
