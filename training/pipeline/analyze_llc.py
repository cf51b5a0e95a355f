"""The local learning coefficient over training, as a step of the analysis.

`python -m training analyze artifacts/<suite>` (and `train`, after each run) estimates the LLC
(`training.core.analysis.llc`, with devinterp's SGLD) of every `llc.every`-th snapshot of a run, and
of its last, for the runs its LLC settings name (`LLCConfig.runs`; the `default` preset: attn2
and attn1). Another run, or other settings, from the command line:

    python -m training analyze artifacts/default --runs attn3 --set llc.runs=attn3
    python -m training analyze artifacts/default --set llc.every=4 --set llc.draws=200

Incremental, like the rest of the analysis: `metrics/llc.json` holds every estimate with the
sampler settings it was made with; a pass estimates only the chosen snapshots it lacks (all of
them again when the sampler settings change), rewriting the file atomically after each, so an
interrupted pass continues where it stopped. Nothing else is read or written but the snapshots,
the training split and the manifest: the LLC settings are not `AnalysisConfig`'s, whose hash
decides whether every stored metric is measured again.
"""

from __future__ import annotations

import dataclasses
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from training.core.analysis.llc import LLCEstimate, estimate_llc
from training.core.artifacts import schema
from training.core.artifacts.records import LLCCurve, LLCPoint, Manifest, SnapshotEntry
from training.core.config import ConfigError, LLCConfig
from training.pipeline import data, presets
from training.pipeline.analyze import snapshot_fast
from training.pipeline.config import override

# The contexts are drawn as the trainer draws a batch (`data.train_batch`: random windows of the
# training split, with the suite's repeats), at a step no run reaches, so they are fresh windows
# of the training distribution rather than one of the batches the model was trained on.
LLC_DATA_STEP = 2**40


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(the analysis's overrides, the LLC's): `llc.key=value` strings are the LLC's."""
    llc = [o for o in overrides if o.split("=", 1)[0].strip().startswith("llc.")]
    return [o for o in overrides if o not in llc], llc


def llc_config(manifest: Manifest, overrides: list[str] = ()) -> LLCConfig:
    """The run's LLC settings, overridden by `llc.key=value` strings: as its manifest records
    them; for a run trained before manifests did, its preset's (`LLCConfig()`, no runs, if the
    preset is unknown)."""
    if manifest.llc:
        try:
            base = LLCConfig(**{**manifest.llc, "runs": tuple(manifest.llc.get("runs", ()))})
        except TypeError as e:  # a field this code does not know
            raise ConfigError(
                f"{manifest.suite}/{manifest.run}/manifest.json: field 'llc' does not load: {e}"
            ) from None
    elif manifest.preset in presets.names():
        base = presets.load(manifest.preset).llc
    else:
        base = LLCConfig()
    return override({"llc": base}, list(overrides))["llc"]


def llc_entries(manifest: Manifest, every: int) -> list[SnapshotEntry]:
    """The snapshots whose LLC is estimated: the every-th, 2*every-th, ... and the last."""
    snaps = manifest.snapshots
    chosen = snaps[every - 1 :: every]
    if snaps and (not chosen or chosen[-1].step != snaps[-1].step):
        chosen.append(snaps[-1])
    return chosen


def llc_sequences(suite_path: Path, manifest: Manifest, cfg: LLCConfig) -> torch.Tensor:
    """The `cfg.batches * cfg.batch_size` training contexts every SGLD chain cycles through."""
    config = manifest.data.get("config", {})
    return data.train_batch(
        data.load_split(suite_path, "train"),
        LLC_DATA_STEP,
        seed=cfg.seed,
        batch_size=cfg.batches * cfg.batch_size,
        n_ctx=manifest.model["n_ctx"],
        repeat_fraction=config.get("repeat_fraction", 0.0),
        repeat_layout=config.get("repeat_layout", "half"),
    )


def _finite(x: float) -> float | None:
    return round(float(x), 6) if np.isfinite(x) else None


def llc_point(entry: SnapshotEntry, estimate: LLCEstimate, seconds: float) -> LLCPoint:
    return LLCPoint(
        step=entry.step,
        tokens_seen=entry.tokens_seen,
        mean=_finite(estimate.mean),
        std=_finite(estimate.std),
        per_chain=[_finite(x) for x in estimate.per_chain],
        init_loss=round(estimate.init_loss, 6),
        loss_trace=[[_finite(x) for x in chain] for chain in estimate.loss_trace],
        seconds=round(seconds, 2),
    )


def stored_points(run_path: Path, settings_hash: str) -> list[LLCPoint]:
    """The run's estimates made with these sampler settings (none if the file is missing,
    unreadable or from other settings: those are simply estimated again)."""
    try:
        curve = schema.read_llc(run_path)
    except schema.ArtifactError:
        return []
    return curve.points if curve.settings.get("hash") == settings_hash else []


def analyze_run_llc(run_path: Path, cfg: LLCConfig, log=print) -> LLCCurve | None:
    """Estimate the LLC of every chosen snapshot of the run that has none yet; None if the
    settings do not name the run or it has no snapshots."""
    manifest = schema.read_manifest(run_path)
    if run_path.name not in cfg.runs or not manifest.snapshots:
        return None
    settings = {**cfg.sampler_settings(), "hash": cfg.settings_hash(), "devinterp": version("devinterp")}
    known = {e.step for e in manifest.snapshots}
    points = [p for p in stored_points(run_path, cfg.settings_hash()) if p.step in known]
    done = {p.step for p in points}
    todo = [e for e in llc_entries(manifest, cfg.every) if e.step not in done]
    curve = LLCCurve(run=run_path.name, settings=settings, points=points)
    if not todo:
        return curve
    sequences = llc_sequences(run_path.parent, manifest, cfg)
    t0 = time.perf_counter()
    for n, entry in enumerate(todo):
        t = time.perf_counter()
        estimate = estimate_llc(snapshot_fast(run_path, manifest, entry), sequences, cfg)
        points = sorted([*points, llc_point(entry, estimate, time.perf_counter() - t)], key=lambda p: p.step)
        curve = dataclasses.replace(curve, points=points)
        schema.write_llc(run_path, curve)
        if estimate.diverged:
            log(f"{run_path.name}: LLC at step {entry.step}: {estimate.diverged}/{cfg.chains} chains diverged")
        if n % 5 == 4 or n == len(todo) - 1:
            elapsed = time.perf_counter() - t0
            log(
                f"{run_path.name}: LLC of {n + 1}/{len(todo)} snapshots "
                f"({elapsed:.0f} s, {elapsed / (n + 1):.1f} s per snapshot)"
            )
    return curve
