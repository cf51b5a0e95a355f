"""Runs side by side (`--lanes`): the first run alone with every thread, then the lanes share out
the rest, each run trained once, each lane with its share of the threads."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO
from training.core.artifacts import schema

RUNS = ["attn2", "attn1", "smeared1", "attn3"]


def test_two_lanes_train_every_run_once_and_analyse_each(tmp_path):
    args = ["train", "--preset", "tiny", "--runs", ",".join(RUNS), "--lanes", "2", "--out", str(tmp_path)]
    args += ["--set", "train.steps=40", "--set", "data.max_chars=100000"]
    done = subprocess.run(
        [sys.executable, "-m", "training", *args], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    suite = tmp_path / "tiny"
    trained = [line.split(":")[0] for line in done.stderr.splitlines() if ": done, 40 steps" in line]
    assert sorted(trained) == sorted(RUNS)  # each run trained by one lane, once
    threads = {run: schema.read_manifest(suite / run).train["threads"] for run in RUNS}
    assert threads == {"attn2": 2, "attn1": 1, "smeared1": 1, "attn3": 1}  # the first alone, then 2 // 2
    assert all(schema.read_metrics_index(suite / run).complete for run in RUNS)  # each analysed
    report = schema.read_report(suite)
    assert report.waiting == 0 and set(report.runs) == set(RUNS)
    assert not list(suite.glob(".*.lock"))  # every lock released


def test_a_lane_skips_a_run_another_lane_holds_and_takes_the_rest_from_the_back(tmp_path):
    from training.pipeline import presets
    from training.pipeline.config import apply_overrides
    from training.pipeline.locks import suite_lock
    from training.pipeline.train import train_suite

    preset = apply_overrides(presets.load("tiny"), ["data.source=synthetic-repeats", "train.steps=8"])
    trained: list[str] = []

    def note(message: str) -> None:
        if ": done," in message:
            trained.append(message.split(":")[0])

    runs = ["attn2", "attn1", "smeared1", "attn3"]
    with suite_lock(tmp_path / "tiny", "train-smeared1"):  # another lane is training it
        train_suite(preset, tmp_path, "tiny", runs=runs, live_metrics=False, log=note, lanes=2, lane=1)
    assert trained == ["attn3", "attn1"]  # from the back, smeared1 skipped, the first run not its own
    assert not (tmp_path / "tiny" / "smeared1").exists() and not (tmp_path / "tiny" / "attn2").exists()
    assert schema.read_manifest(tmp_path / "tiny" / "attn3").train["threads"] == 1  # its share: 2 // 2
