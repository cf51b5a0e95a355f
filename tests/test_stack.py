"""The one-command stack: docker-compose.yml, the Dockerfiles and `make up` start the same things."""

import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import stack  # noqa: E402

COMPOSE = REPO / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_is_valid_against_the_compose_specification():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_config_accepts_the_file_where_the_plugin_exists():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("this machine's docker client has no compose plugin")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_compose_services_run_the_same_commands_as_make_up():
    services = compose()["services"]
    assert services["api"]["command"] == ["python", "scripts/stack.py", "api"]
    assert services["dashboard"]["command"] == ["python", "scripts/stack.py", "dashboard"]
    assert services["trainer"]["entrypoint"] == ["python", "scripts/stack.py", "trainer"]
    assert services["trainer"]["command"] == stack.DEFAULT_TRAIN_ARGS
    assert services["dashboard"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert "trainer" not in services["api"].get("depends_on", {}) and "trainer" not in services["dashboard"].get(
        "depends_on", {}
    )
    for name in ("api", "dashboard"):
        assert all(v.endswith(":ro") for v in services[name]["volumes"])
    # ... and make up runs stack.py too, whose parts are the commands below.
    assert "scripts/stack.py up" in (REPO / "Makefile").read_text()
    for dockerfile, part in (("docker/Dockerfile", "api"), ("docker/Dockerfile.dashboard", "dashboard")):
        assert f'CMD ["python", "scripts/stack.py", "{part}"]' in (REPO / dockerfile).read_text()


def test_stack_parts_are_the_documented_commands():
    assert stack.command("api")[1:4] == ["-m", "uvicorn", "backend.main:app"]
    assert stack.command("dashboard")[1:5] == ["-m", "streamlit", "run", "dashboard/app.py"]
    assert stack.command("trainer")[1:4] == ["-m", "training", "train"] and stack.command("trainer")[-3:] == [
        "--preset",
        "default",
        "--resume",
    ]
    assert stack.command("trainer", ["--preset", "tiny"])[-2:] == ["--preset", "tiny"]


def test_images_install_cpu_torch_first_run_as_non_root_and_the_dashboard_has_no_torch():
    main = (REPO / "docker/Dockerfile").read_text()
    assert main.index("pip install ${TORCH_SPEC}") < main.index("pip install -r requirements.txt")
    assert "whl/cpu" in main
    dash = (REPO / "docker/Dockerfile.dashboard").read_text()
    for text in (main, dash):
        assert "USER app" in text
    assert "torch" not in (REPO / "requirements-dashboard.txt").read_text().replace(
        "# The dashboard's own dependencies (its Docker image installs only these: no torch).", ""
    )
    assert "COPY training" not in dash and "COPY backend" not in dash


def test_streamlit_reads_the_apps_config_where_the_stack_and_the_image_start_it():
    """`.streamlit/config.toml` is read from the working directory of `streamlit run`: the
    repository root for `make up` (scripts/stack.py) and /app in the dashboard image, which
    copies the folder there. It hides Streamlit's developer entries, the Deploy button among them."""
    code = "from streamlit import config; config.get_config_options(force_reparse=True); print(config.get_option('client.toolbarMode'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "viewer", out.stderr
    dash = (REPO / "docker/Dockerfile.dashboard").read_text()
    assert "WORKDIR /app" in dash and "COPY .streamlit .streamlit" in dash
    assert ".streamlit" not in (REPO / ".dockerignore").read_text().split()
    # `make up` starts each part from the root (`start`), the images exec it there (`main`: chdir)
    assert stack.ROOT == REPO and stack.command("dashboard")[2:4] == ["streamlit", "run"]
    assert "cwd=ROOT" in inspect.getsource(stack.start) and "os.chdir(ROOT)" in inspect.getsource(stack.main)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_up_refuses_a_taken_port_with_a_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "API_PORT": str(port), "DASHBOARD_PORT": str(free_port()), "ARTIFACTS_DIR": str(tmp_path)}
        result = subprocess.run(
            [sys.executable, "scripts/stack.py", "up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr and "API_PORT" in result.stderr


def wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def test_up_serves_api_and_dashboard_without_training_when_the_suite_is_there_and_stops_on_ctrl_c(tiny_suite, tmp_path):
    shutil.copytree(tiny_suite, tmp_path / "default")  # a complete, analysed suite named "default"
    api, dash = free_port(), free_port()
    env = {**os.environ, "API_PORT": str(api), "DASHBOARD_PORT": str(dash), "ARTIFACTS_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "scripts/stack.py", "up"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_http(f"http://127.0.0.1:{api}/health", 60)
        assert wait_http(f"http://127.0.0.1:{dash}/", 60)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"http://localhost:{dash}" in out and "training it in the background" not in out
    assert "stopping" in out


@pytest.mark.parametrize(("mode", "expect"), [("idle", "idle"), ("nice", "nice"), ("normal", "normal")])
def test_trainer_yields_the_cores_as_configured(mode, expect):
    code = (
        "import os, sys; sys.path.insert(0, 'scripts'); import stack; stack.yield_to_requests(); "
        "idle = hasattr(os, 'SCHED_IDLE') and os.sched_getscheduler(0) == os.SCHED_IDLE; "
        "print('idle' if idle else 'nice' if os.nice(0) >= 19 else 'normal')"
    )
    env = {**os.environ, "TRAINER_PRIORITY": mode}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expect or (mode == "idle" and out.stdout.strip() == "nice")  # no SCHED_IDLE: nice


def test_trainer_priority_rejects_an_unknown_mode():
    code = "import sys; sys.path.insert(0, 'scripts'); import stack; stack.yield_to_requests()"
    env = {**os.environ, "TRAINER_PRIORITY": "fast"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "TRAINER_PRIORITY='fast'" in out.stderr


@pytest.mark.parametrize(("workers", "expect"), [(None, ["--workers", "2"]), ("1", []), ("3", ["--workers", "3"])])
def test_the_service_runs_api_workers_processes(monkeypatch, workers, expect):
    if workers is None:
        monkeypatch.delenv("API_WORKERS", raising=False)
    else:
        monkeypatch.setenv("API_WORKERS", workers)
    argv = stack.command("api")
    assert argv[argv.index("--port") + 2 :] == expect


@pytest.mark.parametrize("workers", ["0", "two", "-1"])
def test_api_workers_rejects_a_count_that_is_not_a_positive_whole_number(monkeypatch, workers):
    monkeypatch.setenv("API_WORKERS", workers)
    with pytest.raises(SystemExit, match=f"API_WORKERS='{workers}'"):
        stack.command("api")
