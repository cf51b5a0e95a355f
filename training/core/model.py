"""The training-time transformer: plain torch, TransformerLens' weight layout.

`Transformer` is the one definition of the architecture used while training. Its parameters
have exactly the names and shapes of `transformer_lens.HookedTransformer`'s state dict
(`embed.W_E`, `blocks.{L}.attn.W_Q` of shape (n_heads, d_model, d_head), ...), so a snapshot
loads into a HookedTransformer unchanged (see `training.core.hooked`). The forward pass is the same
computation TransformerLens does, written with fused matmuls and `scaled_dot_product_attention`
because that trains ~1.5x faster on CPU than HookedTransformer itself.

Two extensions that TransformerLens has no config flag for, and which `training.core.hooked`
re-creates with hooks:
- smeared keys (Olsson et al. 2022, "Argument 2"): per head a scalar alpha, and
  k_j <- sigmoid(alpha) k_j + (1 - sigmoid(alpha)) k_{j-1} for j >= 1;
- `qk_pos_layers`: with shortformer or rotary positions, only the first `qk_pos_layers` layers
  see positions in their queries and keys; later layers attend by content alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from training.core.config import ModelConfig


class LayerNorm(nn.Module):
    """TransformerLens' LayerNorm (`w`, `b`, eps 1e-5)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.w.shape, self.w, self.b, eps=1e-5)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h, d, e = cfg.n_heads, cfg.d_model, cfg.d_head
        self.cfg = cfg
        self.W_Q = nn.Parameter(torch.empty(h, d, e))
        self.W_K = nn.Parameter(torch.empty(h, d, e))
        self.W_V = nn.Parameter(torch.empty(h, d, e))
        self.W_O = nn.Parameter(torch.empty(h, e, d))
        self.b_Q = nn.Parameter(torch.zeros(h, e))
        self.b_K = nn.Parameter(torch.zeros(h, e))
        self.b_V = nn.Parameter(torch.zeros(h, e))
        self.b_O = nn.Parameter(torch.zeros(d))
        if cfg.smeared_keys:
            # sigmoid(alpha) is the weight on the key's own position.
            init = math.log(cfg.smear_init / (1.0 - cfg.smear_init))
            self.smear_alpha = nn.Parameter(torch.full((h,), init))

    def forward(
        self,
        qk_in: Float[Tensor, "batch pos d_model"],
        v_in: Float[Tensor, "batch pos d_model"],
        rotary: tuple[Tensor, Tensor] | None = None,
        return_pattern: bool = False,
        replay: Tensor | None = None,
        edit_z: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """The attention output and, with `return_pattern`, the pattern (batch, head, query, key).

        For the ablations (`training.core.analysis.attribution`): `replay` is a pattern to attend
        with instead of the one the queries and keys give (they are not computed), `edit_z` a
        function applied to z (batch, head, pos, d_head) before the output projection."""
        cfg = self.cfg
        if replay is not None:
            return self._output(replay @ self._values(v_in), edit_z), replay
        w_qk = einops.rearrange(torch.cat([self.W_Q, self.W_K]), "h d e -> d (h e)")
        b_qk = einops.rearrange(torch.cat([self.b_Q, self.b_K]), "h e -> (h e)")
        qk = einops.rearrange(qk_in @ w_qk + b_qk, "b t (two h e) -> two b h t e", two=2, h=cfg.n_heads)
        q, k = qk[0], qk[1]  # (batch, head, pos, d_head)
        v = self._values(v_in)
        if cfg.smeared_keys:
            k = smear_keys(k, self.smear_alpha[:, None, None])
        if rotary is not None:  # after smearing, as in TransformerLens (hook_k, then rotation)
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        if return_pattern:
            scores = q @ k.transpose(-1, -2) / math.sqrt(cfg.d_head)  # (batch, head, query, key)
            mask = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
            pattern = scores.masked_fill(~mask, float("-inf")).softmax(-1)
            z = pattern @ v
        else:
            pattern = None
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self._output(z, edit_z), pattern

    def _values(self, v_in: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch head pos d_head"]:
        v = v_in @ einops.rearrange(self.W_V, "h d e -> d (h e)") + self.b_V.flatten()
        return einops.rearrange(v, "b t (h e) -> b h t e", h=self.cfg.n_heads)

    def _output(self, z: Float[Tensor, "batch head pos d_head"], edit_z=None) -> Float[Tensor, "batch pos d_model"]:
        if edit_z is not None:
            z = edit_z(z)
        out = einops.rearrange(z, "b h t e -> b t (h e)") @ einops.rearrange(self.W_O, "h e d -> (h e) d")
        return out + self.b_O


def smear_keys(k: Float[Tensor, "... pos d_head"], alpha: Tensor) -> Tensor:
    """k_j <- sigmoid(alpha) k_j + (1 - sigmoid(alpha)) k_{j-1} for j >= 1; k_0 unchanged.

    `alpha` broadcasts against `k` (one scalar per head). Shared by the training model and the
    TransformerLens hook so that both compute exactly the same keys.
    """
    s = torch.sigmoid(alpha)
    prev = torch.cat([k[..., :1, :], k[..., :-1, :]], dim=-2)
    smeared = s * k + (1 - s) * prev
    return torch.cat([k[..., :1, :], smeared[..., 1:, :]], dim=-2)


def rotary_tables(n_ctx: int, d_head: int, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """(sin, cos), each (n_ctx, d_head): TransformerLens' rotary angles, GPT-NeoX pairing
    (dimension d rotates with d + d_head/2), rotary_dim = d_head."""
    freq = base ** (torch.arange(d_head // 2, dtype=torch.float32) / (d_head / 2))
    freq = einops.repeat(freq, "d -> (2 d)")
    angles = torch.arange(n_ctx, dtype=torch.float32)[:, None] / freq[None, :]
    return torch.sin(angles), torch.cos(angles)


def apply_rotary(x: Float[Tensor, "batch head pos d_head"], sin: Tensor, cos: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    flipped = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    t = x.shape[-2]
    return x * cos[:t] + flipped * sin[:t]


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x @ self.W_in + self.b_in) @ self.W_out + self.b_out


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.cfg = cfg
        self.layer = layer
        self.ln1 = LayerNorm(cfg.d_model) if cfg.layernorm else nn.Identity()
        self.attn = Attention(cfg)
        if not cfg.attn_only:
            self.ln2 = LayerNorm(cfg.d_model) if cfg.layernorm else nn.Identity()
            self.mlp = MLP(cfg)

    def forward(self, x: Tensor, pos: Tensor | None, rotary, return_pattern: bool = False, replay=None, edit_z=None):
        h = self.ln1(x)
        sees_pos = self.layer < self.cfg.n_qk_pos_layers
        qk_in = h + pos if pos is not None and sees_pos else h
        attn_out, pattern = self.attn(qk_in, h, rotary if sees_pos else None, return_pattern, replay, edit_z)
        x = x + attn_out
        if not self.cfg.attn_only:
            x = x + self.mlp(self.ln2(x))
        return x, pattern


class Transformer(nn.Module):
    """Decoder-only transformer; `forward(tokens) -> logits (batch, pos, d_vocab)`."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Module()
        self.embed.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))
        if cfg.positional == "rotary":  # no learned positions; fixed tables, not in the state dict
            sin, cos = rotary_tables(cfg.n_ctx, cfg.d_head)
            self.register_buffer("rotary_sin", sin, persistent=False)
            self.register_buffer("rotary_cos", cos, persistent=False)
        else:
            self.pos_embed = nn.Module()
            self.pos_embed.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))
        self.blocks = nn.ModuleList(Block(cfg, layer) for layer in range(cfg.n_layers))
        self.ln_final = LayerNorm(cfg.d_model) if cfg.layernorm else nn.Identity()
        self.unembed = nn.Module()
        self.unembed.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab))
        self.unembed.b_U = nn.Parameter(torch.zeros(cfg.d_vocab))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        # TransformerLens' "gpt2" init: every weight matrix N(0, initializer_range), biases 0,
        # LayerNorm weights 1. Uses the global torch RNG, seeded once at the entry point.
        for name, p in self.named_parameters():
            if name.endswith("smear_alpha"):
                continue
            if p.ndim > 1:
                nn.init.normal_(p, std=self.cfg.init_range)

    def forward(
        self, tokens: Int[Tensor, "batch pos"], return_patterns: bool = False
    ) -> Float[Tensor, "batch pos d_vocab"] | tuple[Tensor, list[Tensor]]:
        x, patterns = self.residual(tokens, return_patterns)
        logits = self.unembed_residual(x)
        return (logits, patterns) if return_patterns else logits

    def unembed_residual(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_vocab"]:
        """Logits of a final residual stream (`ln_final`, then the unembedding)."""
        return self.ln_final(x) @ self.unembed.W_U + self.unembed.b_U

    def embed_tokens(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        """The residual stream entering layer 0 (token embeddings, plus positions if standard)."""
        x = self.embed.W_E[tokens]
        return x + self.pos_embed.W_pos[: tokens.shape[1]] if self.cfg.positional == "standard" else x

    def residual(
        self, tokens: Int[Tensor, "batch pos"], return_patterns: bool = False
    ) -> tuple[Float[Tensor, "batch pos d_model"], list[Tensor]]:
        """The final residual stream (before `ln_final`) and, if asked, each layer's pattern."""
        return self.run_from(self.embed_tokens(tokens), 0, return_patterns=return_patterns)

    def run_from(
        self,
        x: Float[Tensor, "batch pos d_model"],
        start: int,
        *,
        return_patterns: bool = False,
        replay: list[Tensor] | None = None,
        edit_z: tuple[int, Callable[[Tensor], Tensor]] | None = None,
        streams: list[Tensor] | None = None,
    ) -> tuple[Float[Tensor, "batch pos d_model"], list[Tensor]]:
        """Layers `start`.. on `x`, the residual stream entering layer `start`: the final residual
        stream and, if asked, each of those layers' patterns.

        For the ablations (`training.core.analysis.attribution`): `replay` holds a pattern for
        every layer (attended with instead of the computed one, from `start` on), `edit_z`
        (layer, function) edits that layer's z, and `streams` collects each layer's input."""
        t = x.shape[1]
        qk_pos, rotary = None, None
        if self.cfg.positional == "shortformer":  # positions enter the queries and keys only
            qk_pos = self.pos_embed.W_pos[:t]
        elif self.cfg.positional == "rotary":
            rotary = (self.rotary_sin, self.rotary_cos)
        patterns = []
        for block in self.blocks[start:]:
            if streams is not None:
                streams.append(x)
            edit = edit_z[1] if edit_z is not None and edit_z[0] == block.layer else None
            x, pattern = block(
                x, qk_pos, rotary, return_patterns, replay[block.layer] if replay is not None else None, edit
            )
            patterns.append(pattern)
        return x, patterns

    def losses_at(
        self, tokens: Int[Tensor, "batch pos"], indices: list[int] | Int[Tensor, "batch index"]
    ) -> Float[Tensor, "batch index"]:
        """`next_token_loss(self(tokens), tokens)` at the context `indices` (a list: the same in
        every context; a tensor: its own in each), unembedding only those: with d_model 64 and a
        1024-token vocabulary the unembedding and its softmax are most of a forward pass, so a
        score that reads a few indices (the ICL score, the per-token losses) runs ~3x faster."""
        x, _ = self.residual(tokens)
        return losses_of(self.unembed_residual, x, tokens, indices)


def losses_of(
    unembed: Callable[[Tensor], Tensor],
    resid: Float[Tensor, "batch pos d_model"],
    tokens: Int[Tensor, "batch pos"],
    indices: list[int] | Int[Tensor, "batch index"],
) -> Float[Tensor, "batch index"]:
    """Next-token losses at context `indices` from the final residual stream, unembedding
    (`unembed`: final LayerNorm and unembedding) only there; shared with the TransformerLens
    adapter. `indices` is a list (the same indices in every context) or a (batch, index) tensor."""
    if isinstance(indices, Tensor):
        idx = indices.to(tokens.device)
        picked = resid.gather(1, einops.repeat(idx, "b i -> b i d", d=resid.shape[-1]))
        targets = tokens.gather(1, idx + 1)
    else:
        idx = torch.as_tensor(indices, device=tokens.device)
        picked, targets = resid[:, idx], tokens[:, idx + 1]
    logits = unembed(picked)  # (batch, index, vocab)
    flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return flat.view(targets.shape)


def next_token_loss(
    logits: Float[Tensor, "batch pos d_vocab"], tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "batch pos-1"]:
    """Per-token cross-entropy of predicting tokens[:, 1:] from logits[:, :-1] (nats)."""
    batch, pos, vocab = logits.shape
    # flattened so that log-softmax runs along contiguous memory (~10% of a training step
    # faster than cross-entropy over a (batch, vocab, pos) view)
    flat = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), tokens[:, 1:].reshape(-1), reduction="none")
    return flat.view(batch, pos - 1)
