"""A run's curves over training, one snapshot's per-head table, the metric registry, and what
is training now: all from the stored metrics (live or analysed), read through the store.

Nothing is computed here but downsampling, the maximum over heads (`science.best_heads`), where
it first passes the induction threshold (`trajectory.first_crossing`), the drawn ICL score's
interval (`loss.mean_interval`) and, while a run trains and has no stored phase window yet, the
phase-window detector on its live curves. Every per-head metric of the registry that is stored is served, by name: adding one to
the registry is enough to see it here; so is one measured along a third axis (the period sweep,
the offsets), in the head table's `profiles` with the values along that axis the index stores.
"""

from __future__ import annotations

import time

import numpy as np

from backend.errors import NotFoundError, UnavailableError
from backend.models import (
    BestHeads,
    Composition,
    HeadFormed,
    HeadProfile,
    HeadTable,
    IclCurve,
    MetricInfo,
    MetricRegistry,
    RunMetricsResponse,
    SnapshotLosses,
    SuiteStatus,
    TrainingStatus,
    TrainLoss,
)
from backend.services.convert import downsample, floats, scalar
from backend.services.store import ArtifactStore, RunMetrics
from training.core.science import (
    INDUCTION_THRESHOLD,
    PhaseWindow,
    best_heads,
    head_label,
    loss,
    registry,
    trajectory,
)

STALE_PROGRESS_S = 60.0  # a trainer that has not written its progress for this long has stopped


def metric_registry() -> MetricRegistry:
    return MetricRegistry(
        metrics=[MetricInfo(**m) for m in registry.describe()], induction_threshold=INDUCTION_THRESHOLD
    )


def _array(metrics: RunMetrics | None, name: str) -> list:
    if metrics is None or name not in metrics.arrays:
        return []
    return floats(metrics.arrays[name])


def _per_head(metrics: RunMetrics | None) -> list[str]:
    if metrics is None:
        return []
    return [m.name for m in registry.METRICS if m.per_head and m.name in metrics.arrays]


def _profiles(metrics: RunMetrics, i: int, where: str) -> dict[str, HeadProfile]:
    """Every stored per-head metric measured along a third axis, at the i-th measured snapshot."""
    profiles = {}
    for m in registry.METRICS:
        if m.along is None or m.name not in metrics.arrays:
            continue
        array, info = metrics.arrays[m.name][i], metrics.index.arrays[m.name]  # (layer, head, coordinate)
        coords = info.coords.get(m.along)
        if coords is None or len(coords) != array.shape[-1]:
            raise UnavailableError(
                f"metrics index of {where} does not give the {array.shape[-1]} {m.along} values of {m.name}: "
                "analyse the run again"
            )
        profiles[m.name] = HeadProfile(axis=m.along, coords=coords, values=floats(array))
    return profiles


def best_of(grids: np.ndarray) -> BestHeads:
    """Per snapshot of a `[snapshot layer head]` stack, its largest value over heads and that head
    (`science.best_heads`, the one definition), as the service answers it: the head as "L1H3"."""
    values, heads = best_heads(grids)
    return BestHeads(values=values, heads=[None if h is None else head_label(*h) for h in heads])


# the per-context values each ICL score is the mean of: what its interval is computed from
BY_CONTEXT = {"icl_wide": "icl_wide_by_example", "icl_live": "icl_live_by_example", "icl_score": "icl_by_example"}
ICL_SOURCE = {
    "icl_wide": "the full analysis",
    "icl_live": "the trainer's live score",
    "icl_score": "the evaluation contexts (measured before the live score had more)",
}


def icl_curve(metrics: RunMetrics | None) -> IclCurve | None:
    """The ICL curve the run is drawn with (`trajectory.icl_metric`: the one its phase window
    reads) and its 95% interval over the contexts it averages."""
    if metrics is None or not metrics.steps:
        return None
    name = trajectory.icl_metric(metrics.index)
    values = [None if v is None else scalar(v) for v in metrics.index.scalars[name]]
    by_context = metrics.arrays.get(BY_CONTEXT[name])
    if by_context is None or len(by_context) != len(values):
        low = high = [None] * len(values)
        contexts = None
    else:
        by_context = np.asarray(by_context).reshape(len(values), -1)
        low, high = (floats(a) for a in loss.mean_interval(by_context))
        contexts = by_context.shape[1]
    where = f"{contexts} held-out contexts" if contexts else "held-out contexts"
    return IclCurve(
        metric=name,
        contexts=contexts,
        label=f"ICL score on {where}, from {ICL_SOURCE[name]}",
        values=values,
        low=low,
        high=high,
    )


def formed(metrics: RunMetrics | None) -> HeadFormed | None:
    """Where the run's best head first passes the induction threshold, if it has."""
    if metrics is None or "prefix_matching" not in metrics.arrays or not metrics.steps:
        return None
    crossing = trajectory.first_crossing(metrics.arrays["prefix_matching"], INDUCTION_THRESHOLD)
    if crossing is None:
        return None
    return HeadFormed(
        step=metrics.steps[crossing.index],
        tokens_seen=metrics.index.tokens_seen[crossing.index],
        layer=crossing.layer,
        head=crossing.head,
        label=head_label(crossing.layer, crossing.head),
        score=round(crossing.value, 4),
        threshold=INDUCTION_THRESHOLD,
    )


def phase(store: ArtifactStore, suite: str, run: str, metrics: RunMetrics | None) -> PhaseWindow | None:
    """The stored phase window of the run; while it has none (still training, not analysed),
    the detector's answer on the live curves, so the window shows as soon as it exists."""
    try:
        stored = store.analysis(suite, "phase").get(run)
    except NotFoundError:
        stored = None
    if stored is not None and (metrics is None or metrics.index.complete):
        return stored
    if metrics is None or len(metrics.steps) < 3 or "max_prefix_matching" not in metrics.index.scalars:
        return stored
    return trajectory.phase_window(metrics.index)


def run_metrics(store: ArtifactStore, suite: str, run: str, max_points: int | None = None) -> RunMetricsResponse:
    """Every curve of one run; the training loss downsampled to at most `max_points` points."""
    manifest = store.manifest(suite, run)
    metrics = store.metrics(suite, run)
    steps, values, bucket = downsample(store.train_loss(suite, run), max_points)
    snaps = manifest.snapshots
    settings = metrics.index.settings if metrics else {}
    stages = metrics.index.stages if metrics else []
    return RunMetricsResponse(
        suite=suite,
        run=run,
        status=manifest.status,
        n_layers=manifest.model["n_layers"],
        n_heads=manifest.model["n_heads"],
        train_loss=TrainLoss(steps=steps.tolist(), values=floats(values), bucket=bucket),
        snapshots=SnapshotLosses(
            steps=[s.step for s in snaps],
            tokens_seen=[s.tokens_seen for s in snaps],
            train_loss=[None if s.train_loss is None else scalar(s.train_loss) for s in snaps],
            heldout_loss=[None if s.heldout_loss is None else scalar(s.heldout_loss) for s in snaps],
        ),
        analysed=bool(stages) and all(s == "full" for s in stages),
        live="live" in stages,
        steps=metrics.steps if metrics else [],
        tokens_seen=metrics.index.tokens_seen if metrics else [],
        stages=stages,
        icl_score=_array(metrics, "icl_score"),
        icl_wide=_array(metrics, "icl_wide"),
        icl_live=_array(metrics, "icl_live"),
        icl=icl_curve(metrics),
        formed=formed(metrics),
        icl_late=settings.get("icl_late"),
        icl_early=settings.get("icl_early"),
        icl_width=settings.get("icl_width"),
        eval_loss=_array(metrics, "eval_loss"),
        loss_by_position=_array(metrics, "loss_by_position"),
        head_metrics={name: _array(metrics, name) for name in _per_head(metrics)},
        best_heads={name: best_of(metrics.arrays[name]) for name in _per_head(metrics)},
        composition=Composition(**{m: _array(metrics, f"composition_{m}") for m in "qkv"}),
        phase=phase(store, suite, run, metrics),
        progress=store.progress(suite, run) if manifest.status == "training" else None,
        stop=manifest.train.get("stop", "steps"),
        phase_end=manifest.phase_end,
        ablations=bool(settings.get("ablations", manifest.analysis.get("ablations", True))),
        source=str(manifest.train.get("source_kind", "")),
    )


def head_table(store: ArtifactStore, suite: str, run: str, step: str) -> HeadTable:
    """Every stored score of every head at one measured snapshot (live or analysed)."""
    entry = store.entry(suite, run, step)
    metrics = store.metrics(suite, run)
    if metrics is None or entry.step not in metrics.steps:
        raise NotFoundError(
            f"snapshot {suite}/{run} step {entry.step} has no metrics yet: the trainer measures each "
            "snapshot as it writes it, and the analysis follows when the run is trained"
        )
    i = metrics.steps.index(entry.step)
    at = {name: a[i] for name, a in metrics.arrays.items()}
    return HeadTable(
        suite=suite,
        run=run,
        step=entry.step,
        tokens_seen=entry.tokens_seen,
        stage=metrics.index.stages[i],
        icl_score=scalar(at["icl_score"]) if "icl_score" in at else None,
        eval_loss=scalar(at["eval_loss"]) if "eval_loss" in at else None,
        scores={name: floats(at[name]) for name in _per_head(metrics)},  # (layer, head) as stored
        profiles=_profiles(metrics, i, f"{suite}/{run}"),
        **{f"composition_{m}": floats(at[f"composition_{m}"]) if f"composition_{m}" in at else [] for m in "qkv"},
    )


def suite_status(store: ArtifactStore, suite: str) -> SuiteStatus:
    """Which runs train now (their progress is fresh), and every run's status."""
    training, statuses = [], {}
    now = time.time()
    for run in store.runs(suite):
        manifest = store.manifest(suite, run)
        statuses[run] = manifest.status
        progress = store.progress(suite, run) if manifest.status == "training" else None
        if progress is None or now - progress.updated > STALE_PROGRESS_S:
            if manifest.status == "training":
                statuses[run] = "interrupted"
            continue
        best, head = None, None
        metrics = store.metrics(suite, run)
        if metrics is not None and "prefix_matching" in metrics.arrays and metrics.steps:
            latest = best_of(metrics.arrays["prefix_matching"][-1:])
            best, head = latest.values[0], latest.heads[0]
        training.append(
            TrainingStatus(
                run=run,
                step=progress.step,
                steps=progress.steps,
                tokens_per_s=progress.tokens_per_s,
                elapsed_s=progress.elapsed_s,
                eta_s=progress.eta_s,
                stop=manifest.train.get("stop", "steps"),
                updated_s_ago=round(max(now - progress.updated, 0.0), 1),
                best_head=head,
                best_score=None if best is None or not np.isfinite(best) else round(best, 4),
            )
        )
    return SuiteStatus(suite=suite, training=training, runs=statuses)
