"""The statistics the claims share: smoothing, bootstrap intervals, and turning them into verdicts.

Every number a claim reports is an `Estimate`: a value with a 95% bootstrap interval where the
stored data allow one (what was resampled is said in the claim's details). A threshold is
passed when the whole interval clears it, failed when the whole interval misses it, and
"inconclusive" when the interval straddles it. Resampling uses a fixed seed, so a report is
the same every time it is built from the same artifacts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from training.core.analysis.trajectory import running_mean

SEED = 0
SAMPLES = 1000  # bootstrap resamples
LEVEL = 0.95
SMOOTH = 5  # snapshots in the centred running mean applied before any threshold


@dataclass(frozen=True)
class Estimate:
    """A measured number and its bootstrap interval (None where nothing could be resampled)."""

    value: float
    low: float | None = None
    high: float | None = None

    def __str__(self) -> str:
        if self.low is None or self.high is None:
            return _text(self.value)
        return f"{_text(self.value)} [{_text(self.low)}, {_text(self.high)}]"

    def json(self) -> dict:
        ci = None if self.low is None else [_round(self.low), _round(self.high)]
        return {"value": _round(self.value), "ci": ci}

    def __neg__(self) -> Estimate:
        return Estimate(
            -self.value,
            None if self.high is None else -self.high,
            None if self.low is None else -self.low,
        )


def _text(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.3f}"


def _round(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def smooth(curve: np.ndarray, width: int = SMOOTH) -> np.ndarray:
    """`trajectory.running_mean` over the claims' `SMOOTH` snapshots: centred, NaN-aware, along
    the first axis, the window shrinking at the ends."""
    return running_mean(curve, width)


def around(i: int, n: int, width: int = SMOOTH) -> np.ndarray:
    """The snapshot indices of `smooth`'s window around snapshot `i` of `n`."""
    return np.arange(max(i - width // 2, 0), min(i + width // 2 + 1, n))


def interval(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The `LEVEL` percentile interval of bootstrap values (NaN dropped); None, None when fewer
    than half of them are finite."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if len(finite) < max(len(values) // 2, 1):
        return None, None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def resampled(
    statistic: Callable[..., float], *groups: np.ndarray, samples: int = SAMPLES
) -> Estimate:
    """`statistic(*groups)` with its bootstrap interval: each group's items (its first axis)
    resampled with replacement, independently of the other groups, `samples` times with a
    fixed seed. No interval when a group has fewer than 2 items."""
    groups = tuple(np.asarray(g, dtype=float) for g in groups)
    value = float(statistic(*groups))
    if any(len(g) < 2 for g in groups):
        return Estimate(value)
    rng = np.random.default_rng(SEED)
    values = [
        statistic(*(g[rng.integers(0, len(g), len(g))] for g in groups)) for _ in range(samples)
    ]
    return Estimate(value, *interval(values))


def mean_estimate(values: np.ndarray) -> Estimate:
    """The mean of `values` (NaN dropped) with its bootstrap interval over the values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return Estimate(float("nan"))
    return resampled(np.mean, values)


def above(estimate: Estimate, threshold: float) -> str:
    """ "pass" when the estimate is clearly above the threshold, "fail" when clearly not,
    "inconclusive" when its interval straddles it (no interval: the value decides)."""
    if not np.isfinite(estimate.value):
        return "inconclusive"
    if estimate.low is None or estimate.high is None:
        return "pass" if estimate.value > threshold else "fail"
    if estimate.low > threshold:
        return "pass"
    return "fail" if estimate.high <= threshold else "inconclusive"


def below(estimate: Estimate, threshold: float) -> str:
    """ "pass" when the estimate is clearly below the threshold (see `above`)."""
    return above(-estimate, -threshold)


def combine(statuses: Sequence[str]) -> str:
    """One verdict from several: any fail fails, else any inconclusive is inconclusive, else
    pass; nothing to judge is "n/a"."""
    statuses = [s for s in statuses if s != "n/a"]
    if not statuses:
        return "n/a"
    if "fail" in statuses:
        return "fail"
    return "inconclusive" if "inconclusive" in statuses else "pass"


def nearest(steps: np.ndarray, targets: Sequence[int]) -> list[int]:
    """The index of the snapshot closest to each target step."""
    steps = np.asarray(steps)
    return np.abs(steps[:, None] - np.asarray(targets)[None, :]).argmin(0).tolist()


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x; NaN when x does not vary."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    dx = x - x.mean()
    denominator = (dx**2).sum()
    return float((dx * (y - y.mean())).sum() / denominator) if denominator > 0 else float("nan")


def local_slopes(x: np.ndarray, curve: np.ndarray, width: int = SMOOTH) -> np.ndarray:
    """(snapshot,) the least-squares slope of `curve` against `x` over `around` each snapshot:
    a smoothed rate of change that close pairs of snapshots do not blow up."""
    n = len(curve)
    return np.array([slope(x[idx], curve[idx]) for idx in (around(i, n, width) for i in range(n))])


def transition(steps: np.ndarray, curve: np.ndarray) -> tuple[int, int] | None:
    """The window of a curve's steepest fall, as snapshot indices (start, end): the snapshot
    where its local slope against log(1 + step) (`local_slopes`) is most negative, and the
    stretch around it where the fall stays at half that rate or more. None when the curve
    never falls. For a rise, pass `-curve`."""
    x = np.log1p(np.asarray(steps, dtype=float))
    y = np.asarray(curve, dtype=float)
    finite = np.isfinite(y)
    rate = np.full(len(y), np.nan)
    rate[finite] = -local_slopes(x[finite], y[finite])
    if not np.any(np.isfinite(rate)) or np.nanmax(rate) <= 0:
        return None
    steep = int(np.nanargmax(rate))
    start, end = steep, steep
    while start > 0 and rate[start - 1] >= rate[steep] / 2:
        start -= 1
    while end < len(rate) - 1 and rate[end + 1] >= rate[steep] / 2:
        end += 1
    return start, end
