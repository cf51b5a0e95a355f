"""Learning-rate and snapshot schedules (pure functions of the config and the step)."""

from __future__ import annotations

import math

import numpy as np

from training.pipeline.config import TrainConfig


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up over `warmup_steps`, then constant, cosine or linear decay to
    `lr * min_lr_fraction` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    floor = cfg.lr * cfg.min_lr_fraction
    if cfg.schedule == "cosine":
        return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return floor + (cfg.lr - floor) * (1 - min(1.0, progress))


def snapshot_steps(cfg: TrainConfig) -> list[int]:
    """Log-spaced steps (dense early, where first heads form) united with evenly spaced ones
    (dense through the rest of training, where the phase change may fall); includes 0 and the
    last step."""
    log = np.geomspace(1, cfg.steps, cfg.log_snapshots) if cfg.log_snapshots else []
    lin = np.linspace(0, cfg.steps, cfg.linear_snapshots) if cfg.linear_snapshots else []
    steps = {0, cfg.steps, *(int(round(s)) for s in log), *(int(round(s)) for s in lin)}
    return sorted(s for s in steps if 0 <= s <= cfg.steps)
