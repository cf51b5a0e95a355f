"""Claims (e) and (f) on hand-built grids: ablations and K-composition."""

from __future__ import annotations

import dataclasses

import numpy as np

from training.pipeline.claims import circuit


def test_claim_e_passes_when_the_circuit_carries_the_icl(make_run):
    c = circuit.claim_e([make_run("attn2")])
    row = c.numbers["runs"]["attn2"]
    assert (
        c.status == "pass" and row["induction_heads"] == ["L1H0"] and row["partners"] == ["L0H1"]
    )
    assert row["removed"]["ci"][0] > 0.5 and row["largest_other"]["ci"][1] < 0.2


def test_claim_e_fails_when_a_head_outside_the_circuit_matters(make_run):
    run = make_run("attn2")
    run.ablation_pp_icl[np.isfinite(run.ablation_pp_icl[:, 0, 0]), 0, 0] = 0.3
    c = circuit.claim_e([run])
    assert c.status == "fail" and np.isclose(
        c.numbers["runs"]["attn2"]["largest_other"]["value"], 0.6, atol=0.01
    )


def test_claim_e_fails_when_the_induction_heads_remove_little(make_run):
    run = make_run("attn2")
    run.ablation_pp_icl[np.isfinite(run.ablation_pp_icl[:, 1, 0]), 1, 0] = 0.05
    assert circuit.claim_e([run]).status == "fail"


def test_claim_e_is_na_without_induction_heads_and_inconclusive_without_ablations(make_run):
    assert circuit.claim_e([make_run("attn2", induction=False)]).status == "n/a"
    run = make_run("attn2")
    run.ablation_pp_icl[:] = np.nan
    c = circuit.claim_e([run])
    assert c.status == "inconclusive" and "no pattern-preserving ablations" in c.details


def test_claim_f_passes_when_the_previous_token_pair_composes_most(make_run):
    c = circuit.claim_f([make_run("attn2")])
    row = c.numbers["runs"]["attn2"]
    assert c.status == "pass" and row["pair"] == "L0H1->L1H0" and row["margin"]["ci"][0] > 0
    assert row["sign"] is None and "sign" in c.details


def with_match_sign(run, value: float):
    """The run with a K-composition match sign of `value` for every pair (later layer only)."""
    sign = np.full_like(run.composition_k, np.nan)
    sign[:, 0, :, 1, :] = value
    return dataclasses.replace(run, qk_match=sign)


def test_claim_f_checks_the_match_sign_when_it_is_stored(make_run):
    c = circuit.claim_f([with_match_sign(make_run("attn2"), 0.8)])
    assert c.status == "pass" and c.numbers["runs"]["attn2"]["sign"]["value"] == 0.8
    assert "match sign (QK eigenvalue positivity) 0.8" in c.details
    # the same composition with the opposite sign: the head avoids matches, no induction circuit
    assert circuit.claim_f([with_match_sign(make_run("attn2"), -0.6)]).status == "fail"


def test_claim_f_fails_when_another_pair_composes_more(make_run):
    run = make_run("attn2")
    run.composition_k[:, 0, 0, 1, 1] = 0.9
    c = circuit.claim_f([run])
    assert c.status == "fail" and c.numbers["runs"]["attn2"]["largest_pair"] == "L0H0->L1H1"


def test_claim_f_fails_when_the_induction_head_is_in_layer_zero(make_run):
    run = make_run("attn2")
    run.prefix[:, 1, 0] = 0.05
    run.prefix[-10:, 0, 0] = 0.9
    c = circuit.claim_f([run])
    assert c.status == "fail" and "layer 0" in c.details
