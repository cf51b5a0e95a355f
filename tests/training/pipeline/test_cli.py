"""The command line: bad input names the culprit, exits 2, and prints no traceback."""

import shutil
from pathlib import Path

import pytest
import torch

from training.core.artifacts import schema
from training.core.artifacts.records import Replicate, SeedResult, Spread
from training.pipeline import presets, train
from training.pipeline.cli import main
from training.pipeline.locks import suite_lock
from training.pipeline.report import build_report, pending_runs


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "--preset", "tiny", "--set", "train.lrr=1"], "unknown key 'train.lrr'"),
        (["train", "--preset", "tiny", "--set", "train.lr=fast"], "train.lr: expected float, got 'fast'"),
        (["train", "--preset", "tiny", "--set", "model.positional=alibi"], "model.positional: 'alibi' is not one of"),
        (["train", "--preset", "tiny", "--set", "model.n_layers=9"], "model.n_layers must be between 1 and 6"),
        (
            ["train", "--preset", "tiny", "--set", "lr=1"],
            "keys look like data.X, model.X, train.X, analysis.X or llc.X",
        ),
        (["train", "--preset", "tiny", "--set", "novalue"], "expected key=value"),
        (["train", "--preset", "tiny", "--runs", "attn9"], "unknown run 'attn9'"),
        (["train", "--preset", "tiny", "--suite", "Bad/Name"], "invalid suite name 'Bad/Name'"),
        (["train", "--preset", "tiny", "--set", "data.source=/no/such/dir"], "data.source: no such file"),
    ],
)
def test_bad_input_is_a_one_line_error_naming_it(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(tmp_path.glob("*/*/manifest.json"))  # nothing half-written


def test_list_shows_presets_and_suites(tiny_suite, capsys):
    assert main(["list", "--out", str(tiny_suite.parent)]) == 0
    out = capsys.readouterr().out
    assert "default" in out and "tiny/attn2: complete, 44 snapshots" in out


# ---- --seeds ---------------------------------------------------------------------------------

# One run, few steps and snapshots, on the synthetic data (no BPE to train): what the seed
# tests need is two trained, measured and analysed runs, not their quality.
SEEDS_ARGS = ["train", "--preset", "tiny", "--runs", "attn1", "--set", "data.source=synthetic-repeats"]
SEEDS_ARGS += ["--set", "train.steps=12", "--set", "train.log_snapshots=3", "--set", "train.linear_snapshots=4"]
SEEDS_ARGS += ["--set", "train.resume_every=4"]
TINY_OTHERS = {"attn2": "multi", "attn3": "multi", "smeared1": "smeared", "mlp2": "mlp"}  # planned, not trained


@pytest.mark.parametrize(
    "seeds, message",
    [("0", "--seeds must be a positive integer, got 0"), ("-2", "got -2"), ("two", "--seeds: expected int, got 'two'")],
)
def test_bad_seeds_are_a_one_line_error_naming_the_option(seeds, message, capsys, tmp_path):
    assert main([*SEEDS_ARGS, "--seeds", seeds, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "tiny").exists()  # refused before the data is built


def test_seeds_plan_each_chosen_run_then_its_replicates_round_by_round():
    preset = presets.load("tiny")
    runs = preset.select_runs(["attn2", "attn1"], seeds=3)
    assert [r.name for r in runs] == ["attn2", "attn1", "attn2-seed1", "attn1-seed1", "attn2-seed2", "attn1-seed2"]
    assert [preset.run_train(r).seed for r in runs] == [0, 0, 1, 1, 2, 2]
    assert [(r.seeds, r.repeats) for r in runs[:3]] == [(3, None), (3, None), (1, "attn2")]
    assert all(r.model == preset.select_runs(["attn2"])[0].model for r in runs[::2])  # the same model
    assert preset.select_runs(["attn2"], seeds=1) == preset.select_runs(["attn2"])


@pytest.fixture(scope="module")
def seeds_suite(tmp_path_factory) -> Path:
    """`train --runs attn1 --seeds 2` on a tiny budget, trained, measured and analysed."""
    out = tmp_path_factory.mktemp("artifacts")
    assert main([*SEEDS_ARGS, "--seeds", "2", "--out", str(out)]) == 0
    return out / "tiny"


def test_a_replicate_repeats_its_run_with_the_next_seed_on_the_same_data(seeds_suite):
    base, rep = (schema.read_manifest(seeds_suite / r) for r in ("attn1", "attn1-seed1"))
    assert (base.seeds, base.replicate) == (2, None)
    assert (rep.seeds, rep.replicate) == (1, Replicate(of="attn1", index=1, seed=1))
    assert rep.status == "complete" and rep.train == {**base.train, "seed": 1}
    assert rep.model == base.model and rep.data == base.data and rep.snapshot_steps == base.snapshot_steps
    # the same data: the suite's, and the same evaluation and prefix-matching inputs
    inputs = [schema.read_analysis_inputs(seeds_suite / r)[0] for r in ("attn1", "attn1-seed1")]
    assert inputs[0].keys() == inputs[1].keys() and all(torch.equal(inputs[0][k], inputs[1][k]) for k in inputs[0])
    # other initial weights
    w0 = [schema.read_snapshot(seeds_suite / m.run, m.entry(0)) for m in (base, rep)]
    assert w0[0].keys() == w0[1].keys() and not torch.equal(w0[0]["embed.W_E"], w0[1]["embed.W_E"])


def test_the_report_judges_a_replicate_and_shows_the_spread(seeds_suite):
    report = schema.read_report(seeds_suite)
    assert set(report.runs) == {"attn1", "attn1-seed1"}
    assert set(report.claims[0].numbers["peaks"]) == {"attn1", "attn1-seed1"}  # (a) judges both
    s = report.seeds["attn1"]
    assert [(r.run, r.seed, r.status) for r in s.seeds] == [("attn1", 0, "analysed"), ("attn1-seed1", 1, "analysed")]
    peaks = [report.runs[r]["peak_prefix_matching"]["score"] for r in ("attn1", "attn1-seed1")]
    assert s.spread["peak_prefix_matching"] == Spread(
        n=2, mean=round(sum(peaks) / 2, 4), min=min(peaks), max=max(peaks)
    )
    losses = [schema.read_metrics_index(seeds_suite / r).scalars["eval_loss"][-1] for r in ("attn1", "attn1-seed1")]
    assert [r.final_heldout_loss for r in s.seeds] == [round(v, 4) for v in losses]
    markdown = (schema.analysis_dir(seeds_suite) / "report.md").read_text()
    assert "## Seeds" in markdown and "| 1 | attn1-seed1 |" in markdown


def test_more_seeds_later_are_planned_on_the_trained_run_and_each_replicate_has_its_lock(seeds_suite, tmp_path, capsys):
    suite = shutil.copytree(seeds_suite, tmp_path / "tiny")
    with suite_lock(suite, "train-attn1-seed2"):
        assert main([*SEEDS_ARGS, "--seeds", "3", "--out", str(tmp_path)]) == 2
    assert f"another train-attn1-seed2 process holds {suite / '.train-attn1-seed2.lock'}" in capsys.readouterr().err
    assert schema.read_manifest(suite / "attn1").seeds == 3  # recorded when the trained run was skipped
    assert pending_runs(suite, {"attn1", "attn1-seed1"}) == {"attn1-seed2": "single", **TINY_OTHERS}
    assert build_report(suite).seeds["attn1"].seeds[2] == SeedResult("attn1-seed2", 2, "waiting")


def test_an_interrupted_replicate_resumes_to_the_same_snapshots(seeds_suite, tmp_path, monkeypatch, capsys):
    suite = shutil.copytree(seeds_suite, tmp_path / "tiny")
    shutil.rmtree(suite / "attn1-seed1")
    step, calls = train.train_step, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:  # past the resume checkpoint at step 4
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    monkeypatch.setattr(train, "train_step", interrupted)
    args = [*SEEDS_ARGS, "--seeds", "2", "--out", str(tmp_path), "--no-analyze"]
    assert main(args) == 130
    monkeypatch.setattr(train, "train_step", step)
    assert main(args) == 2  # an incomplete replicate, as any run, is refused without --resume
    err = capsys.readouterr().err
    assert "run 'attn1-seed1' in" in err and "pass --resume" in err
    assert main([*args, "--resume"]) == 0
    resumed, whole = (schema.read_manifest(s / "attn1-seed1") for s in (suite, seeds_suite))
    assert resumed.replicate == whole.replicate and resumed.status == "complete"
    assert [s.sha256 for s in resumed.snapshots] == [s.sha256 for s in whole.snapshots]
