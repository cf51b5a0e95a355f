"""Latency of the REST service against a trained suite (a benchmark, not a test).

    .venv/bin/python bench/attention_latency.py [artifacts/default] [--run attn2] [--clients 8]

Starts `uvicorn backend.main:app` in a subprocess on a free port (ARTIFACTS_DIR = the suite's
parent folder) and measures, over real HTTP:
- the cold first attention request (snapshot and tokenizer loaded on demand);
- the attention route for 128-token texts (or n_ctx tokens if the context is shorter) from
  `--clients` concurrent clients on a warm snapshot cache: p50 and p95, every request a
  different held-out text (so the model runs each time), and again with one text repeated
  (answered from the service's response cache);
- the metrics route (warm, sequential): p50 and p95;
and, in this process, TransformerLens' `run_with_cache` on the same tokens, to which the warm
attention latency is compared (the ratio is the service's overhead: HTTP, JSON, tokenising).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from backend.core.config import Settings  # noqa: E402 (after the sys.path line)
from training import load_hooked  # noqa: E402
from training.core.artifacts import schema  # noqa: E402
from training.core.tokenizer import BOS_ID, load  # noqa: E402


def text_of_length(suite: Path, n_tokens: int, start: int = 1000) -> str:
    """A held-out text from token `start` on that tokenises to exactly `n_tokens` tokens with
    BOS (or as close below)."""
    tok = load(suite)
    heldout = schema.read_npy(schema.data_dir(suite) / "heldout.npy")
    start %= max(1, len(heldout) - 2 * n_tokens)  # a small suite's held-out text wraps around
    ids = [int(t) for t in heldout[start : start + 2 * n_tokens] if t != BOS_ID]
    best = ""
    for k in range(n_tokens - 1, 0, -1):  # decoding and re-encoding may merge differently
        text = tok.decode(ids[:k])
        if 1 + len(tok.encode(text, add_special_tokens=False).ids) <= n_tokens:
            best = text
            break
    return best


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(artifacts: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "ARTIFACTS_DIR": str(artifacts), "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "uvicorn", "backend.main:app", "--port", str(port), "--log-level", "warning"]
    cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    for _ in range(600):  # up to 60 s for imports on a busy machine
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the service did not start")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def concurrent(url: str, bodies: list[dict], clients: int, per_client: int) -> list[float]:
    """Latencies of `clients` threads each posting `per_client` requests back to back; request
    i of client c sends bodies[(c * per_client + i) % len(bodies)]."""
    times: list[float] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        with httpx.Client(timeout=60) as session:
            for i in range(per_client):
                body = bodies[(c * per_client + i) % len(bodies)]
                ms = timed(lambda: session.post(url, json=body).raise_for_status())  # noqa: B023 (called at once)
                with lock:
                    times.append(ms)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times


def pct(times: list[float]) -> str:
    return f"p50 {np.percentile(times, 50):7.1f} ms   p95 {np.percentile(times, 95):7.1f} ms   (n={len(times)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite_dir", nargs="?", default="artifacts/default", type=Path)
    ap.add_argument("--run", default=None, help="default: attn2 if present, else the first run")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=25, help="per client")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--layers", help="comma-separated layers to request (default: all)")
    ap.add_argument("--heads", help="comma-separated heads of each layer to request (default: all)")
    args = ap.parse_args()
    suite = args.suite_dir.resolve()
    runs = schema.list_runs(suite)
    if not runs:
        raise SystemExit(
            f"{suite} has no runs; train one: .venv/bin/python -m training train --preset tiny --out /tmp/benchart"
        )
    run = args.run or ("attn2" if "attn2" in runs else runs[0])
    n_ctx = schema.read_manifest(suite / run).model["n_ctx"]
    n_tokens = min(args.tokens, n_ctx)
    # Distinct texts, one per request, so the service's response cache never answers: the
    # figures below are the model run, not a lookup. One repeated text measures the cache.
    n_texts = args.clients * args.requests
    texts = [text_of_length(suite, n_tokens, start=1000 + 3 * n_tokens * k) for k in range(n_texts)]
    threads = Settings().torch_threads  # the service's own setting, so both run alike
    if threads:
        torch.set_num_threads(threads)

    port = free_port()
    base = f"http://127.0.0.1:{port}/suites/{suite.name}/runs/{run}"
    server = start_server(suite.parent, port, args.workers)
    try:
        selection = {
            key: [int(x) for x in getattr(args, key).split(",")] for key in ("layers", "heads") if getattr(args, key)
        }
        bodies = [{"text": t, **selection} for t in texts]
        url = f"{base}/snapshots/latest/attention"
        first = httpx.post(url, json=bodies[0], timeout=120)
        cold = first.elapsed.total_seconds() * 1000
        first.raise_for_status()
        sent = len(first.json()["token_ids"])
        concurrent(url, bodies[:1], args.clients, 3)  # warm every worker thread
        with httpx.Client(timeout=60) as c:
            single = [timed(lambda b=b: c.post(url, json=b).raise_for_status()) for b in bodies[1:31]]
        warm = concurrent(url, bodies, args.clients, args.requests)
        repeated = concurrent(url, bodies[:1], args.clients, args.requests)
        with httpx.Client(timeout=60) as c:
            c.get(f"{base}/metrics").raise_for_status()  # the first call loads the run's arrays
            metrics = [timed(lambda: c.get(f"{base}/metrics").raise_for_status()) for _ in range(20)]
    finally:
        server.terminate()
        server.wait(timeout=10)

    model = load_hooked(suite / run, "latest", with_tokenizer=False)
    tokens = torch.tensor([first.json()["token_ids"]])
    with torch.no_grad():
        model.run_with_cache(tokens)
        direct = [timed(lambda: model.run_with_cache(tokens)) for _ in range(50)]

    heads = f"layers {args.layers or 'all'}, heads {args.heads or 'all'}"
    print(f"suite {suite} run {run} (n_ctx {n_ctx}), {sent}-token text ({heads})")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, torch threads {torch.get_num_threads()}")
    print(f"attention, cold first request        {cold:7.1f} ms")
    print(f"attention, warm, 1 client            {pct(single)}")
    print(f"attention, warm, {args.clients} concurrent clients {pct(warm)}")
    print(f"  the same text each time (cached)   {pct(repeated)}")
    print(f"metrics, warm, 1 client              {pct(metrics)}")
    print(f"run_with_cache in-process            {pct(direct)}")
    d50 = np.percentile(direct, 50)
    print(
        f"ratio to run_with_cache (p50): 1 client {np.percentile(single, 50) / d50:.1f}x, "
        f"{args.clients} clients {np.percentile(warm, 50) / d50:.1f}x (p95 {np.percentile(warm, 95) / d50:.1f}x)"
    )


if __name__ == "__main__":
    main()
