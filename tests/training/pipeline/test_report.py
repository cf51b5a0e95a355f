"""The claims report: gathering runs from a suite, "waiting" claims, and the markdown.

The claims themselves are tested on hand-built runs in `tests/training/pipeline/claims/`.
"""

from __future__ import annotations

import dataclasses
import shutil
from types import SimpleNamespace

import numpy as np

from training.core.artifacts import schema
from training.core.artifacts.records import Claim, Manifest, PhaseEnd, Replicate, Report, SeedResult
from training.pipeline.claims.seeds import seed_spread
from training.pipeline.report import (
    build_report,
    heldout_curve,
    icl_metric,
    kind_of,
    load_run,
    mark_unfinished,
    mark_waiting,
    pending_runs,
    render_markdown,
    seed_plans,
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
    assert set(report.claims[0].numbers["peaks"]) == {"attn1", "attn2", "attn3", "mlp2"}  # (a) reads the MLP run too
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


def test_claim_a_waits_for_the_mlp_run_only_as_one_still_to_come():
    claims = [Claim(cid, f"claim {cid}", "pass", "measured") for cid in "abcdefg"]
    out = {c.id: c for c in mark_waiting(claims, {"mlp2": "mlp"}, {"multi", "single"})}
    assert out["a"].status == "pass" and out["a"].details == "measured (so far: mlp2 to come)"
    assert all(out[cid] == claims[i] for i, cid in enumerate("abcdefg") if cid != "a")


def unfinished(run: str, cap: int = 24_000) -> PhaseEnd:
    return PhaseEnd(False, cap, "phase window 8,000-23,500: 500 steps after it", cap, 8000, 23_500, 0.061, 7750)


def test_a_claim_is_judged_without_its_unfinished_runs_and_names_them():
    groups = {
        "multi": [SimpleNamespace(name="attn2"), SimpleNamespace(name="attn3")],
        "single": [SimpleNamespace(name="attn1")],
        "mlp": [SimpleNamespace(name="mlp2")],
    }
    judged = [Claim(cid, f"claim {cid}", "n/a" if cid == "d" else "pass", "measured") for cid in "abcdefg"]
    as_trained = [dataclasses.replace(c, status="fail" if c.id in "deg" else "pass", details="all") for c in judged]
    finished = PhaseEnd(True, 14_600, "over", 20_000, 5041, 11_408, 0.004, 3184)
    ends = {"attn3": unfinished("attn3"), "attn2": finished}
    out = {c.id: c for c in mark_unfinished(judged, as_trained, groups, ends)}
    note = "attn3 is unfinished (stopped at its cap of 24,000 steps with its phase change under way, its max "
    note += "prefix-matching score still rising +0.061 over its last 7,750 steps)"
    for cid in "abefg":  # judged on attn2 alone; attn3 named, with the verdict it would have given
        c = out[cid]
        assert (
            c.status == "pass"
            and c.details
            == f"measured. Not judged on it: {note}; with it as trained: {as_trained['abcdefg'.index(cid)].status}"
        )
        assert c.numbers["verdict_as_trained"] == ("fail" if cid in "eg" else "pass")
        assert c.numbers["unfinished"]["attn3"]["final_rise"] == 0.061
    # (d) had no finished run to judge: inconclusive rather than not applicable
    assert (
        out["d"].status == "inconclusive" and out["d"].details == f"not judged: {note}; with it as trained: fail (all)"
    )
    assert out["c"] == judged[2]  # (c) reads no multi-layer run
    only_mlp = {c.id: c for c in mark_unfinished(judged, as_trained, groups, {"mlp2": unfinished("mlp2")})}
    assert "mlp2 is unfinished" in only_mlp["a"].details
    assert [only_mlp[cid] for cid in "bcdefg"] == judged[1:]


def test_the_report_leaves_an_unfinished_run_out_of_every_claim_and_says_so(tiny_suite, tmp_path):
    suite = copy_suite(tiny_suite, tmp_path)
    manifest = schema.read_manifest(suite / "attn3")
    schema.write_manifest(suite / "attn3", dataclasses.replace(manifest, phase_end=unfinished("attn3", 150)))
    whole, cut = build_report(tiny_suite), build_report(suite)
    a = {c.id: c for c in cut.claims}["a"]
    assert "attn3" not in a.numbers["peaks"] and set(a.numbers["peaks"]) == {"attn1", "attn2", "mlp2"}
    assert a.numbers["verdict_as_trained"] == whole.claims[0].status and "attn3 is unfinished" in a.details
    assert cut.runs["attn3"]["phase_end"]["finished"] is False  # still listed, marked
    for c in cut.claims:
        assert ("attn3 is unfinished" in c.details) == (c.id != "c")


def test_the_markdown_says_where_the_plateau_rule_ended_each_run():
    peak = {"score": 0.6, "head": "L1H3", "step": 23_500}
    runs = {
        "attn3": {"kind": "3L-attn", "snapshots": 80, "peak_prefix_matching": peak, "phase": {"reason": "rises"}},
        "attn2": {"kind": "2L-attn", "snapshots": 70, "peak_prefix_matching": peak, "phase": {"reason": "rises"}},
    }
    runs["attn3"]["phase_end"] = schema.to_json(unfinished("attn3"))
    runs["attn2"]["phase_end"] = schema.to_json(PhaseEnd(True, 14_600, "over", 20_000, 5041, 11_408, 0.0, 3184))
    md = render_markdown(Report("demo", "2026-01-01T00:00:00+00:00", 0, 0, [], runs))
    assert "| rises (**unfinished**: stopped at its cap of 24,000 steps with its phase change under way, its max" in md
    assert "| rises (training stopped at step 14,600: phase change over) |" in md


def test_kind_of_sorts_runs_as_the_claims_need_them():
    assert kind_of({"n_layers": 2, "attn_only": True}) == "multi"
    assert kind_of({"n_layers": 1, "attn_only": True}) == "single"
    assert kind_of({"n_layers": 1, "smeared_keys": True}) == "smeared"
    assert kind_of({"n_layers": 2, "smeared_keys": True}) == "other"
    assert kind_of({"n_layers": 2, "attn_only": False}) == "mlp"
    assert kind_of({"n_layers": 1, "attn_only": False}) == "other"


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
    assert "## Seeds" not in md  # no run with several seeds


# ---- the spread over seeds (the numbers themselves: tests/training/pipeline/claims/test_seeds.py) ------


def manifest(run: str, *, seeds: int = 1, replicate: Replicate | None = None, seed: int = 0) -> Manifest:
    model = {"n_layers": 2, "attn_only": True}
    return Manifest("demo", run, "complete", model, {"seed": seed}, {}, 512, [], seeds=seeds, replicate=replicate)


def test_seed_plans_list_each_run_with_several_seeds_then_its_replicates():
    manifests = {
        "attn1": manifest("attn1"),  # one seed: no plan
        "attn2": manifest("attn2", seeds=3, seed=5),
        "attn2-seed2": manifest("attn2-seed2", replicate=Replicate("attn2", 2, 7), seed=7),  # seed1 not started
        "mlp2-seed1": manifest("mlp2-seed1", replicate=Replicate("mlp2", 1, 1), seed=1),  # its run deleted
    }
    assert seed_plans(manifests) == {
        "attn2": [("attn2", 5), ("attn2-seed1", 6), ("attn2-seed2", 7)],
        "mlp2": [("mlp2", 0), ("mlp2-seed1", 1)],
    }


def test_icl_metric_names_the_wide_icl_only_where_every_snapshot_has_it():
    index = SimpleNamespace(scalars={"icl_score": [0.1, -0.2]}, arrays={})
    assert icl_metric(index) == "icl_score"
    index.scalars["icl_wide"] = [0.1, None]  # a snapshot without it: the claims read icl_score
    assert icl_metric(index) == "icl_score"
    index.scalars["icl_wide"] = [0.1, -0.3]
    assert icl_metric(index) == "icl_wide"


def planned_replicate(tiny_suite, tmp_path):
    """The tiny suite with attn2 trained as if by `--seeds 2`: its replicate not started yet."""
    suite = copy_suite(tiny_suite, tmp_path)
    schema.write_manifest(suite / "attn2", dataclasses.replace(schema.read_manifest(suite / "attn2"), seeds=2))
    return suite


def test_a_planned_replicate_is_to_come_and_waits_in_the_seeds_section(tiny_suite, tmp_path):
    suite = planned_replicate(tiny_suite, tmp_path)
    assert pending_runs(suite, set(schema.list_runs(suite))) == {"attn2-seed1": "multi"}
    report = build_report(suite)
    assert report.claims[0].status != "waiting" and report.claims[0].details.endswith("(so far: attn2-seed1 to come)")
    assert list(report.seeds) == ["attn2"]  # attn1 and the others have one seed: no section
    seeds = report.seeds["attn2"].seeds
    assert [(r.run, r.seed, r.status) for r in seeds] == [("attn2", 0, "analysed"), ("attn2-seed1", 1, "waiting")]
    assert report.seeds["attn2"].spread["peak_prefix_matching"].n == 1
    assert "| 1 | attn2-seed1 | waiting (not trained and analysed yet) |" in render_markdown(report)


def test_a_replicate_still_training_is_to_come_not_judged(tiny_suite, tmp_path):
    suite = planned_replicate(tiny_suite, tmp_path)
    shutil.copytree(suite / "attn2", suite / "attn2-seed1")
    training = dataclasses.replace(
        schema.read_manifest(suite / "attn2"), run="attn2-seed1", status="training", seeds=1,
        replicate=Replicate("attn2", 1, 1), train={**schema.read_manifest(suite / "attn2").train, "seed": 1},
    )  # fmt: skip
    schema.write_manifest(suite / "attn2-seed1", training)
    report = build_report(suite)
    assert "attn2-seed1" not in report.runs and "attn2-seed1" not in report.claims[0].numbers["peaks"]
    assert report.claims[0].details.endswith("(so far: attn2-seed1 to come)")
    assert report.seeds["attn2"].seeds[1] == SeedResult("attn2-seed1", 1, "waiting")


def test_markdown_gives_each_seed_and_the_spread():
    seeds = [
        SeedResult("attn2", 0, "analysed", 4200, 4490, 9204, 0.68, -0.412, 3.0512, "icl_score"),
        SeedResult("attn2-seed1", 1, "analysed", None, None, None, 0.21, -0.1, 3.2, "icl_score"),
        SeedResult("attn2-seed2", 2, "waiting"),
    ]
    s = seed_spread("attn2", seeds)
    report = Report("demo", "2026-01-01T00:00:00+00:00", 0, 0, [], {}, seeds={"attn2": s})
    md = render_markdown(report)
    assert "### attn2 (3 seeds; ICL metric `icl_score`)" in md
    assert "| 0 | attn2 | 4,200 | 4,490 | 9,204 | 0.680 | -0.412 | 3.051 |" in md
    assert "| 1 | attn2-seed1 | – | – | – | 0.210 | -0.100 | 3.200 |" in md
    assert "| n | | 1 | 1 | 1 | 2 | 2 | 2 |" in md
    assert "| mean | | 4,200 | 4,490 | 9,204 | 0.445 | -0.256 | 3.126 |" in md
    assert "| std |" not in md  # 2 analysed seeds: no standard deviation
