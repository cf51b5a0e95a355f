"""The claims report: gathering runs from a suite, "waiting" claims, and the markdown.

The claims themselves are tested on hand-built runs in `tests/training/claims/`.
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np

from training import schema
from training.records import Claim, Report
from training.report import (
    build_report,
    heldout_curve,
    kind_of,
    load_run,
    mark_waiting,
    render_markdown,
)

STATUSES = ("pass", "fail", "inconclusive", "n/a")


def copy_suite(suite, dest):
    """The suite's manifests, metrics and tables (what the report reads), without weights."""
    ignore = shutil.ignore_patterns("snapshots", "resume", "hf_tokenizer", "data")
    return shutil.copytree(suite, dest / suite.name, ignore=ignore)


def test_report_tests_every_claim_on_every_analysed_run(tiny_suite):
    report = build_report(tiny_suite)
    assert [c.id for c in report.claims] == list("abcdefg")
    assert set(report.runs) == set(schema.list_runs(tiny_suite))
    assert all(c.status in STATUSES and c.details for c in report.claims)
    assert set(report.claims[0].numbers["peaks"]) == {"attn1", "attn2", "attn3"}
    assert report.runs["smeared1"]["kind"] == "smeared" and report.runs["mlp2"]["kind"] == "2L-mlp"
    assert report.waiting == 0


def test_load_run_gives_every_curve_and_grid_per_snapshot(tiny_suite):
    run, model = load_run(tiny_suite, "attn2", None)
    n = len(run.steps)
    assert model["n_layers"] == 2 and run.prefix.shape == (n, 2, 2)
    assert run.icl.shape == run.heldout_loss.shape == (n,) and np.isfinite(run.heldout_loss).all()
    assert run.composition_k.shape == (n, 2, 2, 2, 2) and run.per_token_loss.shape[0] == n
    assert np.isfinite(run.ablation_pp_icl).any() and np.isfinite(run.copying).all()


def test_heldout_loss_falls_back_to_the_trainers_when_the_analysis_has_none():
    entries = {0: SimpleNamespace(heldout_loss=5.0), 10: SimpleNamespace(heldout_loss=None)}
    manifest = SimpleNamespace(entry=entries.get)
    index = SimpleNamespace(steps=[0, 10, 20], scalars={"eval_loss": [None, None, None]})
    assert np.allclose(heldout_curve(manifest, index), [5.0, np.nan, np.nan], equal_nan=True)
    index.scalars["eval_loss"] = [4.0, 3.0, None]
    assert np.allclose(heldout_curve(manifest, index), [4.0, 3.0, np.nan], equal_nan=True)


def test_a_claim_whose_run_is_not_analysed_is_waiting_and_names_it(tiny_suite, tmp_path):
    suite = copy_suite(tiny_suite, tmp_path)
    (schema.metrics_dir(suite / "attn1") / schema.METRICS_INDEX).unlink()
    report = build_report(suite)
    waiting = {c.id: c.details for c in report.claims if c.status == "waiting"}
    assert waiting == {cid: "waiting for attn1" for cid in "abcd"}
    assert report.waiting == 4 and "attn1" not in report.runs


def test_a_run_the_preset_plans_but_never_started_is_waited_for(tiny_suite, tmp_path):
    suite = copy_suite(tiny_suite, tmp_path)
    shutil.rmtree(suite / "smeared1")
    c = build_report(suite).claims[2]
    assert c.id == "c" and c.status == "waiting" and c.details == "waiting for smeared1"


def test_mark_waiting_touches_only_claims_that_need_a_pending_kind():
    claims = [Claim(cid, f"claim {cid}", "pass", "measured") for cid in "abcdefg"]
    out = mark_waiting(claims, {"smeared1": "smeared", "mlp2": "other", "attn3": "multi"})
    statuses = {c.id: (c.status, c.details) for c in out}
    assert statuses["c"] == ("waiting", "waiting for smeared1")
    assert statuses["a"] == ("waiting", "waiting for attn3")
    assert mark_waiting(claims, {"attn1": "single"})[2].details == "waiting for attn1"
    assert all(statuses[cid] == ("waiting", "waiting for attn3") for cid in "bdefg")
    assert mark_waiting(claims, {"mlp2": "other"}) == claims


def test_a_claim_with_a_run_of_every_kind_it_needs_is_decided_before_the_rest_arrive():
    claims = [Claim(cid, f"claim {cid}", "pass", "measured") for cid in "abcdefg"]
    out = {c.id: c for c in mark_waiting(claims, {"attn3": "multi", "smeared1": "smeared"}, {"multi", "single"})}
    assert out["a"].status == "pass" and out["a"].details == "measured (so far: attn3 to come)"
    assert out["c"].status == "waiting" and out["c"].details == "waiting for smeared1"


def test_kind_of_sorts_runs_as_the_claims_need_them():
    assert kind_of({"n_layers": 2, "attn_only": True}) == "multi"
    assert kind_of({"n_layers": 1, "attn_only": True}) == "single"
    assert kind_of({"n_layers": 1, "smeared_keys": True}) == "smeared"
    assert kind_of({"n_layers": 2, "smeared_keys": True}) == "other"
    assert kind_of({"n_layers": 2, "attn_only": False}) == "other"


def test_markdown_counts_the_statuses_and_lists_claims_and_runs():
    claims = [
        Claim("a", "Heads form.", "pass", "attn2: 0.8"),
        Claim("b", "Loss bumps.", "fail", "no window"),
        Claim("c", "Smeared.", "waiting", "waiting for smeared1"),
        Claim("d", "Turns.", "n/a", "no run"),
        Claim("e", "Ablations.", "inconclusive", "0.5 [0.4, 0.6]"),
    ]
    peak = {"score": 0.8, "head": "L1H0", "step": 900}
    runs = {"attn2": {"kind": "2L-attn", "snapshots": 30, "peak_prefix_matching": peak}}
    runs["attn2"]["phase"] = {"reason": "rises at 800"}
    report = Report("demo", "2026-01-01T00:00:00+00:00", 1, 1, claims, runs, waiting=1)
    md = render_markdown(report)
    assert md.startswith("# Claims report: suite `demo`")
    assert "1 passed, 1 failed, 1 inconclusive, 1 waiting for runs, 1 not testable" in md
    assert "| a | Heads form. | **pass** | attn2: 0.8 |" in md
    assert "| c | Smeared. | **waiting** | waiting for smeared1 |" in md
    assert "| attn2 | 2L-attn | 30 | 0.8 (L1H0, step 900) | rises at 800 |" in md
