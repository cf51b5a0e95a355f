"""Side by side or one at a time? Training throughput of the `default` runs on this machine's cores
(a benchmark, not a test; issue 25: "the small models scale poorly across threads").

    .venv/bin/python bench/lanes.py [--preset default] [--seconds 40] [--pairs attn3+mlp2,attn2+attn1]

For each pair of runs (A, B), three measurements, each in fresh processes timed over the same
`--seconds` after a warm-up: A alone with all threads (`train.threads`), B alone likewise, and A
and B side by side, one thread each. It prints steps/s of each and the ratio that decides the
suite's schedule: the time to train both one at a time with all threads over the time side by
side (both runs given the same number of steps each; > 1: side by side is sooner). The training
step is the trainer's (`training.pipeline.train.train_step`) on the preset's batches.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def worker(preset_name: str, run_name: str, threads: int, seconds: float, start_at: float) -> None:
    """One process: train `run_name` from scratch, report steps/s over `seconds` after warm-up."""
    import numpy as np
    import torch

    from training.core.model import Transformer
    from training.pipeline import data, presets
    from training.pipeline.train import train_step

    torch.set_num_threads(threads)
    preset = presets.load(preset_name)
    run = next(r for r in preset.runs if r.name == run_name)
    cfg_t = preset.run_train(run)
    cfg_m = preset.run_model(run, preset.data.vocab_size)
    torch.manual_seed(0)
    model = Transformer(cfg_m)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg_t.lr, weight_decay=cfg_t.weight_decay)
    stream = torch.from_numpy(np.random.default_rng(0).integers(0, cfg_m.d_vocab, 2_000_000).astype(np.int64))

    def step(i: int) -> None:
        x = data.train_batch(
            stream,
            i,
            seed=0,
            batch_size=cfg_t.batch_size,
            n_ctx=cfg_m.n_ctx,
            repeat_fraction=preset.data.repeat_fraction,
            repeat_layout=preset.data.repeat_layout,
        )
        train_step(model, opt, x, lr=cfg_t.lr, grad_clip=cfg_t.grad_clip)

    i = 0
    while time.time() < start_at:  # warm up until both processes of a pair are ready
        step(i)
        i += 1
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        step(i + n)
        n += 1
    print(json.dumps({"run": run_name, "threads": threads, "steps_per_s": n / (time.perf_counter() - t0)}))


def measure(preset: str, runs: list[str], threads: int, seconds: float) -> list[float]:
    start_at = time.time() + 8  # imports and model building, then warm-up to this moment
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", preset, run, str(threads), str(seconds), str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for run in runs
    ]
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        out.append(json.loads(stdout.strip().splitlines()[-1])["steps_per_s"])
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        preset, run, threads, seconds, start_at = sys.argv[2:7]
        worker(preset, run, int(threads), float(seconds), float(start_at))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--pairs", default="attn3+mlp2,attn2+attn1")
    ap.add_argument("--threads", type=int, default=2, help="the all-threads case (the preset's train.threads)")
    args = ap.parse_args()
    print(f"preset {args.preset}, {args.seconds:.0f} s per measurement, steps/s")
    for pair in args.pairs.split(","):
        a, b = pair.split("+")
        (alone_a,) = measure(args.preset, [a], args.threads, args.seconds)
        (alone_b,) = measure(args.preset, [b], args.threads, args.seconds)
        (one_a,) = measure(args.preset, [a], 1, args.seconds)
        side_a, side_b = measure(args.preset, [a, b], 1, args.seconds)
        # the same N steps of each: one at a time N/alone_a + N/alone_b; side by side max(N/side_a, N/side_b)
        one_at_a_time = 1 / alone_a + 1 / alone_b
        side_by_side = max(1 / side_a, 1 / side_b)
        print(
            f"{a}: {alone_a:.2f} alone ({args.threads} threads), {one_a:.2f} alone (1 thread), {side_a:.2f} side by side (1 thread)\n"
            f"{b}: {alone_b:.2f} alone ({args.threads} threads), {side_b:.2f} side by side (1 thread)\n"
            f"  {a}+{b}, the same steps each: one at a time / side by side = {one_at_a_time / side_by_side:.2f} "
            f"(a lane's 1-thread rate {side_a / alone_a:.0%} of {a}'s {args.threads}-thread rate)"
        )


if __name__ == "__main__":
    main()
