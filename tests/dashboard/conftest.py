"""Fixtures for the dashboard tests: the app with its client replaced by `FakeService`, and real
processes (the REST service, the Streamlit server) over the session's `tiny` suite."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import client
from tests.conftest import REPO
from tests.dashboard.fakes import FakeService

APP = REPO / "dashboard" / "app.py"
PAGES = ("phase_change", "heads", "attention", "trajectories", "tokens", "ablations", "claims")
CLIENT_FUNCTIONS = tuple(client.ENDPOINTS)  # the client's one function per route


@pytest.fixture
def fake(monkeypatch) -> FakeService:
    """Every function of `dashboard.client` answered by a `FakeService`."""
    service = FakeService()
    for name in CLIENT_FUNCTIONS:
        monkeypatch.setattr(client, name, getattr(service, name))
    return service


def open_page(page: str, query: dict[str, str] | None = None, *, timeout: float = 60) -> AppTest:
    """Run the app on `page` (a file in dashboard/views without .py), starting from a URL with `query`."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.query_params.update(query or {})
    at.run()
    if page != "phase_change":
        at.switch_page(f"views/{page}.py").run()
    return at


def figure(at: AppTest, key: str) -> dict:
    """The plotly figure drawn with `st.plotly_chart(..., key=key)`, as JSON."""
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.spec)
    raise AssertionError(
        f"no chart with key {key!r}; keys: {[e.proto.id.rsplit('-', 1)[-1] for e in at.get('plotly_chart')]}"
    )


def texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def assert_clean(at: AppTest) -> None:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at, "error")


# ---- real processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not answer {url} within {timeout_s:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def service_url(tiny_suite: Path, tmp_path_factory) -> Iterator[str]:
    """`uvicorn backend.main:app` serving the tiny suite on a free port."""
    port = free_port()
    log = (tmp_path_factory.mktemp("service") / "uvicorn.log").open("w")
    env = {**os.environ, "ARTIFACTS_DIR": str(tiny_suite.parent)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "backend.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process, f"uvicorn backend.main:app (log: {log.name})")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="session")
def dashboard_url(service_url: str, tmp_path_factory) -> Iterator[str]:
    """`streamlit run dashboard/app.py` against that service, headless, on a free port."""
    port = free_port()
    log = (tmp_path_factory.mktemp("dashboard") / "streamlit.log").open("w")
    env = {**os.environ, "INDUCTIONSCOPE_API": service_url}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            f"http://127.0.0.1:{port}/_stcore/health", process, f"streamlit run dashboard/app.py (log: {log.name})"
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        log.close()
