"""Snapshots as `transformer_lens.HookedTransformer`s: `load_hooked(run_dir, step)`.

The training model (`training.core.model.Transformer`) stores TransformerLens' own parameter names
and shapes, so a snapshot's state dict loads unchanged. What TransformerLens has no config flag
for is re-created with permanent hooks, which `run_with_cache`, `run_with_hooks` and
`reset_hooks()` all keep:
- smeared keys on `blocks.{L}.attn.hook_k`, using the same `smear_keys` function as training;
- `qk_pos_layers`: for layers at or past it, the positional term (pos @ W_Q / W_K) that
  TransformerLens' shortformer adds to every layer is subtracted again on `hook_q`/`hook_k`;
  with rotary positions, `hook_rot_q`/`hook_rot_k` return the unrotated `hook_q`/`hook_k`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import einops
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from training.core.artifacts import schema
from training.core.artifacts.schema import model_config as model_config_from_manifest  # noqa: F401 (re-exported: analyze, tests)
from training.core.config import ModelConfig
from training.core.model import Transformer, smear_keys

EXTRA_PARAM = "smear_alpha"  # per-layer tensors that are not HookedTransformer parameters


def hooked_config(cfg: ModelConfig, device: str = "cpu") -> HookedTransformerConfig:
    return HookedTransformerConfig(
        n_layers=cfg.n_layers,
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        d_head=cfg.d_head,
        n_ctx=cfg.n_ctx,
        d_vocab=cfg.d_vocab,
        d_mlp=None if cfg.attn_only else cfg.d_mlp,
        attn_only=cfg.attn_only,
        act_fn="gelu",
        normalization_type="LN" if cfg.layernorm else None,
        positional_embedding_type=cfg.positional,
        rotary_dim=cfg.d_head if cfg.positional == "rotary" else None,
        default_prepend_bos=False,  # our token streams carry their own BOS
        device=device,
    )


def _remove_qk_pos(x, hook, *, W, pos):
    # x: (batch, pos, head, d_head); subtract the positional term TransformerLens added.
    t = x.shape[1]
    return x - einops.einsum(pos[:t], W, "p d, h d e -> p h e")


def _smear(k, hook, *, alpha):
    # TransformerLens keys are (batch, pos, head, d_head); smear_keys wants pos second-to-last.
    k = einops.rearrange(k, "b p h e -> b h p e")
    return einops.rearrange(smear_keys(k, alpha[:, None, None]), "b h p e -> b p h e")


class _Unrotate:
    """Stash the unrotated q or k on `hook_q`/`hook_k`; return it from `hook_rot_q`/`hook_rot_k`."""

    def __init__(self):
        self.value = None

    def stash(self, x, hook):
        self.value = x
        return x

    def restore(self, x, hook):
        return self.value


def hooked_from_state(
    cfg: ModelConfig, state: dict[str, torch.Tensor], device: str = "cpu", tokenizer=None
) -> HookedTransformer:
    """Build a HookedTransformer from a training-model state dict, with the extension hooks."""
    model = HookedTransformer(hooked_config(cfg, device), tokenizer=tokenizer, move_to_device=True)
    weights = {k: v for k, v in state.items() if not k.endswith(EXTRA_PARAM)}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # HookedTransformer registers buffers (IGNORE, mask, rotary tables) not in our state dict.
    missing = [k for k in missing if not k.endswith(("IGNORE", "mask", "rotary_sin", "rotary_cos"))]
    if missing or unexpected:
        raise schema.ArtifactError(
            f"snapshot does not match the architecture: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    pos = model.W_pos.detach() if cfg.positional != "rotary" else None
    for layer in range(cfg.n_layers):
        if cfg.positional == "shortformer" and layer >= cfg.n_qk_pos_layers:
            for name, W in (("hook_q", model.blocks[layer].attn.W_Q), ("hook_k", model.blocks[layer].attn.W_K)):
                model.add_hook(
                    f"blocks.{layer}.attn.{name}", partial(_remove_qk_pos, W=W.detach(), pos=pos), is_permanent=True
                )
        if cfg.smeared_keys:
            alpha = state[f"blocks.{layer}.attn.{EXTRA_PARAM}"].to(device)
            model.add_hook(f"blocks.{layer}.attn.hook_k", partial(_smear, alpha=alpha), is_permanent=True)
        if cfg.positional == "rotary" and layer >= cfg.n_qk_pos_layers:
            for x in "qk":  # added after the smear hook, so the stashed key is the smeared one
                unrotate = _Unrotate()
                model.add_hook(f"blocks.{layer}.attn.hook_{x}", unrotate.stash, is_permanent=True)
                model.add_hook(f"blocks.{layer}.attn.hook_rot_{x}", unrotate.restore, is_permanent=True)
    model.eval()
    return model


def hooked_from_model(model: Transformer, tokenizer=None) -> HookedTransformer:
    device = str(next(model.parameters()).device)
    return hooked_from_state(model.cfg, {k: v.detach() for k, v in model.state_dict().items()}, device, tokenizer)


def load_hooked(
    run_dir: Path | str, step: int | str = "latest", device: str = "cpu", *, with_tokenizer: bool = True
) -> HookedTransformer:
    """The snapshot of `run_dir` at `step` (or "latest") as a HookedTransformer.

    Logits equal the training model's (tested to 1e-4 for every architecture option). The
    suite tokenizer is attached when present, so `model.to_tokens(text)` works.
    """
    cfg, state, tok = schema.load_snapshot(run_dir, step, with_tokenizer=with_tokenizer)
    return hooked_from_state(cfg, state, device, tok)
