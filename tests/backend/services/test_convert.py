"""backend.services.convert: JSON-ready floats and the training-loss downsampling."""

import numpy as np
import torch

from backend.services.convert import downsample, floats, scalar


def test_floats_turns_nan_and_inf_into_none():
    assert floats(np.array([[1.0, np.nan], [np.inf, -2.5]])) == [[1.0, None], [None, -2.5]]
    assert floats(torch.tensor([0.1234567]), decimals=3) == [0.123]
    assert scalar(float("nan")) is None and scalar(np.float32(2)) == 2.0


def test_downsample_keeps_full_resolution_when_it_fits():
    steps, values, bucket = downsample(np.arange(5, dtype=np.float32), 10)
    assert bucket == 1 and steps.tolist() == [1, 2, 3, 4, 5] and values.tolist() == [0, 1, 2, 3, 4]


def test_downsample_averages_buckets_and_keeps_the_last_partial_one():
    steps, values, bucket = downsample(np.arange(10, dtype=np.float32), 3)
    assert bucket == 4
    assert values.tolist() == [1.5, 5.5, 8.5] and steps.tolist() == [2.5, 6.5, 9.5]


def test_downsample_skips_nan_inside_a_bucket():
    _, values, _ = downsample(np.array([1.0, np.nan, 3.0, 5.0]), 2)
    assert values.tolist() == [1.0, 4.0]
