"""The analysis killed part-way (SIGKILL, at different moments) and run again completes, and its
results equal an uninterrupted analysis's (both run by the CLI, so with the same threads)."""

import os
import shutil
import signal
import subprocess
import sys

import numpy as np

from tests.conftest import REPO, wait_while_progressing
from training.core.artifacts import schema


def measured(run_path) -> int:
    return len(list((schema.metrics_dir(run_path) / "snapshots").glob("step_*.safetensors")))


def test_a_killed_analysis_resumes_to_the_same_results(tiny_suite, tmp_path, children):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    suites = {}
    for name in ("whole", "killed"):  # two copies of attn1 and attn2, with no metrics at all
        suites[name] = tmp_path / name / "tiny"
        ignore = shutil.ignore_patterns("attn3", "mlp2", "smeared1", "analysis", "metrics")
        shutil.copytree(tiny_suite, suites[name], ignore=ignore)
    whole = subprocess.run(
        [sys.executable, "-m", "training", "analyze", str(suites["whole"]), "--runs", "attn2"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert whole.returncode == 0, whole.stderr
    run_whole = suites["whole"] / "attn2"
    expected = {name: schema.read_metric(run_whole, name) for name in schema.read_metrics_index(run_whole).arrays}
    suite = suites["killed"]
    run = suite / "attn2"
    for kill_after in (3, 17):  # SIGKILL mid-way, twice, at different points
        proc = subprocess.Popen(
            [sys.executable, "-m", "training", "analyze", str(suite), "--runs", "attn2"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        children.append(proc)
        wait_while_progressing(proc, lambda: measured(run), until=kill_after, what="analysis")
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert measured(run) < len(schema.read_manifest(run).snapshots)  # it really was cut short
    done = subprocess.run(
        [sys.executable, "-m", "training", "analyze", str(suite), "--runs", "attn2"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    index = schema.read_metrics_index(run)
    assert index.complete and set(index.arrays) == set(expected)
    for name, array in expected.items():
        assert np.array_equal(schema.read_metric(run, name, index), array, equal_nan=True), name
    assert not list(schema.metrics_dir(run).glob("**/.*.tmp"))
