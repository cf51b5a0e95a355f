"""What was measured: per-snapshot metrics files, their stacked arrays and index, the analysis
inputs, the LLC curve, and the suite's tables (phase windows, report, PCA, before-and-after).

A snapshot's metrics file (`metrics/snapshots/step_N.safetensors`) holds one tensor per metric
with, in its metadata, the analysis settings hash, the stage ("live": measured by the trainer,
"full": by the analysis), the coordinates of metrics measured along an axis (periods, offsets)
and the definition version of each metric. A file is *stored* for a metric only if all of these
match and its bytes match their recorded SHA-256; anything else is measured again. Stacking
writes one `.npy` per metric and the index last.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from training.core.artifacts import files, layout
from training.core.artifacts.errors import ArtifactError
from training.core.artifacts.records import LLCCurve, MetricsIndex, PhaseWindow, RecordError, Report, from_json, to_json
from training.core.artifacts.snapshots import read_record

# ---- one snapshot's metrics --------------------------------------------------------------------


def write_snapshot_metrics(
    run_path: Path, step: int, metrics: dict, settings_hash: str, stage: str, coords: dict | None = None
) -> None:
    from training.core.analysis import registry  # imported when used: reading artifacts needs no metric code

    meta = {"settings": settings_hash, "step": str(step), "stage": stage}
    if coords:  # what `_stale` checks: name -> {axis: values} of the metrics measured along one
        meta["coords"] = json.dumps({name: c for name, c in coords.items() if name in metrics}, sort_keys=True)
    versions = {name: v for name, v in registry.versions().items() if name in metrics}
    if versions:  # what `_stale` checks: the definitions these values were measured under
        meta["versions"] = json.dumps(versions, sort_keys=True)
    # each its own copy: a score and a slice of another (icl_live of icl_wide) may share memory,
    # which safetensors refuses
    metrics = {name: v.detach().clone() for name, v in metrics.items()}
    files.atomic_write_safetensors(layout.metrics_snapshot_path(run_path, step), metrics, meta)


def read_snapshot_metrics(path: Path, settings_hash: str, coords: dict | None = None) -> tuple[str | None, dict]:
    """(stage, tensors) of the metrics file at `path`, in one read; (None, {}) as `stored_metrics`
    says, and as there a metric stored with other coordinates than `coords` left out."""
    from safetensors import safe_open

    if not path.exists() or files.check_file(path) is not None:
        return None, {}  # a damaged file is simply measured again
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("settings") != settings_hash:
                return None, {}
            stale = _stale(meta, coords)
            return meta.get("stage", "full"), {k: f.get_tensor(k) for k in f.keys() if k not in stale}  # noqa: SIM118
    except Exception:  # unreadable: measured again
        return None, {}


def stored_metrics(path: Path, settings_hash: str, coords: dict | None = None) -> tuple[str | None, set[str]]:
    """(stage, metric names) of the metrics file at `path`; (None, {}) if it is missing, damaged
    (not its recorded SHA-256, or unreadable: measured again) or measured with other settings. A
    metric stored with other coordinates than `coords` (name -> {axis: values}: the periods and
    offsets, constants of the code rather than settings) or under an older definition is left
    out of the names, so it is measured again."""
    from safetensors import safe_open

    if not path.exists() or files.check_file(path) is not None:
        return None, set()
    try:
        with safe_open(str(path), framework="pt") as f:
            meta, names = f.metadata() or {}, set(f.keys())  # noqa: SIM118 (safe_open has no __iter__)
    except Exception:
        return None, set()
    if meta.get("settings") != settings_hash:
        return None, set()
    return meta.get("stage", "full"), names - _stale(meta, coords)


def stored_stage(path: Path, settings_hash: str) -> str | None:
    """ "live" or "full" if the metrics file at `path` was measured with these settings, else None."""
    return stored_metrics(path, settings_hash)[0]


def _stale(meta: dict, coords: dict | None) -> set[str]:
    """The metrics of `coords` (name -> {axis: values}) that a file's metadata lists with other
    values, and those stored under an older definition (`registry.versions`; a file without a
    version for a metric holds version 1)."""
    from training.core.analysis import registry

    try:
        stored, stored_versions = json.loads(meta.get("coords", "{}")), json.loads(meta.get("versions", "{}"))
    except ValueError:  # unreadable: measure them again
        stored, stored_versions = {}, {}
    other_coords = {name for name, c in (coords or {}).items() if stored.get(name) != c}
    return other_coords | {name for name, v in registry.versions().items() if stored_versions.get(name, 1) != v}


# ---- the stacked arrays and their index ----------------------------------------------------------


def write_metric_array(run_path: Path, name: str, array: np.ndarray) -> str:
    """Write a metric stacked over snapshots; returns its file name inside `metrics/`."""
    file = layout.metric_array_name(name)
    files.atomic_write_npy(layout.metrics_dir(run_path) / file, array)
    return file


def read_metrics_index(run_path: Path) -> MetricsIndex:
    """The run's metrics index; ArtifactError if there is none or it does not fit."""
    return read_record(MetricsIndex, layout.metrics_index_path(run_path))


def write_metrics_index(run_path: Path, index: MetricsIndex) -> None:
    files.atomic_write_json(layout.metrics_index_path(run_path), to_json(index))


def read_metric(run_path: Path, name: str, index: MetricsIndex | None = None) -> np.ndarray:
    """One stacked metric array, first axis = the index's `steps`."""
    index = index or read_metrics_index(run_path)
    if name not in index.arrays:
        raise ArtifactError(f"run {Path(run_path).name!r} has no metric {name!r}")
    return files.read_npy(layout.metrics_dir(run_path) / index.arrays[name].file)


# ---- what an analysis measures on ----------------------------------------------------------------


def write_analysis_inputs(run_path: Path, tensors: dict, settings: dict[str, Any]) -> None:
    """Store the token sets a run is measured on, and the settings they were built with, so
    that readers (the service) use exactly the analysis's inputs without rebuilding them."""
    files.atomic_write_safetensors(layout.inputs_path(run_path), tensors, {"settings": json.dumps(settings)})


def read_analysis_inputs(run_path: Path) -> tuple[dict, dict[str, Any]]:
    """(tensors, settings) as `write_analysis_inputs` stored them; ArtifactError if absent."""
    from safetensors import SafetensorError, safe_open

    path = layout.inputs_path(run_path)
    if not path.exists():
        raise ArtifactError(f"missing file {path}: the run has no analysis inputs yet")
    try:
        with safe_open(str(path), framework="pt") as f:
            settings = json.loads(f.metadata()["settings"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise ArtifactError(f"corrupt file {path}: {e}") from None
    return tensors, settings


# ---- the LLC and the suite's tables --------------------------------------------------------------


def read_llc(run_path: Path) -> LLCCurve:
    """The run's LLC over training; ArtifactError if it has none or the file does not fit."""
    return read_record(LLCCurve, layout.llc_path(run_path))


def write_llc(run_path: Path, curve: LLCCurve) -> None:
    files.atomic_write_json(layout.llc_path(run_path), to_json(curve))


def read_phases(suite_path: Path) -> dict[str, PhaseWindow]:
    """`analysis/phase.json`: the phase window (or why there is none) of every analysed run."""
    path = layout.phases_path(suite_path)
    try:
        return from_json(dict[str, PhaseWindow], files.read_json(path), str(path))
    except RecordError as e:
        raise ArtifactError(str(e)) from None


def write_phases(suite_path: Path, phases: dict[str, PhaseWindow]) -> None:
    files.atomic_write_json(layout.phases_path(suite_path), to_json(phases))


def read_report(suite_path: Path) -> Report:
    return read_record(Report, layout.report_path(suite_path))


def read_report_markdown(suite_path: Path) -> str | None:
    path = layout.report_path(suite_path, markdown=True)
    return path.read_text(errors="replace") if path.is_file() else None


def write_report(suite_path: Path, report: Report, markdown: str) -> None:
    files.atomic_write_json(layout.report_path(suite_path), to_json(report))
    files.atomic_write_bytes(layout.report_path(suite_path, markdown=True), markdown.encode())


def read_analysis(suite_path: Path, name: str) -> Any:
    """A suite-level analysis table as stored: "pca" or "before_after" (plain JSON)."""
    return files.read_json(layout.table_path(suite_path, name))


def write_analysis(suite_path: Path, name: str, table: Any) -> None:
    files.atomic_write_json(layout.table_path(suite_path, name), table)
