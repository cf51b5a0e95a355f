"""The science floor's configuration: what a model is (`ModelConfig`) and how its local learning
coefficient is estimated (`LLCConfig`), and the error every config raises (`ConfigError`).

Plain frozen data: creating one has no side effects. The rest of a preset (data, training,
analysis, the suite's runs) and the typed `key=value` overrides are the pipeline's
(`training.pipeline.config`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal


class ConfigError(ValueError):
    """A bad preset, override or value; the message names the offending key."""


@dataclass(frozen=True)
class ModelConfig:
    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    d_head: int = 16
    n_ctx: int = 256
    d_vocab: int = 1024  # replaced by the suite tokenizer's vocabulary size
    attn_only: bool = True
    d_mlp_mult: int = 4  # d_mlp = d_mlp_mult * d_model when attn_only is False
    layernorm: bool = True
    positional: Literal["standard", "shortformer", "rotary"] = "standard"
    # Shortformer/rotary only: how many of the first layers see positions in their queries and
    # keys (None: all). Restricting it to layer 0 leaves the previous-token head nowhere else to go.
    qk_pos_layers: int | None = None
    smeared_keys: bool = False
    smear_init: float = 0.5  # sigmoid(alpha) at init: the weight a key keeps on its own token
    init_std: float | None = None  # None: TransformerLens' default, 0.8 / sqrt(d_model)

    def __post_init__(self) -> None:
        _check(1 <= self.n_layers <= 6, "model.n_layers", "must be between 1 and 6")
        for name in ("d_model", "n_heads", "d_head", "n_ctx", "d_vocab", "d_mlp_mult"):
            _check(getattr(self, name) >= 1, f"model.{name}", "must be a positive integer")
        _check(0.0 < self.smear_init < 1.0, "model.smear_init", "must be strictly between 0 and 1")
        _check(self.positional != "rotary" or self.d_head % 2 == 0, "model.d_head", "must be even for rotary positions")
        if self.qk_pos_layers is not None:
            _check(self.positional != "standard", "model.qk_pos_layers", "needs positional=shortformer or rotary")
            _check(1 <= self.qk_pos_layers <= self.n_layers, "model.qk_pos_layers", "must be in 1..n_layers")

    @property
    def d_mlp(self) -> int:
        return self.d_mlp_mult * self.d_model

    @property
    def init_range(self) -> float:
        return self.init_std if self.init_std is not None else 0.8 / self.d_model**0.5

    @property
    def n_qk_pos_layers(self) -> int:
        return self.n_layers if self.qk_pos_layers is None else self.qk_pos_layers


@dataclass(frozen=True)
class LLCConfig:
    """The local learning coefficient over training (`training.core.analysis.llc`, via devinterp):
    which runs and snapshots, and the SGLD sampler's settings (numbers in experiments/LOG.md,
    "LLC settings"). Kept out of `AnalysisConfig` on purpose: that one's hash decides whether
    every stored metric is measured again, this one's only keys `metrics/llc.json`."""

    runs: tuple[str, ...] = ()  # none: no LLC unless a preset (or `--set llc.runs=a,b`) names runs
    every: int = 8  # every k-th snapshot of the manifest (the k-th, 2k-th, ...), plus the last
    chains: int = 2  # independent SGLD chains per snapshot; the spread over chains is the error bar
    # SGLD steps per chain averaged into the estimate (a multiple of `batches`, so that every batch
    # counts equally) after `burnin` steps that are not: with epsilon 3e-3 the loss trace of the
    # `default` model levels off within ~20 steps (experiments/LOG.md, "LLC settings")
    draws: int = 96
    burnin: int = 24
    epsilon: float = 3e-3  # SGLD step size (devinterp's `lr`): 1e-3 needs ~2x the burn-in, 1e-2 reads 25-46% higher
    gamma: float = 100.0  # localization, the pull back to the snapshot's weights: 30 had not levelled off in 100 steps
    nbeta: float = 30.0  # inverse temperature n*beta (devinterp's `n_beta`; the value of its README's examples)
    batch_size: int = 4  # training contexts of n_ctx tokens per SGLD step
    batches: int = 8  # distinct batches the chains cycle through; L(w*) is measured on exactly these
    seed: int = 0  # the training windows drawn, and the SGLD noise (chain c: seed + c)

    def __post_init__(self) -> None:
        for name in ("every", "chains", "draws", "batch_size", "batches"):
            _check(getattr(self, name) >= 1, f"llc.{name}", "must be a positive integer")
        _check(self.burnin >= 0, "llc.burnin", "must be >= 0")
        _check(self.epsilon > 0, "llc.epsilon", "must be positive")
        _check(self.gamma >= 0, "llc.gamma", "must be >= 0")
        _check(self.nbeta > 0, "llc.nbeta", "must be positive")

    def sampler_settings(self) -> dict[str, Any]:
        """What an estimate depends on: every field but which runs and snapshots it is made for."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("runs", "every")}

    def settings_hash(self) -> str:
        text = json.dumps(self.sampler_settings(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key} {message}")
