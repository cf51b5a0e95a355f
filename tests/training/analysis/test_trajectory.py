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
    joint_pca,
)

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
