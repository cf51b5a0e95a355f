"""Load test of the REST service (locust): concurrent dashboard-like users, latency per route,
errors, and the service's resident memory (a benchmark, not a test; `make test` runs a short form).

    .venv/bin/python bench/load_test.py artifacts/default                 # 8 users, 60 s
    .venv/bin/python bench/load_test.py artifacts/default --with-trainer  # ... while a suite trains
    .venv/bin/python bench/load_test.py artifacts/tiny --users 3 --rounds 2 --warmup 0 --json out.json

Copies the suite into a scratch artifacts folder (the original is only read; a copy taken while
the suite is being written is checked with `python -m training verify` and taken again if it
caught a file mid-write), starts `uvicorn backend.main:app` on a free loopback port, and runs
`bench/locustfile.py` headless in its own process (locust patches the standard library with
gevent, so it stays out of this one): first `--warmup` seconds (snapshots load, caches fill;
not counted), then `--users` users for `--duration` seconds (or, with `--rounds N`, until each
user has called every route N times in turn: `make test`'s short form). `--with-trainer` also starts
`scripts/stack.py trainer` — `python -m training train` at the trainer's idle priority, as
`make up` runs it — on another suite in the same artifacts folder, from before the warm-up to the
end. Prints requests, failures and p50/p95/p99 per route (locust's histogram: milliseconds,
two significant digits above 100 ms), the service's resident memory (RSS) at the start, after the
warm-up and at the end, and the trainer's steps during the run; exits 1 if any request failed
or a route was never called. Every process it starts is stopped when it ends.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "bench" / "locustfile.py"
ROUTES = ("GET metrics", "POST attention", "POST prefix-matching", "POST ablation")
STALL_S = 300  # a child that shows no progress for this long is stuck, however busy the machine
ROUNDS_CAP_S = 1800  # --rounds ends when the work is done; this only stops a hung test
TRAINER_SUITE = "loadtrainer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def copy_suite(src: Path, artifacts: Path, tries: int = 5) -> Path:
    """The suite copied into `artifacts` (no resume checkpoints, locks or temp files), verified."""
    dest = artifacts / src.name
    for _ in range(tries):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("resume", ".*"))
        check = subprocess.run(
            [sys.executable, "-m", "training", "verify", str(dest)], cwd=REPO, capture_output=True, text=True
        )
        if check.returncode == 0:
            return dest
    raise SystemExit(f"could not take a whole copy of {src} in {tries} tries:\n{check.stdout}{check.stderr}")


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used (Linux /proc): how a starting child shows progress."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def wait_until(ready, proc: subprocess.Popen, what: str) -> None:
    """Wait for `ready()` as long as `proc` lives and keeps using CPU: a busy machine only makes
    this slower; a child that uses none for STALL_S is stuck."""
    last, last_change = cpu_seconds(proc.pid), time.monotonic()
    while not ready():
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with code {proc.returncode}")
        if (cpu := cpu_seconds(proc.pid)) > last:
            last, last_change = cpu, time.monotonic()
        if time.monotonic() - last_change > STALL_S:
            raise SystemExit(f"{what} made no progress for {STALL_S} s")
        time.sleep(0.2)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def trainer_step(artifacts: Path) -> int:
    """The trainer's latest step (progress.json of the run it trains; 0 before it starts)."""
    steps = [json.loads(p.read_text()).get("step", 0) for p in (artifacts / TRAINER_SUITE).glob("*/progress.json")]
    return max(steps, default=0)


def percentile(histogram: dict[str, int], q: float) -> float | None:
    """The q-th percentile (nearest rank) of locust's response-time histogram {ms: count}."""
    values = sorted((float(ms), n) for ms, n in histogram.items())
    total = sum(n for _, n in values)
    seen = 0
    for ms, n in values:
        seen += n
        if seen >= q / 100 * total:
            return ms
    return None


def run_locust(url: str, suite: str, users: int, seconds: float | None, rounds: int, prefix: Path, seed: int) -> dict:
    """locust headless, `DashboardUser`s for `seconds`, or `RoundsUser`s for `rounds` rounds
    (`seconds` None): per route, requests, failures and p50/p95/p99 (ms); the messages of failed
    requests and of exceptions raised in the users; locust's exit code; the seconds it ran."""
    env = {**os.environ, "LOAD_SUITE": suite, "LOAD_SEED": str(seed), "LOAD_ROUNDS": str(rounds)}
    user = "DashboardUser" if seconds else "RoundsUser"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), user, "--headless", "--host", url]
    cmd += ["--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds or ROUNDS_CAP_S:g}s"]
    cmd += ["--stop-timeout", "30", "--json-file", str(prefix), "--csv", str(prefix), "--only-summary"]
    started = time.monotonic()
    with open(f"{prefix}.log", "w") as log:  # locust ends itself: at its run time, or when the rounds are done
        code = subprocess.run([*cmd, "--loglevel", "WARNING"], cwd=REPO, env=env, stdout=log, stderr=log).returncode
    seconds = seconds or time.monotonic() - started
    entries = json.loads(Path(f"{prefix}.json").read_text())
    merged: dict[str, int] = {}
    for e in entries:
        for ms, n in e["response_times"].items():
            merged[ms] = merged.get(ms, 0) + n
    total = {k: sum(e[k] for e in entries) for k in ("num_requests", "num_failures")}
    entries.append({"method": "", "name": "all", **total, "response_times": merged})
    routes = {
        f"{e['method']} {e['name']}".strip(): {
            "requests": e["num_requests"],
            "failures": e["num_failures"],
            "rps": e["num_requests"] / seconds,
            **{f"p{q}": percentile(e["response_times"], q) for q in (50, 95, 99)},
        }
        for e in entries
    }
    messages = []
    for kind, fields in (
        ("failures", ("Method", "Name", "Error", "Occurrences")),
        ("exceptions", ("Message", "Count")),
    ):
        with open(f"{prefix}_{kind}.csv", newline="") as f:
            messages += [" ".join(row[k] for k in fields) for row in csv.DictReader(f)]
    return {"routes": routes, "failure_messages": messages, "locust_exit_code": code, "seconds": seconds}


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite_dir", type=Path, help="e.g. artifacts/default (only read)")
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--duration", type=float, default=60, help="seconds measured")
    ap.add_argument("--warmup", type=float, default=15, help="seconds of load before, not counted")
    ap.add_argument("--rounds", type=int, help="instead of --duration: each user calls every route in turn this often")
    ap.add_argument("--with-trainer", action="store_true", help="train another suite at the same time")
    ap.add_argument("--trainer-args", default="--preset default --runs attn2 --no-analyze")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    src = args.suite_dir.resolve()
    if not (src / "tokenizer.json").is_file():
        raise SystemExit(f"{args.suite_dir} is not a suite folder (no tokenizer.json)")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="inductionscope-load-"))
    artifacts = work / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    copy_suite(src, artifacts)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ARTIFACTS_DIR": str(artifacts), "TOKENIZERS_PARALLELISM": "false"}
    service = trainer = None
    try:
        with open(work / "service.log", "w") as log:
            service = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "backend.main:app", "--port", str(port), "--log-level", "warning"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: healthy(url), service, f"the service (log: {work / 'service.log'})")
        rss = {"start": rss_mib(service.pid)}
        if args.with_trainer:
            with open(work / "trainer.log", "w") as log:
                trainer = subprocess.Popen(
                    [
                        sys.executable,
                        "scripts/stack.py",
                        "trainer",
                        "--suite",
                        TRAINER_SUITE,
                        *args.trainer_args.split(),
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            # Past its first steps (data, model, torch.compile): the load meets a trainer at work.
            wait_until(lambda: trainer_step(artifacts) >= 10, trainer, f"the trainer (log: {work / 'trainer.log'})")
        if args.warmup > 0:
            run_locust(url, src.name, args.users, args.warmup, 0, work / "warmup", args.seed + 1)
        rss["after_warmup"] = rss_mib(service.pid)
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:  # the service's RSS every 2 s while the load runs
            while not done.wait(2.0):
                samples.append(rss_mib(service.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        step_before = trainer_step(artifacts) if trainer else None
        sampler.start()
        duration = None if args.rounds else args.duration
        result = run_locust(url, src.name, args.users, duration, args.rounds or 0, work / "load", args.seed)
        done.set()
        sampler.join()
        rss["end"], rss["max_during"] = rss_mib(service.pid), max(samples, default=None)
        half = len(samples) // 2  # a leak keeps climbing; a bounded working set levels off
        rss["max_first_half"], rss["max_second_half"] = max(samples[:half] or [0]), max(samples[half:] or [0])
        if trainer is not None and trainer.poll() is not None:
            raise SystemExit(
                f"the trainer stopped during the test (code {trainer.returncode}; log {work / 'trainer.log'})"
            )
        trainer_steps = None if trainer is None else trainer_step(artifacts) - step_before
    finally:
        stop(trainer)
        stop(service)
    result.update(
        suite=str(args.suite_dir),
        users=args.users,
        rounds=args.rounds,
        warmup_s=args.warmup,
        with_trainer=args.with_trainer,
        trainer_steps=trainer_steps,
        rss_mib=rss,
    )
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    missing = [r for r in ROUTES if result["routes"].get(r, {}).get("requests", 0) == 0]
    failed = result["routes"]["all"]["failures"]
    if missing or failed or result["locust_exit_code"]:
        print(
            f"FAILED: {failed} failed requests, locust exit code {result['locust_exit_code']}, "
            f"routes never called: {missing or 'none'}",
            file=sys.stderr,
        )
        return 1
    return 0


def report(r: dict) -> None:
    what = f"{r['rounds']} rounds of every route each" if r["rounds"] else f"{r['seconds']:g} s"
    print(f"{r['users']} users, {what} after a {r['warmup_s']:g} s warm-up, suite {r['suite']}")
    print(f"{'route':24} {'requests':>8} {'failures':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for name, s in r["routes"].items():
        ps = " ".join(f"{'-' if s[p] is None else f'{s[p]:g}':>7}" for p in ("p50", "p95", "p99"))
        print(f"{name:24} {s['requests']:8d} {s['failures']:8d} {s['rps']:7.1f} {ps}")
    for message in r["failure_messages"]:
        print(f"  failure: {message}")
    rss = r["rss_mib"]
    print(
        f"service RSS: {rss['start']:.0f} MiB at start, {rss['after_warmup']:.0f} MiB after the warm-up, "
        f"{rss['end']:.0f} MiB at the end; the largest over the run's first half {rss['max_first_half']:.0f} MiB, "
        f"over its second half {rss['max_second_half']:.0f} MiB"
    )
    if r["with_trainer"]:
        print(f"trainer: {r['trainer_steps']} steps during the run (another suite, idle priority)")


if __name__ == "__main__":
    raise SystemExit(main())
