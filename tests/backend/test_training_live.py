"""The service while a run trains: its live curves and the status line, polled as a browser would."""

import os
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.main import create_app
from tests.conftest import REPO

STALL_S = 300  # the trainer must write a new snapshot at least this often, however busy the machine


@pytest.fixture
def trainer(tmp_path):
    """`python -m training train` on the tiny preset in the background, long enough to be
    watched; killed when the test ends."""
    args = ["train", "--preset", "tiny", "--runs", "attn2", "--out", str(tmp_path), "--no-analyze"]
    args += ["--set", "train.steps=100000", "--set", "train.log_snapshots=40", "--set", "train.linear_snapshots=400"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "training", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc, tmp_path
    proc.kill()
    proc.wait()


def test_metrics_of_a_run_in_training_show_its_live_curves(trainer):
    proc, root = trainer
    with TestClient(create_app(Settings(artifacts_dir=root, torch_threads=0))) as client:
        last_steps, last_change, body = -1, time.monotonic(), None
        while True:  # until three snapshots are measured live, as long as the trainer progresses
            assert proc.poll() is None, proc.stderr.read()
            r = client.get("/suites/tiny/runs/attn2/metrics")
            if r.status_code == 200:
                body = r.json()
                if len(body["steps"]) >= 3:
                    break
                if len(body["steps"]) != last_steps:
                    last_steps, last_change = len(body["steps"]), time.monotonic()
            assert time.monotonic() - last_change < STALL_S, "the trainer stopped writing snapshots"
            time.sleep(0.05)
        status = client.get("/suites/tiny/status").json()
        # The last measured snapshot (the newest one may be written but not measured yet).
        heads = client.get(f"/suites/tiny/runs/attn2/snapshots/{body['steps'][-1]}/heads").json()

    assert body["status"] == "training" and body["live"] and not body["analysed"]
    assert set(body["stages"]) == {"live"} and body["steps"][0] == 0
    assert len(body["icl_score"]) == len(body["steps"]) == len(body["head_metrics"]["prefix_matching"])
    assert all(v is not None for v in body["best_heads"]["prefix_matching"]["values"])
    assert "copying" not in body["head_metrics"]  # the analysis measures it when the run is trained
    assert body["progress"]["run"] == "attn2" and body["progress"]["steps"] == 100000
    assert body["phase"] is not None and body["phase"]["reason"]  # detected on the live curves
    [training] = status["training"]
    assert training["run"] == "attn2" and 0 < training["step"] < 100000 and training["tokens_per_s"] > 0
    assert training["best_head"].startswith("L") and 0 <= training["best_score"] <= 1
    assert heads["stage"] == "live" and heads["scores"]["prefix_matching"][0][0] is not None
