"""When a run stops: after its step budget, or, with `train.stop = "plateau"`, as soon as its
phase change is over (`training.core.analysis.trajectory.phase_over`), judged on the live
metrics the trainer has just stored at each snapshot. `train.steps` is then a cap: a run that
reaches it with the phase change still under way is recorded as unfinished (`PhaseEnd`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.core.analysis import trajectory
from training.core.artifacts import schema
from training.core.artifacts.records import PhaseEnd
from training.pipeline.config import TrainConfig


def judge(run_path: Path, cfg: TrainConfig) -> PhaseEnd:
    """The plateau rule on the run's stored curves (max prefix matching and the ICL score the
    phase window reads: the live one while it trains), at its last measured snapshot."""
    index = schema.read_metrics_index(run_path)
    steps = np.asarray(index.steps, dtype=np.float64)
    prefix = np.asarray([np.nan if v is None else v for v in index.scalars.get("max_prefix_matching", [])])
    icl = np.asarray([np.nan if v is None else v for v in index.scalars[trajectory.icl_metric(index)]])
    if len(prefix) != len(steps):
        return PhaseEnd(False, int(steps[-1]) if len(steps) else 0, "no max prefix-matching curve stored", cfg.steps)
    ok = np.isfinite(prefix) & np.isfinite(icl)
    return trajectory.phase_over(
        steps[ok],
        icl[ok],
        prefix[ok],
        cap=cfg.steps,
        margin=cfg.plateau_margin,
        icl_tolerance=cfg.plateau_icl_tolerance,
    )


def unfinished_text(end: PhaseEnd) -> str:
    """Why a run is unfinished: its cap, and how far its score still rose before it (the log, the
    claims report and its Runs table all say it so)."""
    rise = (
        ""
        if end.final_rise is None
        else f", its max prefix-matching score still rising {end.final_rise:+.3f} over its last {end.stretch_steps:,} steps"
    )
    return f"stopped at its cap of {end.cap:,} steps with its phase change under way{rise}"


def describe(end: PhaseEnd) -> str:
    """One line for the log: finished at step T, or unfinished at the cap and how far the score
    still rose, with the rule's reason."""
    if end.finished:
        return f"phase change over at step {end.step:,} ({end.reason})"
    return f"unfinished: {unfinished_text(end)} ({end.reason})"
