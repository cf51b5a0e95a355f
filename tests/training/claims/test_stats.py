"""The shared statistics: smoothing, bootstrap intervals, verdicts, windows."""

from __future__ import annotations

import numpy as np

from training.pipeline.claims import stats
from training.pipeline.claims.stats import Estimate


def test_smooth_is_a_centred_running_mean_that_shrinks_at_the_ends():
    out = stats.smooth(np.array([0.0, 0.0, 5.0, 0.0, 0.0, 0.0]), width=3)
    assert np.allclose(out, [0, 5 / 3, 5 / 3, 5 / 3, 0, 0])
    assert np.allclose(stats.smooth(np.array([1.0, np.nan, 3.0]), width=3), [1, 2, 3])


def test_smooth_works_per_head_along_the_snapshot_axis():
    grid = np.zeros((5, 2, 2))
    grid[2, 1, 0] = 5.0
    assert np.isclose(stats.smooth(grid)[0, 1, 0], 5 / 3) and stats.smooth(grid)[:, 0].sum() == 0


def test_resampled_gives_the_same_interval_every_time_and_covers_the_mean():
    values = np.random.default_rng(1).normal(2.0, 1.0, 50)
    first, again = stats.mean_estimate(values), stats.mean_estimate(values)
    assert first == again and first.low < values.mean() < first.high
    assert first.low > 1.4 and first.high < 2.6


def test_resampled_has_no_interval_for_a_single_item():
    assert stats.mean_estimate(np.array([3.0])) == Estimate(3.0)
    assert np.isnan(stats.mean_estimate(np.array([np.nan])).value)


def test_verdicts_need_the_whole_interval_past_the_threshold():
    assert stats.above(Estimate(0.5, 0.4, 0.6), 0.3) == "pass"
    assert stats.above(Estimate(0.2, 0.1, 0.25), 0.3) == "fail"
    assert stats.above(Estimate(0.32, 0.25, 0.4), 0.3) == "inconclusive"
    assert stats.above(Estimate(0.32), 0.3) == "pass"
    assert stats.below(Estimate(-0.2, -0.3, -0.1), 0.0) == "pass"
    assert stats.below(Estimate(-0.2, -0.3, 0.1), 0.0) == "inconclusive"


def test_combine_fails_on_any_failure_and_ignores_na():
    assert stats.combine(["pass", "inconclusive", "fail"]) == "fail"
    assert stats.combine(["pass", "inconclusive", "n/a"]) == "inconclusive"
    assert stats.combine(["pass", "n/a"]) == "pass"
    assert stats.combine(["n/a"]) == stats.combine([]) == "n/a"


def test_estimate_prints_its_interval_and_stores_it_rounded():
    e = Estimate(0.123456, 0.1, 0.15)
    assert str(e) == "0.123 [0.100, 0.150]" and e.json() == {"value": 0.1235, "ci": [0.1, 0.15]}
    assert str(Estimate(float("nan"))) == "n/a" and str(-Estimate(1.0, 0.5, 2.0)) == (
        "-1.000 [-2.000, -0.500]"
    )


def test_slope_fits_a_line_and_is_nan_without_spread():
    assert np.isclose(stats.slope(np.array([0, 1, 2]), np.array([1, 3, 5])), 2.0)
    assert np.isnan(stats.slope(np.array([1, 1]), np.array([0, 1])))


def test_transition_finds_the_steepest_fall_between_its_ten_and_ninety_percent_levels():
    steps = np.arange(1, 41) * 100
    curve = np.where(np.arange(40) < 20, 0.0, -1.0)  # a step at snapshot 20
    start, end = stats.transition(steps, curve)
    assert start < 20 <= end and end - start <= 5
    assert stats.transition(steps, np.linspace(0, 1, 40)) is None


def test_nearest_picks_the_closest_snapshot():
    assert stats.nearest(np.array([0, 10, 20, 40]), [11, 33]) == [1, 3]


def test_local_slopes_of_a_line_are_its_slope_even_for_close_snapshots():
    x = np.log1p(np.array([10, 100, 101, 1000, 1001, 10_000], dtype=float))
    assert np.allclose(stats.local_slopes(x, 2.0 - 0.5 * x), -0.5)
