"""Claims (b) and (g) on hand-built runs: the loss bump and the ICL gained in the window."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from training.pipeline.claims import phase

from .conftest import END, START, STEPS


def test_claim_b_passes_when_the_loss_falls_faster_in_the_window_and_pulls_away(make_run):
    single = make_run("attn1", layers=1, induction=False)
    c = phase.claim_b([make_run("attn2")], [single])
    row = c.numbers["runs"]["attn2"]
    assert c.status == "pass" and row["window"] == [int(STEPS[START]), int(STEPS[END])]
    assert row["slopes"]["difference"]["ci"][1] < 0 and row["gap_widening"]["attn1"]["ci"][0] > 0


def test_claim_b_fails_on_a_loss_curve_that_only_slows_down(make_run):
    run = make_run("attn2")
    convex = 2.0 + 3.0 * STEPS.astype(float) ** -0.3  # a power law: every stretch flatter
    run = dataclasses.replace(run, heldout_loss=convex, per_token_loss=None)
    single = make_run("attn1", layers=1, induction=False)
    assert phase.claim_b([run], [single]).status == "fail"


def test_claim_b_fails_when_the_one_layer_run_keeps_up(make_run):
    run, single = make_run("attn2"), make_run("attn1", layers=1)
    single = dataclasses.replace(single, per_token_loss=run.per_token_loss - 0.1)
    c = phase.claim_b([run], [single])
    assert c.status == "fail" and c.numbers["runs"]["attn2"]["gap_widening"]["attn1"]["value"] == 0


def test_claim_b_fails_when_prefix_matching_never_rises(make_run):
    c = phase.claim_b([make_run("attn2", induction=False)], [])
    assert c.status == "fail" and "never rises" in c.details and "gap not tested" in c.details


def test_loss_slopes_need_three_snapshots_on_each_side(make_run):
    run = make_run("attn2")
    assert phase.loss_slopes(run, 1, 2) is None
    assert phase.loss_slopes(run, START, END)["before_steps"][1] == STEPS[START]


def test_claim_g_passes_when_the_icl_is_gained_in_the_prefix_matching_window(make_run):
    c = phase.claim_g([make_run("attn2")])
    row = c.numbers["runs"]["attn2"]
    assert c.status == "pass" and row["coincides"] and row["icl_before"]["ci"][1] < 0.15
    assert row["share_in_rise"]["ci"][0] > 0.5 and "paper" in c.details
    json.dumps(c.numbers)  # plain JSON: the report is written with json
    assert (
        STEPS[START - 2] <= row["icl_window"][0] < row["icl_window"][1] <= STEPS[END + 2]
    )  # the ramp


def test_claim_g_fails_when_the_icl_keeps_growing_after_the_window(make_run):
    run = make_run("attn2")
    after = (
        np.clip(np.arange(len(run.steps)) - END, 0, None) * 0.1
    )  # another 1.3 nats after the rise
    c = phase.claim_g([dataclasses.replace(run, icl=run.icl - after)])
    assert c.status == "fail" and c.numbers["runs"]["attn2"]["share_in_rise"]["ci"][1] < 0.5


def test_claim_g_fails_when_the_icl_falls_away_from_the_prefix_matching_rise(make_run):
    run = make_run("attn2")
    late = np.r_[run.icl[:1].repeat(8), run.icl[:-8]]  # the same fall, 8 snapshots later
    c = phase.claim_g([dataclasses.replace(run, icl=late)])
    assert c.status == "fail" and not c.numbers["runs"]["attn2"]["coincides"]


def test_claim_g_fails_when_the_icl_is_already_large_before_the_window(make_run):
    run = make_run("attn2")
    c = phase.claim_g([dataclasses.replace(run, icl=run.icl - 0.3)])
    assert c.status == "fail" and c.numbers["runs"]["attn2"]["icl_before"]["ci"][0] > 0.15
