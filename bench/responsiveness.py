"""Responsiveness with the trainer on the same cores (a benchmark, not a test).

    .venv/bin/python bench/responsiveness.py [artifacts/default] [--requests 25] [--page-loads 6] [--lanes 2]

Starts the stack's service and dashboard exactly as `make up` does (`scripts/stack.py api` and
`dashboard`, on free ports) on a trained suite, and measures, idle and then with a trainer
running beside them under the stack's policy (`scripts/stack.py trainer`: TRAINER_PRIORITY,
default the idle scheduling class; the `default` preset's 2-layer run with both threads, or with
`--lanes 2` its two lanes' first runs, mlp2 and attn3, side by side with one thread each, as
`make up` trains them after attn2; trained into a scratch folder that reuses the suite's tokenizer
and data):
- the attention route with 128-token texts, every request a different held-out text (so the
  model runs each time), at 1 and at 8 concurrent clients, JSON and packed encodings: p50, p95,
  p99;
- the dashboard's Phase change and Attention pages in headless Chromium: seconds from navigation
  until the page is drawn (script run finished, charts on screen, the page stable for 1.5 s,
  which is not counted), for a fresh load of the page's URL and for a switch to it through the
  sidebar (Streamlit's frontend already loaded, as a user moving between pages sees it);
- the trainer's tokens/s alone, and while a user browses for 30 s or more (Chromium opening the
  Phase change, Heads and Attention pages one after another, then ten attention requests, over
  and over): a heavy user who never pauses, opening each page from its URL (the frontend
  reloaded every time) or through the sidebar, and one who moves through the sidebar and reads
  each page for `--think-s` seconds; and, for each, the cores each part (trainer, service,
  dashboard, browser, the rest) used meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.attention_latency import concurrent, free_port, text_of_length  # noqa: E402
from scripts import stack  # noqa: E402
from tests.conftest import processes  # noqa: E402
from tests.dashboard.browser import PROBE, Chromium, find_chromium  # noqa: E402
from tests.dashboard.conftest import wait_for  # noqa: E402
from training.core.artifacts import schema  # noqa: E402
from training.pipeline import presets  # noqa: E402

PAGES = {"Phase change": "", "Attention": "attention"}


def start(part: str, env: dict, extra: list[str] | None = None) -> subprocess.Popen:
    """A stack part started as `make up` starts it (the trainer under the stack's priority)."""
    os.environ.update(env)  # stack.command and the trainer's priority read the environment
    return subprocess.Popen(
        stack.command(part, extra),
        cwd=REPO,
        env={**stack.child_env(), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=stack.yield_to_requests if part == "trainer" else None,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def lane_heads(lanes: int) -> tuple[list[str], int]:
    """What `make up` trains at once with `lanes` lanes, read off the `default` preset as
    `training.pipeline.train` shares it out: its first run alone with every thread, or each
    lane's first run (even lanes from the front of the rest, odd from the back) with its share."""
    preset = presets.load("default")
    if lanes == 1:
        return [preset.runs[0].name], preset.train.threads
    rest = preset.runs[1:]
    return [(rest[::-1] if k % 2 else rest)[k // 2].name for k in range(lanes)], max(1, preset.train.threads // lanes)


class Trainer:
    """`default` runs trained beside the service, as `make up` trains them: attn2 alone with
    every thread, or (`lanes` N > 1) the lanes' first runs, mlp2 and attn3, side by side with
    threads // N each; tokens/s read off each run's progress.json and summed."""

    def __init__(self, suite: Path, scratch: Path, env: dict, warm_steps: int, lanes: int = 1):
        target = scratch / "default"
        target.mkdir(parents=True)
        shutil.copy(schema.tokenizer_path(suite), schema.tokenizer_path(target))
        shutil.copytree(schema.data_dir(suite), schema.data_dir(target))
        names, threads = lane_heads(lanes)
        self.runs = [target / name for name in names]
        self.procs = []
        for name in names:
            args = ["--preset", "default", "--out", str(scratch), "--runs", name, "--no-analyze"]
            args += ["--set", "train.steps=1000000", "--set", "train.stop=steps"]  # train as long as measured
            args += ["--set", f"train.threads={threads}"]
            self.procs.append(start("trainer", env, args))
        for run, proc in zip(self.runs, self.procs):
            self.wait_until_steady(run, proc, warm_steps)

    def progress(self, run: Path) -> tuple[float, int]:
        for _ in range(50):
            try:
                p = json.loads((run / "progress.json").read_text())
                return p["updated"], p["step"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                time.sleep(0.2)
        raise SystemExit(f"the trainer of {run.name} wrote no progress")

    def wait_until_steady(self, run: Path, proc: subprocess.Popen, warm_steps: int) -> None:
        """Past the first steps, where log-spaced snapshots come every few steps."""
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the trainer of {run.name} exited with {proc.returncode}")
            if (run / "progress.json").exists() and self.progress(run)[1] >= warm_steps:
                return
            time.sleep(1)
        raise SystemExit(f"the trainer of {run.name} did not reach step {warm_steps} in 10 minutes")

    def tokens_per_s(self, during, min_s: float = 30) -> float:
        """The trainers' tokens/s (summed) while `during()` runs, called again and again for at
        least `min_s` seconds (progress updates every 2 s, so a short window would read mostly noise)."""
        per_step = [schema.read_manifest(run).tokens_per_step for run in self.runs]
        before = [self.progress(run) for run in self.runs]
        start = time.monotonic()
        while time.monotonic() - start < min_s:
            during()
        time.sleep(2.5)  # one more progress update, which closes the window
        after = [self.progress(run) for run in self.runs]
        return sum(n * (s1 - s0) / (t1 - t0) for n, (t0, s0), (t1, s1) in zip(per_step, before, after))


def pct(times: list[float], unit: str = "ms") -> str:
    p = np.percentile(times, [50, 95, 99])
    return f"p50 {p[0]:7.1f} {unit}  p95 {p[1]:7.1f} {unit}  p99 {p[2]:7.1f} {unit}  (n={len(times)})"


def attention_figures(url: str, texts: list[str], requests: int) -> dict[str, list[float]]:
    out = {}
    for encoding in ("json", "packed"):
        bodies = [{"text": t, "encoding": encoding} for t in texts]
        concurrent(url, bodies[:1], 8, 2)  # warm the snapshot and the threads
        out[f"attention {encoding}, 1 client"] = concurrent(url, bodies[: requests * 2], 1, requests * 2)
        out[f"attention {encoding}, 8 clients"] = concurrent(url, bodies, 8, requests)
    return out


def drawn_after(browser: Chromium, t0: float, what: str, title: str = "", timeout_s: float = 120) -> float:
    """Seconds from `t0` until the page is drawn: Streamlit's script run done, a chart on
    screen, no spinner, its text starting with `title`, and nothing changing afterwards for
    1.5 s (not counted)."""
    last, since = None, None
    while time.perf_counter() - t0 < timeout_s:
        probe = json.loads(browser.evaluate(PROBE) or "{}")
        now = time.perf_counter()
        ready = (
            probe.get("text", "").startswith(title)
            and probe.get("state") == "notRunning"
            and probe.get("charts", 0) >= 1
            and not probe.get("spinners")
        )
        if ready and probe == last:
            if now - since >= 1.5:
                return since - t0
        else:
            since = now if ready else None
        last = probe if ready else None
        time.sleep(0.05)
    raise SystemExit(f"{what} was not drawn within {timeout_s:.0f} s")


def draw_time(browser: Chromium, url: str) -> float:
    """Seconds from navigating to `url` (Streamlit's frontend loaded anew) until it is drawn."""
    browser.send("Page.navigate", url="about:blank", session=True)
    t0 = time.perf_counter()
    browser.send("Page.navigate", url=url, session=True)
    return drawn_after(browser, t0, url)


SWITCH = """(link => link ? (link.click(), 'clicked') : 'missing')(
  [...document.querySelectorAll('[data-testid="stSidebarNavLink"]')].find(a => a.innerText.trim().endsWith(%s)))"""


def switch_time(browser: Chromium, title: str) -> float:
    """Seconds from clicking the sidebar's link to page `title` (the app already open on
    another page: Streamlit swaps the page without reloading its frontend, as a user moving
    between pages sees it) until that page is drawn."""
    t0 = time.perf_counter()
    if browser.evaluate(SWITCH % json.dumps(title)) == "missing":
        raise SystemExit(f"no sidebar link to the {title} page")
    return drawn_after(browser, t0, f"the {title} page (its link clicked)", title)


def page_figures(browser: Chromium, dashboard: str, query: str, loads: int) -> dict[str, list[float]]:
    out = {
        f"{name} page drawn": [draw_time(browser, f"{dashboard}/{path}?{query}") for _ in range(loads)]
        for name, path in PAGES.items()
    }
    # From one page to the other and back through the sidebar, `loads` times each way.
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    draw_time(browser, f"{dashboard}/?{query}")
    for _ in range(loads):
        for name in ("Attention", "Phase change"):
            times[name].append(switch_time(browser, name))
    return out | {f"{name} page, switched to": t for name, t in times.items()}


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by every process on the machine, summed by part:
    the trainer, the service, the dashboard, the browser and everything else (this benchmark's
    own clients included)."""
    tick = os.sysconf("SC_CLK_TCK")
    parts = {"trainer": 0.0, "service": 0.0, "dashboard": 0.0, "browser": 0.0, "other": 0.0}
    for _, cmd, fields in processes():
        used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        part = (
            "trainer"
            if "training train" in cmd
            else "service"
            if "uvicorn" in cmd or "multiprocessing" in cmd
            else "dashboard"
            if "streamlit" in cmd
            else "browser"
            if "chrom" in cmd
            else "other"
        )
        parts[part] += used
    return parts


def browse(browser: Chromium, dashboard: str, query: str, url: str, texts: list[str], think_s: float, *, reload: bool):
    """A user: page after page (Phase change, Heads, Attention), then ten texts of their own on
    the Attention route, reading each page for `think_s` seconds and each answer for a fifth of
    it (0: a heavy user who never pauses). `reload`: each page opened from its URL, Streamlit's
    frontend loaded anew every time; otherwise through the sidebar, as one moves around the app."""

    def run() -> None:
        for title, path in (("Phase change", ""), ("Heads", "heads"), ("Attention", "attention")):
            if reload:
                browser.load(f"{dashboard}/{path}?{query}", min_charts=1, timeout_s=120)
            else:
                switch_time(browser, title)
            time.sleep(think_s)
        for text in texts[:10]:
            concurrent(url, [{"text": text, "encoding": "packed"}], 1, 1)
            time.sleep(think_s / 5)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite_dir", nargs="?", default="artifacts/default", type=Path)
    ap.add_argument("--run", default="attn2")
    ap.add_argument("--requests", type=int, default=25, help="per client, at 8 clients")
    ap.add_argument("--page-loads", type=int, default=6, help="per page and condition")
    ap.add_argument("--warm-steps", type=int, default=1200, help="trainer steps before measuring it")
    ap.add_argument("--think-s", type=float, default=5.0, help="the second user's pause after each page")
    ap.add_argument(
        "--lanes", type=int, default=1, help="1: attn2 with both threads; 2: mlp2 and attn3 with one thread each"
    )
    args = ap.parse_args()
    suite = args.suite_dir.resolve()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: apt-get install -y chromium")
    n_ctx = schema.read_manifest(suite / args.run).model["n_ctx"]
    texts = [text_of_length(suite, min(128, n_ctx), start=1000 + 400 * k) for k in range(8 * args.requests)]
    api_port, dash_port = free_port(), free_port()
    env = {
        "ARTIFACTS_DIR": str(suite.parent),
        "API_PORT": str(api_port),
        "DASHBOARD_PORT": str(dash_port),
        "INDUCTIONSCOPE_API": f"http://127.0.0.1:{api_port}",
    }
    api_url, dashboard = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dash_port}"
    query = f"suite={suite.name}&run={args.run}&layer=1&head=0"
    attention_url = f"{api_url}/suites/{suite.name}/runs/{args.run}/snapshots/latest/attention"
    figures: dict[str, dict[str, list[float]]] = {}
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        procs = [start("api", env), start("dashboard", env)]
        browser = None
        trainer = None
        try:
            wait_for(f"{api_url}/health", procs[0], "the service", timeout_s=180)
            wait_for(f"{dashboard}/_stcore/health", procs[1], "the dashboard", timeout_s=180)
            browser = Chromium(chromium, Path(tmp) / "profile")
            browser.load(f"{dashboard}/?{query}", min_charts=1, timeout_s=180)  # warm both
            figures["idle"] = attention_figures(attention_url, texts, args.requests)
            figures["idle"] |= page_figures(browser, dashboard, query, args.page_loads)
            trainer = Trainer(suite, Path(tmp) / "scratch", env, args.warm_steps, args.lanes)
            procs.extend(trainer.procs)
            rates["trainer alone"] = trainer.tokens_per_s(lambda: time.sleep(0.5))
            figures["training"] = {}
            cores: dict[str, dict[str, float]] = {}
            users = {
                "a user reloading pages": browse(browser, dashboard, query, attention_url, texts, 0.0, reload=True),
                "a user browsing": browse(browser, dashboard, query, attention_url, texts, 0.0, reload=False),
                f"a user pausing {args.think_s:g} s": browse(
                    browser, dashboard, query, attention_url, texts, args.think_s, reload=False
                ),
            }
            for name, user in users.items():
                before, t0 = cpu_seconds(), time.perf_counter()
                rates[f"trainer, {name}"] = trainer.tokens_per_s(user)
                after, wall = cpu_seconds(), time.perf_counter() - t0
                cores[name] = {part: (after[part] - before[part]) / wall for part in after}
            figures["training"] |= attention_figures(attention_url, texts, args.requests)
            figures["training"] |= page_figures(browser, dashboard, query, args.page_loads)
            rates["trainer alone, again"] = trainer.tokens_per_s(lambda: time.sleep(0.5))
        finally:
            if browser is not None:
                browser.close()
            for proc in procs:
                stop(proc)

    policy = os.environ.get("TRAINER_PRIORITY", "idle")
    names, threads = lane_heads(args.lanes)
    lanes_text = f"{', '.join(names)} side by side, {threads} thread(s) each"
    print(f"suite {suite} run {args.run}; {os.cpu_count()} CPUs; trainer priority {policy}; training {lanes_text}")
    for condition, rows in figures.items():
        print(f"\n{condition}:")
        for name, times in rows.items():
            unit = "ms" if name.startswith("attention") else "s"
            print(f"  {name:32s} {pct(times, unit)}")
    print()
    for name, rate in rates.items():
        print(f"  {name:32s} {rate / 1000:6.1f}k tokens/s")
    print("  cores used by each part while the trainer was measured (of 2; a process that ended meanwhile is missed):")
    for name, used in cores.items():
        print(f"    {name:26s}", "  ".join(f"{part} {share:.2f}" for part, share in used.items()))
    alone = (rates["trainer alone"] + rates["trainer alone, again"]) / 2
    for name, rate in rates.items():
        if "user" in name:
            print(f"  throughput lost, {name.removeprefix('trainer, ')}: {1 - rate / alone:.0%}")
    for enc in ("json", "packed"):
        idle, busy = (np.percentile(figures[c][f"attention {enc}, 8 clients"], 95) for c in ("idle", "training"))
        print(f"  attention {enc}, 8 clients, p95 training / idle: {busy / idle:.2f}x")


if __name__ == "__main__":
    main()
