"""Arrays to JSON-ready lists: non-finite values become None (JSON has no NaN)."""

from __future__ import annotations

import warnings

import numpy as np
import torch


def floats(x, *, decimals: int | None = None) -> list:
    """A tensor or array (any shape) as nested lists of floats, NaN and ±inf as None.

    `decimals` rounds first: attention weights and probabilities need no more than 6, and the
    shorter numbers halve the size of a pattern's JSON.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if decimals is not None:
        a = np.round(a, decimals)
    finite = np.isfinite(a)
    if finite.all():
        return a.tolist()
    return np.where(finite, a, None).tolist()


def scalar(x) -> float | None:
    value = float(x)
    return value if np.isfinite(value) else None


def downsample(values: np.ndarray, max_points: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-step values (index i: step i + 1) as (steps, values, bucket): means over buckets of
    `bucket` consecutive steps, with `bucket` the smallest that gives at most `max_points`
    points; each point sits at its bucket's mean step. NaNs are left out of a bucket's mean."""
    steps = np.arange(1, len(values) + 1, dtype=np.float64)
    if max_points is None or len(values) <= max_points:
        return steps, values.astype(np.float64), 1
    bucket = -(-len(values) // max_points)  # ceil
    n = len(values) // bucket * bucket
    head = values[:n].astype(np.float64).reshape(-1, bucket)
    mean_steps = steps[:n].reshape(-1, bucket).mean(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN bucket's mean is NaN
        means = np.nanmean(head, axis=1)
        if n < len(values):  # the last, shorter bucket
            means = np.append(means, np.nanmean(values[n:].astype(np.float64)))
            mean_steps = np.append(mean_steps, steps[n:].mean())
    return mean_steps, means, bucket
