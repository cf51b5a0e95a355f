"""Joint PCA, the before-and-after vector, ablation alignment and phase-change detection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.core.analysis.trajectory import (
    ablation_alignment,
    ablation_projection,
    before_after_vector,
    detect_phase_change,
    first_crossing,
    icl_metric,
    joint_pca,
    phase_over,
    phase_window,
)
from training.core.artifacts.records import MetricsIndex

U = torch.tensor([0.0, 0.6, 0.8, 0.0, 0.0])
V = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0])
A = torch.tensor([3.0, 3.0, -3.0, -3.0])  # coordinates along U; centred, orthogonal to B
B = torch.tensor([1.0, -1.0, 1.0, -1.0])
MEAN = torch.tensor([2.0, 1.0, 0.5, 3.0, 2.0])


def test_joint_pca_recovers_hand_made_axes_and_variance_shares():
    vectors = MEAN + A[:, None] * U + B[:, None] * V  # (snapshot, token)
    pca = joint_pca(vectors, n_components=2)
    torch.testing.assert_close(pca.explained_variance_ratio, torch.tensor([36 / 40, 4 / 40]))
    torch.testing.assert_close(pca.components, torch.stack([U, V]), atol=1e-6, rtol=0)
    torch.testing.assert_close(pca.coords, torch.stack([A, B], dim=1), atol=1e-5, rtol=0)
    torch.testing.assert_close(pca.mean, MEAN)


def test_joint_pca_signs_do_not_depend_on_the_data_orientation():
    vectors = MEAN + A[:, None] * U + B[:, None] * V
    mirrored = 2 * MEAN - vectors  # every deviation flipped
    pca, pca_mirrored = joint_pca(vectors, 2), joint_pca(mirrored, 2)
    torch.testing.assert_close(pca_mirrored.components, pca.components)
    torch.testing.assert_close(pca_mirrored.coords, -pca.coords)


def test_joint_pca_of_identical_rows_explains_nothing():
    pca = joint_pca(torch.ones(3, 4), n_components=2)
    assert (pca.explained_variance_ratio == 0).all() and (pca.coords == 0).all()


def test_before_after_vector_is_the_unit_loss_change():
    before, after = torch.tensor([3.0, 3.0, 3.0]), torch.tensor([3.0, 0.0, 7.0])
    torch.testing.assert_close(before_after_vector(before, after), torch.tensor([0.0, -0.6, 0.8]))
    assert (before_after_vector(before, before) == 0).all()


def test_ablation_alignment_is_plus_one_for_an_ablation_that_undoes_the_phase_change():
    phase = before_after_vector(torch.tensor([3.0, 3.0, 3.0]), torch.tensor([3.0, 0.0, 7.0]))
    deltas = torch.stack(
        [
            -5.0 * phase,  # undoes it (any size)
            phase,  # repeats it
            torch.tensor([1.0, 0.0, 0.0]),  # unrelated token
            torch.zeros(3),  # a head whose ablation changes nothing
        ]
    ).reshape(2, 2, 3)  # (layer, head, token)
    torch.testing.assert_close(ablation_alignment(deltas, phase), torch.tensor([[1.0, -1.0], [0.0, 0.0]]))


def test_ablation_projection_is_the_share_of_the_change_undone():
    change = torch.tensor([0.0, -3.0, 4.0])  # after - before, |change|^2 = 25
    deltas = torch.stack(
        [
            -change,  # undoes all of it
            -0.5 * change,  # half of it
            change,  # repeats it
            torch.tensor([5.0, 0.0, 0.0]),  # orthogonal: undoes none
        ]
    ).reshape(2, 2, 3)
    torch.testing.assert_close(ablation_projection(deltas, change), torch.tensor([[1.0, 0.5], [-1.0, 0.0]]))
    assert ablation_projection(deltas, torch.zeros(3)).isnan().all()


def sigmoid_run(centre: float, icl_centre: float | None = None):
    """Snapshots at log-spaced steps; the max prefix score and ICL change around `centre`."""
    steps = np.unique(np.geomspace(10, 100_000, 40).astype(int))
    u = np.log(steps)
    rise = 1 / (1 + np.exp(-4 * (u - math.log(centre))))
    icl_rise = rise if icl_centre is None else 1 / (1 + np.exp(-4 * (u - math.log(icl_centre))))
    return steps, -0.05 - 0.8 * icl_rise, 0.05 + 0.8 * rise


def test_phase_change_window_brackets_the_sigmoid_rise():
    steps, icl, prefix = sigmoid_run(centre=1000)
    window = detect_phase_change(steps, icl, prefix)
    assert window.found, window.reason
    # The 10% and 90% levels of the rise are at 1000 * exp(-+ln(9)/4) = 577 and 1733.
    assert 300 <= window.start_step <= 577 and 1733 <= window.end_step <= 3500
    assert window.icl_fraction > 0.8


def test_phase_change_is_not_found_for_a_flat_curve():
    steps = np.arange(0, 2000, 100)
    window = detect_phase_change(steps, np.full(20, -0.1), np.full(20, 0.05))
    assert not window.found
    assert "never exceeds 0.3" in window.reason


def test_phase_change_is_not_found_when_the_score_is_high_from_the_start():
    steps = np.arange(0, 2000, 100)
    window = detect_phase_change(steps, np.linspace(0, -1, 20), np.full(20, 0.6))
    assert not window.found and "rises by only" in window.reason


def test_phase_change_needs_the_icl_score_to_fall_in_the_same_window():
    steps, icl, prefix = sigmoid_run(centre=300, icl_centre=30_000)
    window = detect_phase_change(steps, icl, prefix)
    assert not window.found and "ICL score falls by only" in window.reason
    assert window.start_step is not None and window.end_step < 3000  # the prefix window is kept


def test_phase_change_rejects_misaligned_inputs():
    with pytest.raises(ValueError, match="length"):
        detect_phase_change([0, 1, 2], [0.0, 0.0], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="increasing"):
        detect_phase_change([0, 2, 1], [0.0] * 3, [0.0] * 3)


def index_with(**scalars) -> MetricsIndex:
    n = len(next(iter(scalars.values())))
    return MetricsIndex("r", list(range(0, 10 * n, 10)), list(range(0, 100 * n, 100)), ["live"] * n, {}, {}, scalars)


def test_the_icl_curve_read_is_the_one_on_most_contexts_that_every_snapshot_has():
    plain, live, wide = [0.1, 0.0, -0.4], [0.05, -0.02, -0.35], [0.02, -0.01, -0.3]
    assert icl_metric(index_with(icl_score=plain)) == "icl_score"  # measured before the live score existed
    assert icl_metric(index_with(icl_score=plain, icl_live=live, icl_wide=[None] * 3)) == "icl_live"  # training
    assert icl_metric(index_with(icl_score=plain, icl_live=live, icl_wide=wide)) == "icl_wide"  # analysed
    # a resumed run whose first snapshots predate the live score: the plain one, on every snapshot alike
    assert icl_metric(index_with(icl_score=plain, icl_live=[None, -0.02, -0.35])) == "icl_score"


def test_the_live_phase_window_reads_the_live_icl_score():
    """A rise of the prefix score with a plain ICL score that does not fall (its 32 contexts) but
    a live one that does: while training, the window is found on the live one."""
    steps = 12
    prefix = [0.05] * 4 + [0.1, 0.3, 0.5, 0.6] + [0.62] * 4
    live = [0.0] * 4 + [-0.05, -0.2, -0.35, -0.4] + [-0.4] * 4
    flat = [0.0] * steps
    window = phase_window(index_with(icl_score=flat, icl_live=live, max_prefix_matching=prefix))
    assert window.found, window.reason
    assert not phase_window(index_with(icl_score=flat, max_prefix_matching=prefix)).found


def test_first_crossing_names_the_first_snapshot_and_head_past_the_threshold():
    grids = np.full((4, 2, 2), 0.05)
    grids[0] = np.nan  # not measured: skipped
    grids[2, 1, 0], grids[3, 1, 0], grids[3, 0, 1] = 0.31, 0.5, 0.6
    crossing = first_crossing(grids, 0.3)
    assert (crossing.index, crossing.layer, crossing.head) == (2, 1, 0) and crossing.value == pytest.approx(0.31)
    assert first_crossing(grids, 0.7) is None
    grids[2, 1, 0] = 0.3  # at the threshold is not past it
    assert first_crossing(grids, 0.3)[:3] == (3, 0, 1)


def linear_run(last: int, *, icl_drift: float = 0.0):
    """Snapshots every 100 steps to `last`; the max prefix score rises 0.05 -> 0.65 as a logistic
    centred on step 5,000 (scale 500), the ICL score falls 0.1 -> -0.4 with it, then drifts by
    `icl_drift` nats per 1,000 steps after step 6,000."""
    steps = np.arange(0, last + 1, 100)
    rise = 1 / (1 + np.exp(-(steps - 5000) / 500))
    icl = 0.1 - 0.5 * rise + icl_drift * np.clip(steps - 6000, 0, None) / 1000
    return steps, icl, 0.05 + 0.6 * rise


PLATEAU = dict(margin=0.5, icl_tolerance=0.2)


def test_the_phase_change_is_over_once_the_plateau_after_the_window_lasts_half_its_width():
    # The window (the detector's: from the last snapshot at the rise's 10% level to the first at
    # its 90% level, near 5000 -+ 500 ln 9) ends at step 6,100; it is 2,300 wide while the peak
    # is still lower (3,800-6,100), so the rule waits for 6,100 + 1,150 = 7,250: over from the
    # snapshot at 7,300 on, not at 7,200.
    for last, over, start in ((12_000, True, 3900), (7300, True, 3800), (7200, False, 3800), (7000, False, 3800)):
        steps, icl, prefix = linear_run(last)
        end = phase_over(steps, icl, prefix, cap=20_000, **PLATEAU)
        assert end.finished is over, (last, end.reason)
        assert (end.start_step, end.end_step, end.step, end.cap) == (start, 6100, last, 20_000)
        assert end.stretch_steps == (6100 - start) // 2


def test_a_score_still_climbing_is_not_over_and_its_final_rise_is_what_it_gained():
    steps = np.arange(0, 10_001, 100)
    prefix = 0.05 + 0.5 * steps / 10_000  # gains 0.05 every 1,000 steps to the end
    end = phase_over(steps, -prefix, prefix, cap=10_000, **PLATEAU)
    assert not end.finished and "fewer than 0.5 x its width" in end.reason
    # on log(step) the steepest rise is the last: the window ends at the last snapshot, and the
    # final stretch is half its width
    assert (end.start_step, end.end_step, end.stretch_steps) == (1000, 10_000, 4500)
    assert end.final_rise == pytest.approx(0.05 * end.stretch_steps / 1000, abs=0.005)


def test_an_icl_score_still_falling_after_the_window_keeps_the_phase_change_open():
    steps, icl, prefix = linear_run(9000, icl_drift=-0.1)  # 0.3 nats over the 3,000 steps after
    end = phase_over(steps, icl, prefix, cap=20_000, **PLATEAU)
    assert not end.finished and "ICL score still moves" in end.reason
    assert phase_over(steps, icl, prefix, cap=20_000, margin=0.5, icl_tolerance=0.6).finished


def test_no_rise_no_phase_change_and_the_final_rise_is_read_over_the_last_fifth():
    steps = np.arange(0, 5001, 100)
    flat = np.full(len(steps), 0.04)
    end = phase_over(steps, flat, flat, cap=5000, **PLATEAU)
    assert not end.finished and end.reason.startswith("no phase window yet")
    assert (end.start_step, end.final_rise, end.stretch_steps) == (None, 0.0, 1000)
    assert not phase_over(steps[:2], flat[:2], flat[:2], cap=5000, **PLATEAU).finished
