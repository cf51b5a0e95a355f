"""Snapshots as TransformerLens 4 `TransformerBridge`s: `load_bridge(run_dir, step)`.

TransformerLens 4.0 removed `HookedTransformer`; its small from-scratch models are
`TransformerBridge.boot_native(cfg)`, loaded with `convert_tl_checkpoint` from the 3.x
state-dict layout our snapshots use. This module needs TransformerLens 4 and is never imported
by the app (which pins 3.9, see `training.core.hooked`); it runs in a separate environment
(`make setup-tl4`, README "Your own notebook").

The native model has LayerNorm or none, MLPs or none, and learned or rotary positions in every
layer. The rest of our architecture is re-created exactly (logits equal the training model's to
float tolerance, tested for every option) with permanent hooks, which `run_with_cache`,
`run_with_hooks` and `reset_hooks()` keep:
- rotary positions: the native model rotates adjacent pairs of a head's dimensions (Llama),
  ours rotate dimension d with d + d_head/2 (GPT-NeoX, as TransformerLens 3). The d_head axis of
  W_Q, b_Q, W_K and b_K is permuted to match, which changes no score: in the bridge, `hook_q`
  and `hook_k` hold the same values as in training in that permuted order;
- `qk_pos_layers` with rotary positions: for layers at or past it, `hook_q`/`hook_k` rotate
  back by the angle the native model then rotates by, so those layers attend by content alone;
- shortformer positions (learned, added to the queries and keys only): `W_pos` is the bridge's
  positional embedding, a hook on `hook_pos_embed` keeps it out of the residual stream (that
  hook reads zeros), and `hook_q`/`hook_k` add its term (pos @ W_Q, pos @ W_K) in the layers
  that see positions;
- smeared keys: on `hook_k`, the same `smear_keys` function as training (before rotation, as
  in training), with the snapshot's per-head alpha.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import einops
import torch

try:
    from transformer_lens import TransformerBridge
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint
except ImportError as e:  # TransformerLens 3 (the app's pin) has none of these
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = f"transformer-lens {version('transformer-lens')}"
    except PackageNotFoundError:
        found = "no transformer-lens"
    raise ImportError(
        f"training.load_bridge needs TransformerLens 4 and this environment has {found}: use "
        "`make setup-tl4` (.venv-tl4/) or `pip install 'transformer-lens>=4,<5'` in an environment of its own; "
        "`training.load_hooked` loads the snapshot into TransformerLens 3"
    ) from e

from training.core.artifacts import schema
from training.core.config import ModelConfig
from training.core.model import Transformer, smear_keys

EXTRA_PARAM = "smear_alpha"  # per-layer tensors that are not bridge parameters


def bridge_config(cfg: ModelConfig) -> TransformerBridgeConfig:
    """The native bridge config of a model config (shortformer runs as learned positions whose
    residual-stream term a hook removes)."""
    return TransformerBridgeConfig(
        n_layers=cfg.n_layers,
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        d_head=cfg.d_head,
        n_ctx=cfg.n_ctx,
        d_vocab=cfg.d_vocab,
        d_mlp=None if cfg.attn_only else cfg.d_mlp,
        attn_only=cfg.attn_only,
        act_fn="gelu",  # exact (erf) GELU, as training's F.gelu
        eps=1e-5,
        normalization_type="LN" if cfg.layernorm else None,
        positional_embedding_type="rotary" if cfg.positional == "rotary" else "standard",
        rotary_dim=cfg.d_head if cfg.positional == "rotary" else None,
        default_prepend_bos=False,  # our token streams carry their own BOS
        init_weights=False,  # every weight comes from the snapshot
    )


def neox_to_adjacent(d_head: int) -> torch.Tensor:
    """Indices that reorder a head's dimensions from NeoX rotary pairs (d, d + d_head/2) to
    adjacent pairs (2i, 2i+1): new[2i] = old[i], new[2i+1] = old[i + d_head/2]."""
    half = d_head // 2
    return einops.rearrange(torch.stack([torch.arange(half), torch.arange(half) + half]), "two i -> (i two)")


def _rotate(x, hook, *, rotary, sign: float):
    # x: (batch, pos, head, d_head); adjacent-pair rotation by sign * the native model's angles
    # (its own tables, read at call time, so that they follow the bridge across devices).
    t = x.shape[1]
    c, s = rotary.cos_cached[:t, None, :].to(x.dtype), rotary.sin_cached[:t, None, :].to(x.dtype)
    pairs = einops.rearrange(x, "... (i two) -> ... i two", two=2)
    rotated = einops.rearrange(torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1), "... i two -> ... (i two)")
    return x * c + sign * rotated * s


def _add_qk_pos(x, hook, *, linear, W_pos):
    # x: (batch, pos, head, d_head); add pos @ W_Q (or W_K), read from the live weights.
    t, n_heads = x.shape[1], x.shape[2]
    term = W_pos[:t] @ linear.weight.T  # (pos, head * d_head); the bias is already in x
    return x + einops.rearrange(term, "p (h e) -> p h e", h=n_heads)


def _smear(k, hook, *, alpha):
    # keys are (batch, pos, head, d_head); smear_keys wants pos second-to-last.
    k = einops.rearrange(k, "b p h e -> b h p e")
    return einops.rearrange(smear_keys(k, alpha.to(k.device)[:, None, None]), "b h p e -> b p h e")


def bridge_from_state(
    cfg: ModelConfig, state: dict[str, torch.Tensor], device: str = "cpu", tokenizer=None
) -> TransformerBridge:
    """Build a TransformerBridge from a training-model state dict, with the extension hooks."""
    bcfg = bridge_config(cfg)
    weights = {k: v for k, v in state.items() if not k.endswith(EXTRA_PARAM)}
    if cfg.positional == "rotary":
        perm = neox_to_adjacent(cfg.d_head)
        for name in ("W_Q", "W_K", "b_Q", "b_K"):
            for layer in range(cfg.n_layers):
                key = f"blocks.{layer}.attn.{name}"
                weights[key] = weights[key][..., perm]
    try:
        converted = convert_tl_checkpoint(weights, bcfg)
    except (ValueError, KeyError) as e:
        raise schema.ArtifactError(f"snapshot does not match the architecture: {e}") from None
    bridge = TransformerBridge.boot_native(bcfg, tokenizer=tokenizer, device=device)
    missing, unexpected = bridge.load_state_dict(converted, strict=False)
    if missing or unexpected:
        raise schema.ArtifactError(
            f"snapshot does not match the architecture: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    if cfg.positional == "shortformer":
        bridge.add_hook("hook_pos_embed", lambda pos, hook: torch.zeros_like(pos), is_permanent=True)
    rotary = bridge.original_model.rotary if cfg.positional == "rotary" else None
    for layer in range(cfg.n_layers):
        attn = bridge.blocks[layer].attn
        sees_pos = layer < cfg.n_qk_pos_layers
        if cfg.positional == "shortformer" and sees_pos:
            W_pos = bridge.pos_embed.weight
            for x in "qk":
                hook = partial(_add_qk_pos, linear=getattr(attn, x), W_pos=W_pos)
                bridge.add_hook(f"blocks.{layer}.attn.hook_{x}", hook, is_permanent=True)
        if cfg.smeared_keys:
            alpha = state[f"blocks.{layer}.attn.{EXTRA_PARAM}"].to(device)
            bridge.add_hook(f"blocks.{layer}.attn.hook_k", partial(_smear, alpha=alpha), is_permanent=True)
        if rotary is not None and not sees_pos:  # after the smear hook: training smears, then rotates
            unrotate = partial(_rotate, rotary=rotary, sign=-1.0)
            for x in "qk":
                bridge.add_hook(f"blocks.{layer}.attn.hook_{x}", unrotate, is_permanent=True)
    bridge.eval()
    return bridge


def bridge_from_model(model: Transformer, tokenizer=None) -> TransformerBridge:
    device = str(next(model.parameters()).device)
    return bridge_from_state(model.cfg, {k: v.detach() for k, v in model.state_dict().items()}, device, tokenizer)


def load_bridge(
    run_dir: Path | str, step: int | str = "latest", device: str = "cpu", *, with_tokenizer: bool = True
) -> TransformerBridge:
    """The snapshot of `run_dir` at `step` (or "latest") as a TransformerLens 4 TransformerBridge.

    Logits equal the training model's (tested to 1e-4 for every architecture option). The
    suite tokenizer is attached when present, so `bridge.to_tokens(text)` works.
    """
    cfg, state, tok = schema.load_snapshot(run_dir, step, with_tokenizer=with_tokenizer)
    return bridge_from_state(cfg, state, device, tok)
