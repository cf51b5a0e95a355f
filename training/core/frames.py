"""A run's (or a suite's) stored metrics as tidy pandas data frames, and as an xarray Dataset.

What a notebook, a spreadsheet or R wants from `metrics/`: one row per measured value.

- `metrics_frame(path)`: the per-head metrics (every registry metric with axes `(layer, head)`:
  prefix matching, previous and duplicate token, copying, ..., the ablation effects), columns
  `run, step, tokens, stage, layer, head, metric, value`;
- `metrics_frame(path, kind="curves")`: the per-snapshot scalars (the registry's scalar metrics,
  `eval_loss` and `icl_score`, and the index's `heldout_loss`, `train_loss` and
  `max_prefix_matching`), columns `run, step, tokens, stage, metric, value`;
- `metrics_dataset(run_dir)`: every stacked array with its named axes (`step`, `layer`,
  `head`, `context_index`, `layer_from`, `period`, ...), for the arrays a long table flattens
  badly (loss by position, composition scores, prefix matching by period, attention by offset).

`path` is a run folder or a suite folder (every run with metrics, in name order). A value not
measured at a snapshot (an analysis metric at a snapshot the trainer only measured live, an
ablation at a skipped snapshot) has no row. Values are the stored float32 numbers, unchanged.
Everything is read through `training.core.artifacts.schema`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from training.core.analysis import registry
from training.core.analysis.registry import PER_HEAD
from training.core.artifacts import schema
from training.core.artifacts.records import MetricsIndex

Kind = Literal["heads", "curves"]
KINDS: tuple[str, ...] = ("heads", "curves")
HEAD_COLUMNS = ("run", "step", "tokens", "stage", "layer", "head", "metric", "value")
CURVE_COLUMNS = ("run", "step", "tokens", "stage", "metric", "value")
DTYPES = {"run": "str", "step": "int64", "tokens": "int64", "stage": "str", "layer": "int64", "head": "int64",
          "metric": "str", "value": "float32"}  # fmt: skip
# The index's per-snapshot scalars that are not stacked arrays (the training and held-out loss
# the trainer recorded with the snapshot, the maximum prefix-matching score over heads).
INDEX_CURVES = ("heldout_loss", "train_loss", "max_prefix_matching")


def metrics_frame(path: Path | str, kind: Kind = "heads", metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """The stored metrics of a run folder, or of every measured run of a suite folder, as one
    long data frame (see the module docstring for `kind`'s columns; a run not measured yet has
    no rows). `metrics` keeps only the named ones; a name that is not a metric of that kind is
    a ValueError listing the valid ones."""
    wanted = _wanted(kind, metrics)
    parts = []
    for run_path in _runs(path):
        if (schema.metrics_dir(run_path) / schema.METRICS_INDEX).is_file():
            index = schema.read_metrics_index(run_path)
            parts.append(_frame(index, lambda name, p=run_path, i=index: _checked(p, name, i), kind, wanted))
    return _concat(parts, kind)


def run_frame(
    index: MetricsIndex, arrays: Mapping[str, np.ndarray], kind: Kind = "heads", metrics: Iterable[str] | None = None
) -> pd.DataFrame:
    """The same frame from a run's metrics index and its stacked arrays already in memory (what
    the REST service holds), each array's first axis the index's steps."""
    return _concat([_frame(index, arrays.__getitem__, kind, _wanted(kind, metrics))], kind)


def metrics_dataset(run_dir: Path | str):
    """Every stacked metric array of a run as an `xarray.Dataset`: one variable per metric, its
    dimensions the stored axes with `snapshot` named `step` (coordinates: the steps, with
    `tokens` and `stage` alongside), every other axis (`layer`, `head`, ...) numbered from 0,
    except those with stored coordinates (`period`: the repeat periods, `offset`: the offsets)."""
    import xarray as xr

    run_path = Path(run_dir)
    index = schema.read_metrics_index(run_path)
    coords = {"step": index.steps, "tokens": ("step", index.tokens_seen), "stage": ("step", index.stages)}
    variables = {}
    for name, info in index.arrays.items():
        dims = ["step" if a == "snapshot" else a for a in info.axes]
        variables[name] = xr.DataArray(_checked(run_path, name, index), dims=dims)
    dataset = xr.Dataset(variables, coords=coords, attrs={"run": index.run, **_flat(index.settings)})
    # every other axis is numbered from 0, so that `.sel(layer=1, head=0)` works, or has its
    # stored values, so that `.sel(period=128)` does
    stored = {axis: values for info in index.arrays.values() for axis, values in info.coords.items()}
    return dataset.assign_coords({d: stored.get(d, np.arange(n)) for d, n in dataset.sizes.items() if d != "step"})


# ---- helpers -----------------------------------------------------------------------------


def _runs(path: Path | str) -> list[Path]:
    """`path` itself if it is a run folder; every run of it if it is a suite folder."""
    path = Path(path)
    if (path / schema.MANIFEST).is_file():
        return [path]
    if schema.tokenizer_path(path).is_file():
        return [path / r for r in schema.list_runs(path)]
    raise schema.ArtifactError(f"{path} is neither a run folder (no {schema.MANIFEST}) nor a suite folder")


def _wanted(kind: str, metrics: Iterable[str] | None) -> list[str]:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    # read at call time, so that a metric added to the registry is listed here too
    if kind == "heads":
        valid = tuple(m.name for m in registry.METRICS if m.per_head)
    else:
        valid = tuple(m.name for m in registry.METRICS if m.axes == ()) + INDEX_CURVES
    if metrics is None:
        return list(valid)
    wanted = list(metrics)
    for name in wanted:
        if name not in valid:
            raise ValueError(f"{name!r} is not a {kind} metric: use one of {', '.join(valid)}")
    return wanted


def _checked(run_path: Path, name: str, index: MetricsIndex) -> np.ndarray:
    """A stacked array whose first axis matches the index's steps (the writer restacks the
    arrays before it rewrites the index, so a mismatch means a rewrite is under way)."""
    array = schema.read_metric(run_path, name, index)
    if array.shape[:1] != (len(index.steps),):
        raise schema.ArtifactError(
            f"{schema.metrics_dir(run_path) / index.arrays[name].file}: {array.shape[0]} snapshots, "
            f"the index lists {len(index.steps)} (being rewritten? read again in a moment)"
        )
    return array


def _frame(index: MetricsIndex, array: Callable[[str], np.ndarray], kind: str, wanted: list[str]) -> pd.DataFrame:
    """One run's rows, in registry order, then step, layer and head order."""
    parts = []
    for name in wanted:
        if kind == "heads" and name in index.arrays and index.arrays[name].axes == ["snapshot", *PER_HEAD]:
            grids = array(name)  # (snapshot, layer, head)
            snap, layer, head = np.nonzero(~np.isnan(grids))  # row-major: step, then layer, then head
            parts.append(_rows(index, snap, name, grids[snap, layer, head], layer=layer, head=head))
        elif kind == "curves" and name in index.arrays and index.arrays[name].axes == ["snapshot"]:
            values = array(name)  # (snapshot,)
            snap = np.flatnonzero(~np.isnan(values))
            parts.append(_rows(index, snap, name, values[snap]))
        elif kind == "curves" and name in INDEX_CURVES and name in index.scalars:
            values = np.array([np.nan if v is None else v for v in index.scalars[name]], dtype=np.float32)
            snap = np.flatnonzero(~np.isnan(values))
            parts.append(_rows(index, snap, name, values[snap]))
    return _concat(parts, kind)


def _rows(index: MetricsIndex, snap: np.ndarray, metric: str, values: np.ndarray, **heads) -> pd.DataFrame:
    steps, tokens, stages = np.asarray(index.steps), np.asarray(index.tokens_seen), np.asarray(index.stages)
    columns = {"run": index.run, "step": steps[snap], "tokens": tokens[snap], "stage": stages[snap]}
    return pd.DataFrame({**columns, **heads, "metric": metric, "value": values.astype(np.float32)})


def _columns(kind: str) -> tuple[str, ...]:
    return HEAD_COLUMNS if kind == "heads" else CURVE_COLUMNS


def _empty(kind: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=DTYPES[c]) for c in _columns(kind)})


def _concat(parts: list[pd.DataFrame], kind: str) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    frame = pd.concat(parts, ignore_index=True) if parts else _empty(kind)
    return frame[list(_columns(kind))].astype({c: DTYPES[c] for c in _columns(kind)})


def _flat(settings: dict) -> dict:
    """The analysis settings as netCDF-safe attributes (scalars only)."""
    return {k: v for k, v in settings.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
