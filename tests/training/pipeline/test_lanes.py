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
