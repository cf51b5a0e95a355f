"""Claims (a) and (c) on hand-built runs: which models form induction heads."""

from __future__ import annotations

import dataclasses

import numpy as np

from training.pipeline.claims import formation

from .conftest import START, N


def test_claim_a_passes_when_only_the_multi_layer_run_has_a_copying_prefix_matcher(make_run):
    c = formation.claim_a([make_run("attn2")], [make_run("attn1", layers=1, induction=False)])
    row = c.numbers["peaks"]["attn2"]
    assert c.status == "pass" and row["head"] == "L1H0" and row["induction_head"] == "pass"
    assert row["prefix_matching"]["ci"][0] > 0.3 and "resampled" in c.details


def test_claim_a_fails_when_the_one_layer_run_forms_one_too(make_run):
    c = formation.claim_a([make_run("attn2")], [make_run("attn1", layers=1)])
    assert c.status == "fail" and c.numbers["peaks"]["attn1"]["induction_head"] == "pass"


def test_claim_a_fails_when_the_prefix_matcher_does_not_copy(make_run):
    run = make_run("attn2")
    run = dataclasses.replace(run, copying=-np.abs(run.copying), eigenvalue_positivity=None)
    single = make_run("attn1", layers=1, induction=False)
    assert formation.claim_a([run], [single]).status == "fail"


def test_claim_a_needs_both_copying_measures_positive_where_both_are_stored(make_run):
    # copies in behaviour (+0.5) but its OV circuit is an anti-copying map: not an induction head
    run = make_run("attn2")
    run = dataclasses.replace(run, eigenvalue_positivity=-np.abs(run.eigenvalue_positivity))
    single = make_run("attn1", layers=1, induction=False)
    c = formation.claim_a([run], [single])
    assert c.status == "fail" and c.numbers["peaks"]["attn2"]["induction_head"] == "fail"
    assert "copying 0.50, OV eig. positivity -0.50" in c.details
    # with only the behavioural score stored, it decides alone
    alone = dataclasses.replace(make_run("attn2"), eigenvalue_positivity=None)
    assert formation.claim_a([alone], [single]).status == "pass"


def test_claim_a_is_inconclusive_at_the_threshold_or_without_copying_scores(make_run):
    single = [make_run("attn1", layers=1, induction=False)]
    borderline = make_run("attn2")
    borderline.prefix[START:, 1, 0] = 0.3 + 0.05 * (-1) ** np.arange(N - START)  # 0.25 / 0.35
    assert formation.claim_a([borderline], single).status == "inconclusive"
    unmeasured = dataclasses.replace(make_run("attn2"), copying=None, eigenvalue_positivity=None)
    c = formation.claim_a([unmeasured], single)
    assert c.status == "inconclusive" and "copying not measured" in c.details


def test_claim_a_is_not_applicable_without_a_one_layer_run(make_run):
    assert formation.claim_a([make_run("attn2")], []).status == "n/a"


def test_claim_c_passes_when_smeared_keys_form_a_head_and_beat_the_one_layer_icl(make_run):
    single = make_run("attn1", layers=1, induction=False)
    c = formation.claim_c([make_run("smeared1", layers=1)], [single])
    diff = c.numbers["runs"]["smeared1"]["icl_vs_1_layer"]["attn1"]
    assert c.status == "pass" and diff["ci"][1] < 0 and "last 5 snapshots" in c.details


def test_claim_c_fails_without_an_induction_head(make_run):
    single = make_run("attn1", layers=1, induction=False)
    smeared = make_run("smeared1", layers=1, induction=False)
    assert formation.claim_c([smeared], [single]).status == "fail"


def test_claim_c_is_inconclusive_when_the_icl_difference_is_within_its_interval(make_run):
    smeared = make_run("smeared1", layers=1)
    single = dataclasses.replace(
        make_run("attn1", layers=1, induction=False), icl=smeared.icl[::-1]
    )
    single = dataclasses.replace(single, icl=np.r_[smeared.icl[:-5], smeared.icl[-5:][::-1]])
    assert formation.claim_c([smeared], [single]).status == "inconclusive"


def test_claim_c_is_not_applicable_without_a_smeared_run(make_run):
    c = formation.claim_c([], [make_run("attn1", layers=1)])
    assert c.status == "n/a" and c.details == "no smeared-key run"


def test_claim_a_asks_the_same_of_a_multi_layer_run_with_mlps(make_run):
    multi, single = [make_run("attn2")], [make_run("attn1", layers=1, induction=False)]
    c = formation.claim_a(multi, single, [make_run("mlp2")])
    assert c.status == "pass" and c.numbers["peaks"]["mlp2"]["kind"] == "mlp"
    assert "with MLPs" in c.claim
    failed = formation.claim_a(multi, single, [make_run("mlp2", induction=False)])
    assert failed.status == "fail" and failed.numbers["peaks"]["mlp2"]["induction_head"] == "fail"
    assert "mlp2: " in failed.details and "no induction head" in failed.details
