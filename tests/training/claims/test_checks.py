"""Each claim on hand-built runs: one that must pass, one that must fail, and n/a."""

from __future__ import annotations

import dataclasses

import numpy as np

from training.claims import checks


def test_claim_a_passes_when_only_multi_layer_runs_form_induction_heads(make_run):
    c = checks.claim_a([make_run("attn2")], [make_run("attn1", layers=1, induction=False)])
    assert c.status == "pass" and c.numbers["peaks"]["attn2"]["head"] == "L1H0"
    assert "attn1: peak prefix-matching 0.05" in c.details


def test_claim_a_fails_when_the_one_layer_run_also_forms_one(make_run):
    c = checks.claim_a([make_run("attn2")], [make_run("attn1", layers=1)])
    assert c.status == "fail"


def test_claim_a_is_not_applicable_without_a_one_layer_run(make_run):
    assert checks.claim_a([make_run("attn2")], []).status == "n/a"


def test_claim_b_passes_when_the_loss_drops_faster_than_its_power_law_in_the_window(make_run):
    c = checks.claim_b([make_run("attn2")])
    row = c.numbers["runs"]["attn2"]
    assert c.status == "pass" and row["loss_drop_in_window"] > row["power_law_drop"]


def test_claim_b_fails_on_a_plain_power_law(make_run):
    run = make_run("attn2")
    run = dataclasses.replace(run, train_loss=5.0 * run.steps.astype(float) ** -0.1)
    assert checks.claim_b([run]).status == "fail"


def test_claim_b_fails_without_a_window_and_says_why(make_run):
    c = checks.claim_b([make_run("attn2", window=False)])
    assert c.status == "fail" and "no phase window (no rise)" in c.details


def test_claim_c_passes_when_the_smeared_run_prefix_matches(make_run):
    c = checks.claim_c([make_run("smeared1", layers=1)])
    assert c.status == "pass" and c.numbers["peaks"]["smeared1"]["score"] == 0.8


def test_claim_c_fails_without_an_induction_head_and_is_na_without_the_run(make_run):
    assert checks.claim_c([make_run("smeared1", layers=1, induction=False)]).status == "fail"
    c = checks.claim_c([])
    assert c.status == "n/a" and c.details == "no smeared-key run"


def test_turn_angle_is_ninety_degrees_for_a_right_angle_turn():
    coords = np.array([[0, 0], [1, 0], [2, 0], [2, 1], [2, 2]], dtype=float)
    assert np.isclose(checks.turn_angle(coords, 2, 2), 90.0)
    assert checks.turn_angle(np.zeros((5, 2)), 1, 3) is None


def test_claim_d_passes_when_the_multi_layer_trajectory_turns_and_the_control_does_not(make_run):
    control = make_run("attn1", layers=1, induction=False)
    c = checks.claim_d([make_run("attn2")], [control])
    row = c.numbers["runs"]["attn2"]
    assert c.status == "pass" and row["angle"] > 30 and row["control_angles"]["attn1"] == 0


def test_claim_d_fails_when_the_control_turns_as_much(make_run):
    c = checks.claim_d([make_run("attn2")], [make_run("attn1", layers=1)])
    assert c.status == "fail"


def test_claim_e_passes_when_the_induction_head_carries_the_icl(make_run):
    c = checks.claim_e([make_run("attn2")])
    row = c.numbers["runs"]["attn2"]
    assert c.status == "pass" and row["induction_head"] == "L1H0" and row["delta_icl"] == 0.45


def test_claim_e_fails_when_another_head_matters_as_much(make_run):
    run = make_run("attn2")
    run.ablation_mean_icl[-1, 0, 0] = 0.4
    c = checks.claim_e([run])
    assert c.status == "fail" and c.numbers["runs"]["attn2"]["max_other_delta_icl"] == 0.4


def test_claim_e_fails_without_ablations_and_is_na_without_a_window(make_run):
    run = make_run("attn2")
    run.ablation_mean_icl[-1] = np.nan
    c = checks.claim_e([run])
    assert c.status == "fail" and "no ablations" in c.details
    assert checks.claim_e([make_run("attn2", window=False)]).status == "n/a"


def test_claim_f_passes_when_the_previous_token_pair_composes_most(make_run):
    c = checks.claim_f([make_run("attn2")])
    assert c.status == "pass" and c.numbers["runs"]["attn2"]["pair"] == "L0H1->L1H0"


def test_claim_f_fails_when_another_pair_composes_more(make_run):
    run = make_run("attn2")
    run.composition_k[-1, 0, 0, 1, 1] = 0.9
    c = checks.claim_f([run])
    assert c.status == "fail" and c.numbers["runs"]["attn2"]["best_pair"] == "L0H0->L1H1"


def test_claim_g_passes_when_the_icl_is_gained_in_the_window(make_run):
    c = checks.claim_g([make_run("attn2")])
    assert c.status == "pass" and c.numbers["runs"]["attn2"]["fraction"] == 1.0


def test_claim_g_fails_when_the_icl_keeps_falling_after_the_window(make_run):
    run = make_run("attn2")
    run = dataclasses.replace(run, icl=run.icl - np.linspace(0, 0.5, len(run.steps)))
    assert checks.claim_g([run]).status == "fail"
