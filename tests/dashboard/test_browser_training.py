"""The dashboard in a real browser while a run trains: the stack as `make up` runs it (a trainer
in the background, the service and the dashboard on its artifacts), the Phase change page
loaded in headless Chromium shows the status line and the live curves, and asks for no command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, wait_while_progressing
from tests.dashboard.browser import Chromium
from tests.dashboard.conftest import APP, free_port, stop, wait_for
from tests.dashboard.test_browser import install_chromium, url


def measured_steps(run_path: Path) -> int:
    try:
        return len(json.loads((run_path / "metrics" / "index.json").read_text())["steps"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def popen(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen(args, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def training_stack(tmp_path_factory) -> Iterator[str]:
    """Trainer, service and dashboard on one artifacts folder; yields the dashboard's URL once
    the run has three snapshots measured live. Every process is stopped at the end."""
    root = tmp_path_factory.mktemp("live-artifacts")
    logs = tmp_path_factory.mktemp("live-logs")
    procs: list[subprocess.Popen] = []
    try:
        train = ["train", "--preset", "tiny", "--runs", "attn2", "--out", str(root), "--no-analyze"]
        train += ["--set", "train.steps=100000", "--set", "train.linear_snapshots=400"]
        trainer = popen([sys.executable, "-m", "training", *train], {"PYTHONPATH": str(REPO)}, logs / "train.log")
        procs.append(trainer)
        api_port, dash_port = free_port(), free_port()
        api = [sys.executable, "-m", "uvicorn", "backend.main:app", "--host", "127.0.0.1", "--port", str(api_port)]
        procs.append(popen(api, {"ARTIFACTS_DIR": str(root)}, logs / "uvicorn.log"))
        dash = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true"]
        dash += ["--server.port", str(dash_port), "--server.address", "127.0.0.1"]
        dash += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        procs.append(popen(dash, {"INDUCTIONSCOPE_API": f"http://127.0.0.1:{api_port}"}, logs / "streamlit.log"))
        wait_for(f"http://127.0.0.1:{api_port}/health", procs[1], "uvicorn")
        wait_for(f"http://127.0.0.1:{dash_port}/_stcore/health", procs[2], "streamlit")
        run_path = root / "tiny" / "attn2"
        wait_while_progressing(trainer, lambda: measured_steps(run_path), until=3, what="trainer")
        assert trainer.poll() is None, (logs / "train.log").read_text()[-2000:]
        yield f"http://127.0.0.1:{dash_port}"
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory) -> Iterator[Chromium]:
    executable = install_chromium()
    if executable is None:
        pytest.skip("no Chromium at /usr/bin/chromium, and it cannot be installed here")
    browser = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


def test_phase_change_page_shows_the_run_training_live(training_stack, chromium):
    probe = chromium.load(url(training_stack, "phase_change", "suite=tiny&run=attn2"), min_charts=3)
    text = chromium.wait_until(
        """(() => { const t = document.querySelector('[data-testid="stMain"]').innerText;"""
        """ return t.includes('Training') && t.includes('tokens/s') && t; })()""",
        timeout_s=60,
    )
    assert "attn2" in text and "left" in text and "best head" in text
    assert "python -m training" not in text
    assert probe["errors"] == 0 and "Traceback" not in probe["text"]
    assert probe["charts"] >= 3
