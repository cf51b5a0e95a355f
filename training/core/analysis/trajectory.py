"""Training trajectories: joint PCA of per-token losses, the phase change and its window.

Olsson et al. 2022, "Argument 1" ("per-token loss analysis"): each snapshot's losses on a fixed
set of tokens form one vector; PCA over the vectors of all snapshots (of all runs, jointly) shows
the training trajectory, and the "before-and-after vector" is the per-token loss change across
the phase change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from training.core.analysis.scores import INDUCTION_THRESHOLD
from training.core.artifacts.records import MetricsIndex, PhaseEnd, PhaseWindow


class JointPCA(NamedTuple):
    coords: Float[Tensor, "snapshot component"]
    explained_variance_ratio: Float[Tensor, "component"]
    components: Float[Tensor, "component token"]  # unit rows
    mean: Float[Tensor, "token"]


def joint_pca(loss_vectors: Float[Tensor, "snapshot token"], n_components: int) -> JointPCA:
    """PCA of per-token loss vectors, centred on the mean over every row given.

    The caller stacks the snapshots of all runs so that they share one set of axes. Computed by
    SVD in float64. Signs are made deterministic: each component's loading of largest absolute
    value is positive. `explained_variance_ratio` is each component's share of the total
    variance (all zeros when every row is the same).
    """
    if not 1 <= n_components <= min(loss_vectors.shape):
        raise ValueError(f"n_components must be in 1..{min(loss_vectors.shape)}, got {n_components}")
    x = loss_vectors.double()
    mean = x.mean(0)
    centred = x - mean
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:n_components]
    largest = components.gather(1, components.abs().argmax(1, keepdim=True))
    components = components * torch.where(largest < 0, -1.0, 1.0).double()
    variance = singular**2
    total = variance.sum()
    ratio = variance[:n_components] / total if total > 0 else torch.zeros(n_components, dtype=torch.float64)
    dtype = loss_vectors.dtype
    return JointPCA((centred @ components.T).to(dtype), ratio.to(dtype), components.to(dtype), mean.to(dtype))


def before_after_vector(
    loss_before: Float[Tensor, "token"], loss_after: Float[Tensor, "token"]
) -> Float[Tensor, "token"]:
    """Unit-norm per-token loss change across the phase change, after - before (Argument 1).

    Tokens that in-context learning helps get negative entries. All zeros if nothing changed.
    """
    change = loss_after - loss_before
    norm = change.norm()
    return change / norm if norm > 0 else torch.zeros_like(change)


def ablation_alignment(
    ablation_loss_deltas: Float[Tensor, "*head token"], before_after: Float[Tensor, "token"]
) -> Float[Tensor, "*head"]:
    """Cosine between each head's ablation effect and the reversed phase change.

    `ablation_loss_deltas` are per-token losses ablated minus clean (as
    `attribution.head_ablation_effects`' "per_token_delta", flattened over batch and position).
    Both vectors are normalised to unit length (a zero vector gives 0), and we compare the
    ablation with -before_after: +1 means removing the head undoes exactly the per-token change
    of the phase change, as the paper finds for induction heads; 0 means unrelated. The paper
    compares the same two vectors; fixing the sign so that "undoes" is positive is our choice.
    """
    norms = ablation_loss_deltas.norm(dim=-1, keepdim=True)
    unit = torch.where(norms > 0, ablation_loss_deltas / norms.clamp_min(1e-30), 0.0)
    target = -before_after / before_after.norm().clamp_min(1e-30)
    return unit @ target


def ablation_projection(
    ablation_loss_deltas: Float[Tensor, "*head token"], loss_change: Float[Tensor, "token"]
) -> Float[Tensor, "*head"]:
    """The share of the phase change an ablation undoes: its per-token loss change projected onto
    the reversed before-and-after change, `delta . (-change) / |change|^2`.

    Olsson et al. 2022 compare the two vectors by projection: 1 means the ablation brings the
    losses back exactly along the phase change's direction by its full size, 0.5 half of it, 0 nothing
    along it (however large the ablation's effect elsewhere: that part is what `ablation_alignment`'s
    cosine also sees). `loss_change` is after - before (not normalised); NaN when it is zero.
    """
    size = (loss_change**2).sum()
    if size == 0:
        return torch.full(ablation_loss_deltas.shape[:-1], float("nan"))
    return ablation_loss_deltas @ (-loss_change) / size


ICL_SMOOTH = 3  # snapshots in the ICL score's running mean before the phase window's ICL gate


def running_mean(curve: np.ndarray, width: int) -> np.ndarray:
    """Centred running mean over `width` snapshots along the first axis, NaN-aware (a snapshot
    not measured is left out of its neighbours' means; NaN where a whole window is); the window
    shrinks at the ends (the first value is the mean of itself and the next `width // 2`). The
    claims smooth their curves with it too (`training.pipeline.claims.stats.smooth`)."""
    curve = np.asarray(curve, dtype=float)
    half = width // 2
    out = np.empty_like(curve)
    for i in range(len(curve)):
        block = curve[max(i - half, 0) : i + half + 1]
        finite = np.isfinite(block)
        count = finite.sum(0)
        total = np.where(finite, block, 0.0).sum(0)
        out[i] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def detect_phase_change(
    steps: Sequence[int] | Tensor | np.ndarray,
    icl: Sequence[float] | Tensor | np.ndarray,
    max_prefix: Sequence[float] | Tensor | np.ndarray,
    *,
    threshold: float = INDUCTION_THRESHOLD,
    min_rise: float = 0.1,
    levels: tuple[float, float] = (0.1, 0.9),
    min_icl_fraction: float = 0.5,
) -> PhaseWindow:
    """Find the phase change: the steep rise of the max prefix-matching score, with ICL following.

    Olsson et al. 2022 ("Argument 1") see induction heads and in-context learning appear together
    in a short window, on a log axis of tokens. Our rule, one snapshot per entry (`steps` may be
    steps or tokens seen, strictly increasing), x = log(1 + step):
    1. the max prefix-matching score must exceed `threshold` somewhere;
    2. from its lowest point before its peak to the peak it must rise by `min_rise` or more;
    3. the steepest rise (largest slope in x between consecutive snapshots in that stretch) is
       extended backwards to the last snapshot at or below the `levels[0]` level of the rise
       and forwards to the first one at or above `levels[1]` (10% and 90% by default): that
       is the window, bounded by snapshots;
    4. the ICL score, smoothed by a centred running mean over `ICL_SMOOTH` snapshots (one
       snapshot's score is noisy), must fall (become more negative) within the window widened
       by one snapshot on each side by at least `min_icl_fraction` of its range over training.
    `found` is True when all four hold; `reason` says which failed, or describes the window.
    """
    x = np.log1p(np.asarray(steps, dtype=np.float64))
    p = np.asarray(max_prefix, dtype=np.float64)
    icl_values = running_mean(np.asarray(icl, dtype=np.float64), ICL_SMOOTH)
    if not len(x) == len(p) == len(icl_values):
        raise ValueError(f"steps, icl and max_prefix differ in length: {len(x)}, {len(icl_values)}, {len(p)}")
    if len(x) < 3 or np.any(np.diff(x) <= 0):
        raise ValueError("need at least 3 snapshots with strictly increasing steps >= 0")
    if p.max() <= threshold:
        return PhaseWindow(False, f"max prefix-matching score never exceeds {threshold} (peak {p.max():.2f})")
    i_peak = int(p.argmax())
    i_base = int(p[: i_peak + 1].argmin())
    rise = p[i_peak] - p[i_base]
    if rise < min_rise:
        return PhaseWindow(False, f"max prefix-matching score rises by only {rise:.2f} before its peak (< {min_rise})")
    slopes = np.diff(p[i_base : i_peak + 1]) / np.diff(x[i_base : i_peak + 1])
    steepest = i_base + int(slopes.argmax())  # the rise from snapshot `steepest` to the next
    low, high = p[i_base] + levels[0] * rise, p[i_base] + levels[1] * rise
    start = max(i for i in range(i_base, steepest + 1) if p[i] <= low)
    end = min(i for i in range(steepest + 1, i_peak + 1) if p[i] >= high)
    start_step, end_step = int(np.asarray(steps)[start]), int(np.asarray(steps)[end])
    window = (
        f"max prefix-matching score rises from {p[start]:.2f} to {p[end]:.2f} between steps {start_step} and {end_step}"
    )

    icl_range = icl_values.max() - icl_values.min()
    if icl_range <= 0:
        return PhaseWindow(False, f"{window}, but the ICL score is constant", start_step, end_step, 0.0)
    before, after = max(start - 1, 0), min(end + 1, len(x) - 1)
    fraction = float((icl_values[before] - icl_values[after]) / icl_range)
    if fraction < min_icl_fraction:
        return PhaseWindow(
            False,
            f"{window}, but the ICL score falls by only {fraction:.0%} of its range there (< {min_icl_fraction:.0%})",
            start_step,
            end_step,
            fraction,
        )
    return PhaseWindow(
        True, f"{window}; the ICL score falls by {fraction:.0%} of its range there", start_step, end_step, fraction
    )


PREFIX_SMOOTH = 3  # snapshots in the max prefix-matching score's running mean for the final rise
NO_WINDOW_STRETCH = 0.2  # without a window, the final rise is read over the last fifth of the steps


def phase_over(
    steps: Sequence[int] | np.ndarray,
    icl: Sequence[float] | np.ndarray,
    max_prefix: Sequence[float] | np.ndarray,
    *,
    cap: int,
    margin: float,
    icl_tolerance: float,
    threshold: float = INDUCTION_THRESHOLD,
) -> PhaseEnd:
    """Is the phase change over at the last snapshot? The plateau rule that ends a run trained
    with `train.stop = "plateau"` (beyond the paper, which trains every model for a fixed budget).

    At the last snapshot T, the phase change is over when:
    1. the max prefix-matching score has risen through a window [S, E] (`detect_phase_change`'s
       rules 1-3: past `threshold`; E is the first snapshot after the steepest rise at 90% of
       the rise to the peak so far: a score still climbing keeps moving its peak, and so E);
    2. that has lasted: T - E >= `margin` x (E - S), a stretch after the window of at least
       `margin` times its width;
    3. the ICL score, smoothed over `ICL_SMOOTH` snapshots, has settled over that stretch: a
       least-squares line through it moves by at most `icl_tolerance` of the score's range over
       training (3 or more snapshots in the stretch).
    Otherwise it is not (yet) over; at T = `cap` the run is *unfinished*. `final_rise` is how much
    the smoothed max prefix-matching score gained over the final stretch (`margin` x the window's
    width, or the last `NO_WINDOW_STRETCH` of the steps when there is no window).
    """
    s = np.asarray(steps, dtype=np.float64)
    p = np.asarray(max_prefix, dtype=np.float64)
    c = running_mean(np.asarray(icl, dtype=np.float64), ICL_SMOOTH)
    last = int(s[-1]) if len(s) else 0
    if len(s) < 3:
        return PhaseEnd(False, last, "fewer than 3 measured snapshots", cap)
    smooth_p = running_mean(p, PREFIX_SMOOTH)

    def rise_over(stretch: float) -> tuple[float, int]:
        start = max(s[-1] - stretch, s[0])
        return float(smooth_p[-1] - np.interp(start, s, smooth_p)), int(round(s[-1] - start))

    window = detect_phase_change(s, c, p, threshold=threshold)
    if window.start_step is None or window.end_step is None:
        rise, stretch = rise_over(NO_WINDOW_STRETCH * s[-1])
        reason = f"no phase window yet: {window.reason}"
        return PhaseEnd(False, last, reason, cap, final_rise=round(rise, 4), stretch_steps=stretch)
    start, end = window.start_step, window.end_step
    need = margin * (end - start)
    rise, stretch = rise_over(need)
    where = f"phase window {start:,}-{end:,}"
    common = dict(start_step=start, end_step=end, final_rise=round(rise, 4), stretch_steps=stretch)
    if last - end < need:
        reason = f"{where}: {last - end:,} steps after it, fewer than {margin:g} x its width ({need:,.0f})"
        return PhaseEnd(False, last, reason, cap, **common)
    after = s >= end
    if after.sum() < 3:
        return PhaseEnd(False, last, f"{where}: fewer than 3 snapshots after it", cap, **common)
    slope = np.polyfit(s[after], c[after], 1)[0]
    moved = abs(slope * (last - end))
    span = float(np.nanmax(c) - np.nanmin(c))
    if not np.isfinite(moved) or moved > icl_tolerance * span:
        reason = (
            f"{where}: the ICL score still moves {moved:.3f} nats over the {last - end:,} steps after it "
            f"(> {icl_tolerance:g} of its range, {span:.3f})"
        )
        return PhaseEnd(False, last, reason, cap, **common)
    reason = (
        f"{where}; {last - end:,} steps after it (>= {margin:g} x its width), the ICL score moving {moved:.3f} nats (<= {icl_tolerance:g} of its "
        f"range, {span:.3f})"
    )
    return PhaseEnd(True, last, reason, cap, **common)


class Crossing(NamedTuple):
    """The first measured snapshot at which a run's best head passes the induction threshold."""

    index: int  # into the measured snapshots
    layer: int
    head: int
    value: float


def first_crossing(
    grids: Float[np.ndarray, "snapshot layer head"], threshold: float = INDUCTION_THRESHOLD
) -> Crossing | None:
    """Where the largest per-head score of a `[snapshot layer head]` stack (the prefix-matching
    score) first exceeds `threshold`, and which head has it there; None if it never does. On the
    raw curve, as the page draws it against its dashed threshold line (the claims' crossing is
    smoothed over 5 snapshots, so it can come a snapshot or two later). Snapshots not measured
    (all NaN) are skipped."""
    for i, grid in enumerate(np.asarray(grids, dtype=np.float64)):
        if np.all(np.isnan(grid)) or np.nanmax(grid) <= threshold:
            continue
        layer, head = np.unravel_index(np.nanargmax(grid), grid.shape)
        return Crossing(i, int(layer), int(head), float(grid[layer, head]))
    return None


ICL_CURVES = ("icl_wide", "icl_live", "icl_score")  # most held-out contexts first


def icl_metric(index: MetricsIndex) -> str:
    """Which ICL score a run's curve and phase window read: the first of ICL_CURVES that every
    measured snapshot has (the wide one, 512 contexts, once the analysis has measured them all;
    the trainer's live one, 128 contexts, while it trains; the 32 evaluation contexts' score for
    runs trained before the live one existed)."""
    n = len(index.steps)
    for name in ICL_CURVES:
        values = index.scalars.get(name) or []
        if len(values) == n and all(v is not None for v in values):
            return name
    return "icl_score"


def phase_window(index: MetricsIndex) -> PhaseWindow:
    """`detect_phase_change` on a run's stored curves (steps, ICL score, max prefix-matching
    score), with the run's tokens per step; works on live metrics as on the full analysis."""
    steps, best = index.steps, index.scalars.get("max_prefix_matching", [])
    if len(steps) < 3:
        return PhaseWindow(False, "fewer than 3 measured snapshots")
    window = detect_phase_change(steps, index.scalars[icl_metric(index)], best)
    return PhaseWindow(**{**window.__dict__, "tokens_per_step": index.tokens_seen[-1] // max(steps[-1], 1)})
