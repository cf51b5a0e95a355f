"""inductionscope's offline package: train suites of small transformers, write snapshots.

Public entry points: `python -m training ...` (see `training.pipeline.cli`); `load_hooked`, which loads
any snapshot as a TransformerLens 3 `HookedTransformer`, and `load_bridge`, the same as a
TransformerLens 4 `TransformerBridge` (in an environment that has TransformerLens 4); and
`metrics_frame` / `metrics_dataset`, a run's or a suite's stored metrics as pandas / xarray.
Each is imported on first call, so that `import training` needs neither TransformerLens.
"""


def load_hooked(run_dir, step="latest", device="cpu", **kwargs):
    """A snapshot as a HookedTransformer (TransformerLens 3); see `training.core.hooked.load_hooked`."""
    from training.core.hooked import load_hooked as _load

    return _load(run_dir, step, device, **kwargs)


def load_bridge(run_dir, step="latest", device="cpu", **kwargs):
    """A snapshot as a TransformerBridge (TransformerLens 4); see `training.core.bridge.load_bridge`."""
    from training.core.bridge import load_bridge as _load

    return _load(run_dir, step, device, **kwargs)


def metrics_frame(path, kind="heads", metrics=None):
    """Stored metrics as a tidy pandas data frame; see `training.core.frames.metrics_frame`."""
    from training.core.frames import metrics_frame as _frame

    return _frame(path, kind, metrics)


def metrics_dataset(run_dir):
    """A run's stored metric arrays as an xarray Dataset; see `training.core.frames.metrics_dataset`."""
    from training.core.frames import metrics_dataset as _dataset

    return _dataset(run_dir)


__all__ = ["load_bridge", "load_hooked", "metrics_dataset", "metrics_frame"]
