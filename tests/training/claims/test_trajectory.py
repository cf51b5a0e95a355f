"""Claim (d) on hand-built per-token losses: the trajectory's turn in the window."""

from __future__ import annotations

import dataclasses

import numpy as np

from training.pipeline.claims import trajectory

from .conftest import END, START


def test_claim_d_passes_when_the_multi_layer_trajectory_turns_and_the_control_does_not(make_run):
    single = make_run("attn1", layers=1, induction=False)
    c = trajectory.claim_d([make_run("attn2")], [single])
    row = c.numbers["runs"]["attn2"]
    assert c.status == "pass" and row["turn"]["ci"][0] > trajectory.MIN_TURN
    assert row["controls"]["attn1"]["ratio"]["ci"][0] > trajectory.RATIO
    assert "tokens" in c.details


def test_claim_d_fails_when_the_one_layer_trajectory_turns_as_much(make_run):
    c = trajectory.claim_d([make_run("attn2")], [make_run("attn1", layers=1)])
    assert c.status == "fail"


def test_claim_d_fails_without_a_rise_and_is_na_without_a_one_layer_run(make_run):
    single = make_run("attn1", layers=1, induction=False)
    assert trajectory.claim_d([make_run("attn2", induction=False)], [single]).status == "fail"
    assert trajectory.claim_d([make_run("attn2")], []).status == "n/a"


def test_claim_d_is_inconclusive_when_the_window_starts_in_the_transient(make_run):
    run = make_run("attn2")
    falling = run.per_token_loss + 5.0 * (np.arange(len(run.steps)) < START)[:, None]  # a cliff
    run = dataclasses.replace(run, per_token_loss=falling)
    single = make_run("attn1", layers=1, induction=False)
    c = trajectory.claim_d([run], [single])
    assert c.status == "inconclusive" and "transient" in c.details


def test_settled_is_where_most_of_the_initial_fall_is_made():
    loss = np.array([10.0, 6.0, 3.0, 2.5, 2.0, 2.0, 2.0])[:, None].repeat(4, 1)
    assert trajectory.settled(loss) == 2


def test_pca_coords_match_an_svd_and_weights_duplicate_tokens():
    rows = np.random.default_rng(0).normal(size=(8, 20))
    coords = trajectory.pca_coords(rows, np.ones(20), k=2)
    centred = rows - rows.mean(0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    assert np.allclose(np.abs(coords), np.abs(u[:, :2] * s[:2]))
    twice = trajectory.pca_coords(np.c_[rows, rows[:, :1]], np.r_[np.ones(20), 0.0], k=2)
    weighted = trajectory.pca_coords(rows, np.r_[2.0, np.ones(19)], k=2)
    assert np.allclose(np.abs(twice), np.abs(trajectory.pca_coords(rows, np.ones(20), k=2)))
    assert not np.allclose(np.abs(weighted), np.abs(coords))


def test_turn_is_the_orthogonal_displacement_in_jitters():
    t = np.arange(12, dtype=float)
    path = np.stack([np.minimum(t, 6), np.maximum(t - 6, 0)], 1)
    path += np.random.default_rng(0).normal(0, 0.01, path.shape)
    assert trajectory.turn(path, 2, 6, 10) > 50
    straight = np.stack([t, np.zeros(12)], 1) + np.random.default_rng(1).normal(0, 0.01, (12, 2))
    assert trajectory.turn(straight, 2, 6, 10) < 10
    assert START < END


def test_settled_counts_only_the_fall_before_the_window_as_the_transient():
    loss = np.array([4.0, 3.2, 3.0, 3.0, 3.0, 1.0, 1.0])[:, None].repeat(4, 1)
    assert trajectory.settled(loss, until=4) == 1 and trajectory.settled(loss) == 5
