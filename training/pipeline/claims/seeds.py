"""The spread over seeds: for a run trained with several seeds (`--seeds`), the same numbers for
each seed, then their mean, min, max and (with 3+ seeds) standard deviation. Not a claim of the
paper: how much of what the claims read moves with the seed alone.

Each seed's numbers use the claims' definitions: the step at which the maximum over heads of the
prefix-matching score, smoothed per head as the claims smooth it (`stats.smooth`, 5 snapshots),
first exceeds 0.3; the phase window's steps (`analysis/phase.json`, set even where the ICL score
does not follow the rise); the peak prefix-matching score (`RunData.peak`, as the report's runs
table gives it); the final ICL score, the mean of the last `LAST` snapshots as the claims take
it (on the ICL metric they read, `RunData.icl`: it is noisy from snapshot to snapshot); and the
final held-out loss, at the last snapshot that has one (measured on the same fixed contexts
every time, it has no such noise).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.core.artifacts.records import SeedResult, SeedSpread, Spread
from training.pipeline.claims.common import INDUCTION, LAST
from training.pipeline.claims.runs import RunData
from training.pipeline.claims.stats import smooth

# the fields of `SeedResult` that get a spread
QUANTITIES = (
    "induction_step",
    "phase_start",
    "phase_end",
    "peak_prefix_matching",
    "final_icl",
    "final_heldout_loss",
)
STD_FROM = 3  # seeds with a value, at least, for a standard deviation


def _round(x: float) -> float:
    return round(float(x), 4)


def induction_step(run: RunData) -> int | None:
    """The first step at which the highest smoothed prefix-matching score of any head exceeds
    the induction threshold (0.3); None if it never does."""
    smoothed = smooth(run.prefix).reshape(len(run.steps), -1)  # (snapshot, layer * head)
    best = np.where(np.isfinite(smoothed), smoothed, -np.inf).max(1)  # (snapshot,)
    above = np.flatnonzero(best > INDUCTION)
    return int(run.steps[above[0]]) if len(above) else None


def final_mean(curve: np.ndarray) -> float | None:
    """The mean of a curve's last `LAST` snapshots (NaN left out); None if none is measured."""
    last = np.asarray(curve, dtype=float)[-LAST:]
    return _round(np.nanmean(last)) if np.isfinite(last).any() else None


def last_value(curve: np.ndarray | None) -> float | None:
    """A curve's value at its last snapshot that has one; None if none does."""
    if curve is None:
        return None
    measured = np.asarray(curve, dtype=float)
    measured = measured[np.isfinite(measured)]
    return _round(measured[-1]) if len(measured) else None


def seed_result(run: RunData, seed: int, icl_metric: str) -> SeedResult:
    """One analysed seed's numbers; `icl_metric` names the curve `run.icl` holds."""
    phase = run.phase
    return SeedResult(
        run=run.name,
        seed=seed,
        status="analysed",
        induction_step=induction_step(run),
        phase_start=None if phase is None else phase.start_step,
        phase_end=None if phase is None else phase.end_step,
        peak_prefix_matching=run.peak()["score"],
        final_icl=final_mean(run.icl),
        final_heldout_loss=last_value(run.heldout_loss),
        icl_metric=icl_metric,
    )


def waiting_seed(run: str, seed: int) -> SeedResult:
    """A seed planned, training, or trained but not analysed yet: no numbers."""
    return SeedResult(run=run, seed=seed, status="waiting")


def spread(values: Sequence[float | None]) -> Spread:
    """Mean, min, max over the values that exist, and with `STD_FROM` or more of them the
    sample standard deviation (n - 1 in the denominator)."""
    x = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return Spread(n=0)
    std = _round(x.std(ddof=1)) if len(x) >= STD_FROM else None
    return Spread(
        n=len(x), mean=_round(x.mean()), min=_round(x.min()), max=_round(x.max()), std=std
    )


def seed_spread(run: str, seeds: Sequence[SeedResult]) -> SeedSpread:
    """Run `run`'s seeds (itself first) and the spread of each number over the analysed ones.
    Seeds measured with different ICL metrics give no spread of the final ICL score."""
    analysed = [s for s in seeds if s.status == "analysed"]
    metrics = {s.icl_metric for s in analysed}
    icl_metric = next(iter(metrics)) if len(metrics) == 1 else None
    table = {q: spread([getattr(s, q) for s in analysed]) for q in QUANTITIES}
    if len(metrics) > 1:
        table["final_icl"] = Spread(n=0)
    return SeedSpread(run=run, seeds=list(seeds), spread=table, icl_metric=icl_metric)
