"""Run the inductionscope stack: the one place that knows how each part is started.

    python scripts/stack.py up         # service + dashboard, and train the default suite if missing
    python scripts/stack.py api        # the REST service (uvicorn backend.main:app)
    python scripts/stack.py dashboard  # the Streamlit dashboard
    python scripts/stack.py trainer [ARGS...]  # python -m training train (default: --preset default --resume)

`make up` runs `up`; docker-compose.yml runs `api`, `dashboard` and `trainer`, so Docker and the
local way start exactly the same commands (tests/test_stack.py checks this). Settings come from
the environment: ARTIFACTS_DIR (artifacts), API_HOST (127.0.0.1), API_PORT (8000),
DASHBOARD_HOST (127.0.0.1), DASHBOARD_PORT (8501), INDUCTIONSCOPE_API (http://API_HOST:API_PORT),
API_WORKERS (2): the service's processes, TRAINER_PRIORITY (idle) and TRAINER_NICE (19): how the
trainer yields the cores to the others.
Only the standard library is imported here: the dashboard image has no torch.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRAIN_ARGS = ["--preset", "default", "--resume"]


def settings() -> dict[str, str]:
    env = os.environ
    s = {
        "artifacts": env.get("ARTIFACTS_DIR", "artifacts"),
        "api_host": env.get("API_HOST", "127.0.0.1"),
        "api_port": env.get("API_PORT", "8000"),
        "dashboard_host": env.get("DASHBOARD_HOST", "127.0.0.1"),
        "dashboard_port": env.get("DASHBOARD_PORT", "8501"),
        "api_workers": env.get("API_WORKERS", "2"),
    }
    s["api_url"] = env.get(
        "INDUCTIONSCOPE_API",
        f"http://{'localhost' if s['api_host'] in ('0.0.0.0', '127.0.0.1') else s['api_host']}:{s['api_port']}",
    )
    return s


def command(part: str, extra: list[str] | None = None) -> list[str]:
    """The argv that starts `part` ("api", "dashboard" or "trainer")."""
    s = settings()
    py = sys.executable
    if part == "api":
        argv = [py, "-m", "uvicorn", "backend.main:app", "--host", s["api_host"], "--port", s["api_port"]]
        # One process per core: an answer is mostly Python (HTTP, encoding) holding the GIL, so
        # a second process, not a second thread, is what serves two requests at once (bench/).
        workers = s["api_workers"]
        if not workers.isdigit() or int(workers) < 1:
            raise SystemExit(f"error: API_WORKERS={workers!r}: use a whole number of processes, 1 or more")
        return argv + (["--workers", workers] if int(workers) > 1 else [])
    if part == "dashboard":
        return [
            py,
            "-m",
            "streamlit",
            "run",
            "dashboard/app.py",
            "--server.address",
            s["dashboard_host"],
            "--server.port",
            s["dashboard_port"],
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ]
    if part == "trainer":
        return [py, "-m", "training", "train", "--out", s["artifacts"], *(extra or DEFAULT_TRAIN_ARGS)]
    raise ValueError(f"unknown part {part!r}")


def child_env() -> dict[str, str]:
    s = settings()
    return {**os.environ, "ARTIFACTS_DIR": s["artifacts"], "INDUCTIONSCOPE_API": s["api_url"], "PYTHONUNBUFFERED": "1"}


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def suite_complete(artifacts: Path, suite: str = "default") -> bool:
    """True when every run of the suite is trained and analysed (a cheap check, no imports)."""
    suite_path = artifacts / suite
    runs = [p for p in suite_path.glob("*/manifest.json")] if suite_path.is_dir() else []
    if not runs or not (suite_path / "analysis" / "report.json").exists():
        return False
    return all(json.loads(p.read_text()).get("status") == "complete" for p in runs)


def yield_to_requests() -> None:
    """Lower this process's CPU priority so that the trainer yields the cores to the service
    and the dashboard when they have work (a request, a page to draw) and takes every idle
    cycle otherwise. TRAINER_PRIORITY: `idle` (default: Linux's SCHED_IDLE class, which runs
    only when nothing else wants the CPU; falls back to nice 19 elsewhere), `nice` (nice
    TRAINER_NICE, default 19), or `normal` (no change). Inherited across exec, so it applies
    to `make up`'s trainer and to the compose `trainer` alike."""
    mode = os.environ.get("TRAINER_PRIORITY", "idle")
    if mode not in ("idle", "nice", "normal"):
        raise SystemExit(f"error: TRAINER_PRIORITY={mode!r}: use idle, nice or normal")
    if mode == "normal":
        return
    if mode == "idle" and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:  # not permitted in this container: fall back to nice
            pass
    os.nice(int(os.environ.get("TRAINER_NICE", "19")))


def relay(proc: subprocess.Popen, label: str) -> None:
    for line in proc.stdout:
        print(f"[{label}] {line}", end="", flush=True)


def start(part: str, extra: list[str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        command(part, extra),
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=yield_to_requests if part == "trainer" else None,
    )
    threading.Thread(target=relay, args=(proc, part), daemon=True).start()
    return proc


def stop(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def up() -> int:
    s = settings()
    for name, host, port in (
        ("API_PORT", s["api_host"], s["api_port"]),
        ("DASHBOARD_PORT", s["dashboard_host"], s["dashboard_port"]),
    ):
        if not port_free(host, int(port)):
            print(
                f"error: port {port} on {host} is taken (set {name}=<another port>, e.g. {name}={int(port) + 1} make up)",
                file=sys.stderr,
            )
            return 2
    Path(s["artifacts"]).mkdir(parents=True, exist_ok=True)
    procs = {"api": start("api"), "dashboard": start("dashboard")}
    if not suite_complete(ROOT / s["artifacts"] if not Path(s["artifacts"]).is_absolute() else Path(s["artifacts"])):
        print(
            "[stack] the default suite is missing or unfinished: training it in the background (about an hour on "
            "2 CPU cores); the dashboard shows each run's curves live, and its full analysis when it finishes",
            flush=True,
        )
        procs["trainer"] = start("trainer")
    print(
        f"\n[stack] REST API:  {s['api_url']}  (docs: {s['api_url']}/docs)\n"
        f"[stack] dashboard: http://localhost:{s['dashboard_port']}\n[stack] Ctrl-C stops everything\n",
        flush=True,
    )
    try:
        while True:
            for name, proc in list(procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                if name == "trainer" and code == 0:
                    print("[stack] the default suite is trained and analysed", flush=True)
                    del procs[name]
                elif name == "trainer":
                    print(f"[stack] training stopped (exit {code}); resume with `make up` later", flush=True)
                    del procs[name]
                else:
                    print(f"[stack] {name} exited with code {code}; stopping", file=sys.stderr, flush=True)
                    stop(procs)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\n[stack] stopping ...", flush=True)
        stop(procs)
        return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("up", "api", "dashboard", "trainer"):
        print(__doc__, file=sys.stderr)
        return 2
    part, extra = argv[0], argv[1:]
    if part == "up":
        return up()
    if part == "trainer":
        yield_to_requests()
    os.chdir(ROOT)
    os.execvpe(command(part, extra or None)[0], command(part, extra or None), child_env())


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (docker stop, kill) stops the children like Ctrl-C


if __name__ == "__main__":
    # Installed explicitly for SIGINT too: a process started in the background by a shell
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt on Ctrl-C.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    raise SystemExit(main(sys.argv[1:]))
