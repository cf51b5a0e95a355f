"""A run's curves over training and one snapshot's per-head table, from the stored analysis.

Nothing is computed here but downsampling: the values are those `python -m training analyze`
wrote (`training.analyze.analyze_snapshot`), read through the store.
"""

from __future__ import annotations

import numpy as np

from backend.errors import NotFoundError, UnavailableError
from backend.models import Ablations, Composition, HeadScores, HeadTable, RunMetricsResponse, SnapshotLosses, TrainLoss
from backend.services.convert import downsample, floats, scalar
from backend.services.store import ArtifactStore, RunMetrics
from training.schema import head_label

HEAD_METRICS = (
    "prefix_matching",
    "previous_token",
    "duplicate_token",
    "copying",
    "eigenvalue_positivity",
    "logit_attribution",
)
# response field -> stored array (the analysis abbreviates pattern-preserving as "pp")
ABLATIONS = {
    "mean_delta_loss": "ablation_mean_delta_loss",
    "mean_delta_icl": "ablation_mean_delta_icl",
    "pattern_preserving_delta_loss": "ablation_pp_delta_loss",
    "pattern_preserving_delta_icl": "ablation_pp_delta_icl",
}


def _array(metrics: RunMetrics | None, name: str) -> list:
    if metrics is None or name not in metrics.arrays:
        return []
    return floats(metrics.arrays[name])


def _phase(store: ArtifactStore, suite: str, run: str) -> dict | None:
    try:
        return store.analysis(suite, "phase").get(run)
    except NotFoundError:
        return None


def run_metrics(store: ArtifactStore, suite: str, run: str, max_points: int | None = None) -> RunMetricsResponse:
    """Every curve of one run; the training loss downsampled to at most `max_points` points."""
    manifest = store.manifest(suite, run)
    metrics = store.metrics(suite, run)
    steps, values, bucket = downsample(store.train_loss(suite, run), max_points)
    snaps = manifest.get("snapshots", [])
    settings = metrics.index.get("settings", {}) if metrics else {}
    return RunMetricsResponse(
        suite=suite,
        run=run,
        status=manifest.get("status", "unknown"),
        n_layers=manifest["model"]["n_layers"],
        n_heads=manifest["model"]["n_heads"],
        train_loss=TrainLoss(steps=steps.tolist(), values=floats(values), bucket=bucket),
        snapshots=SnapshotLosses(
            steps=[s["step"] for s in snaps],
            tokens_seen=[s["tokens_seen"] for s in snaps],
            train_loss=[None if s.get("train_loss") is None else scalar(s["train_loss"]) for s in snaps],
            heldout_loss=[None if s.get("heldout_loss") is None else scalar(s["heldout_loss"]) for s in snaps],
        ),
        analysed=metrics is not None,
        steps=metrics.steps if metrics else [],
        tokens_seen=metrics.index.get("tokens_seen", []) if metrics else [],
        icl_score=_array(metrics, "icl_score"),
        icl_late=settings.get("icl_late"),
        icl_early=settings.get("icl_early"),
        icl_width=settings.get("icl_width"),
        eval_loss=_array(metrics, "eval_loss"),
        loss_by_position=_array(metrics, "loss_by_position"),
        **{name: _array(metrics, name) for name in HEAD_METRICS},
        composition=Composition(**{m: _array(metrics, f"composition_{m}") for m in "qkv"}),
        ablation=Ablations(**{field: _array(metrics, name) for field, name in ABLATIONS.items()}),
        phase=_phase(store, suite, run),
    )


def head_table(store: ArtifactStore, suite: str, run: str, step: str) -> HeadTable:
    """Every stored score of every head at one analysed snapshot."""
    entry = store.entry(suite, run, step)
    metrics = store.metrics(suite, run)
    if metrics is None or entry["step"] not in metrics.steps:
        raise NotFoundError(
            f"snapshot {suite}/{run} step {entry['step']} has not been analysed yet: run `python -m training analyze`"
        )
    i = metrics.steps.index(entry["step"])
    at = {name: a[i] for name, a in metrics.arrays.items()}
    if "prefix_matching" not in at:
        raise UnavailableError(f"the metrics of {suite}/{run} have no prefix_matching array")
    n_layers, n_heads = at["prefix_matching"].shape
    nan = np.full((n_layers, n_heads), np.nan)
    heads = []
    for layer in range(n_layers):
        for head in range(n_heads):
            row = {name: scalar(at.get(name, nan)[layer, head]) for name in HEAD_METRICS}
            row |= {f"ablation_{field}": scalar(at.get(name, nan)[layer, head]) for field, name in ABLATIONS.items()}
            heads.append(HeadScores(layer=layer, head=head, label=head_label(layer, head), **row))
    return HeadTable(
        suite=suite,
        run=run,
        step=entry["step"],
        tokens_seen=entry["tokens_seen"],
        icl_score=scalar(at["icl_score"]) if "icl_score" in at else None,
        eval_loss=scalar(at["eval_loss"]) if "eval_loss" in at else None,
        heads=heads,
        **{f"composition_{m}": floats(at[f"composition_{m}"]) if f"composition_{m}" in at else [] for m in "qkv"},
    )
