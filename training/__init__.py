"""inductionscope's offline package: train suites of small transformers, write snapshots.

Public entry points: `python -m training ...` (see `training.cli`) and `load_hooked`, which
loads any snapshot as a `transformer_lens.HookedTransformer`.
"""


def load_hooked(run_dir, step="latest", device="cpu", **kwargs):
    """A snapshot as a HookedTransformer; see `training.hooked.load_hooked`."""
    from training.hooked import load_hooked as _load

    return _load(run_dir, step, device, **kwargs)


__all__ = ["load_hooked"]
