"""Choosing the LLC's SGLD settings on a trained run: a sweep, and what a whole run costs.

Run:  .venv/bin/python experiments/llc_settings.py sweep RUN_DIR STEPS EPS:NBETA:GAMMA,... [llc.key=value ...]
      .venv/bin/python experiments/llc_settings.py cost RUN_DIR [llc.key=value ...]

`sweep`: for each snapshot in STEPS (comma-separated; the nearest snapshot is taken) and each
(epsilon, n*beta, gamma), one estimate with the other settings from the run's LLC settings and
the overrides (e.g. `llc.burnin=0 llc.draws=100` to see the whole trace). One line each: the
LLC (mean ± std over chains), the trace in five blocks of steps, each as n*beta * (block mean
loss - L(w*)) so that a flat trace reads as five equal numbers (burn-in included), the lowest
loss seen minus L(w*) (negative = below the start: the chain is still descending, or one batch
is easier than the average), whether every loss was finite, and the process's CPU seconds and
wall seconds. `cost`: the estimates the analysis makes for the run (every `llc.every`-th
snapshot and the last), each with its CPU and wall seconds, then the totals.

Everything is the package's: the contexts (`training.pipeline.analyze_llc.llc_sequences`), the snapshots
chosen (`llc_entries`), the estimator (`training.core.analysis.llc.estimate_llc`). Threads: torch's
default, or `THREADS=1` in the environment. The numbers behind the `default` preset's settings
are in experiments/LOG.md, "LLC settings".
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training.core.analysis.llc import estimate_llc  # noqa: E402
from training.core.artifacts import schema  # noqa: E402
from training.pipeline.analyze import snapshot_fast  # noqa: E402
from training.pipeline.analyze_llc import llc_config, llc_entries, llc_sequences  # noqa: E402
from training.pipeline.config import override  # noqa: E402


def timed(model, sequences, cfg):
    cpu, wall = time.process_time(), time.perf_counter()
    est = estimate_llc(model, sequences, cfg)
    return est, time.process_time() - cpu, time.perf_counter() - wall


def sweep(run_path: Path, steps: str, grid: str, overrides: list[str]) -> None:
    manifest = schema.read_manifest(run_path)
    base = llc_config(manifest, overrides)
    sequences = llc_sequences(run_path.parent, manifest, base)
    for step in (int(s) for s in steps.split(",")):
        entry = min(manifest.snapshots, key=lambda e: abs(e.step - step))
        model = snapshot_fast(run_path, manifest, entry)
        for item in grid.split(","):
            eps, nbeta, gamma = item.split(":")
            cfg = override({"llc": base}, [f"llc.epsilon={eps}", f"llc.nbeta={nbeta}", f"llc.gamma={gamma}"])["llc"]
            est, cpu, wall = timed(model, sequences, cfg)
            excess = est.loss_trace - est.init_loss
            blocks = [cfg.nbeta * float(b.mean()) for b in np.array_split(excess, 5, axis=1)]
            print(
                json.dumps(
                    {
                        "step": entry.step,
                        "epsilon": cfg.epsilon,
                        "nbeta": cfg.nbeta,
                        "gamma": cfg.gamma,
                        "llc": round(est.mean, 1),
                        "std": round(est.std, 1),
                        "blocks": [round(b, 1) for b in blocks],
                        "lowest": round(float(np.nanmin(excess)), 3),
                        "finite": bool(np.isfinite(est.loss_trace).all()),
                        "init_loss": round(est.init_loss, 3),
                        "cpu_s": round(cpu, 1),
                        "wall_s": round(wall, 1),
                    }
                ),
                flush=True,
            )


def cost(run_path: Path, overrides: list[str]) -> None:
    manifest = schema.read_manifest(run_path)
    cfg = llc_config(manifest, overrides)
    print(f"settings: {cfg.sampler_settings()} every={cfg.every}; torch threads {torch.get_num_threads()}")
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    sequences = llc_sequences(run_path.parent, manifest, cfg)
    for entry in llc_entries(manifest, cfg.every):
        est, cpu, wall = timed(snapshot_fast(run_path, manifest, entry), sequences, cfg)
        print(f"step {entry.step:6d}: LLC {est.mean:7.1f} ± {est.std:4.1f}  cpu {cpu:5.1f} s  wall {wall:5.1f} s")
    cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
    n = len(llc_entries(manifest, cfg.every))
    print(f"{n} snapshots: cpu {cpu:.1f} s ({cpu / n:.1f} s each), wall {wall:.1f} s ({wall / n:.1f} s each)")


if __name__ == "__main__":
    if os.environ.get("THREADS"):
        torch.set_num_threads(int(os.environ["THREADS"]))
    mode, run_dir, *rest = sys.argv[1:]
    if mode == "sweep":
        sweep(Path(run_dir), rest[0], rest[1], rest[2:])
    else:
        cost(Path(run_dir), rest)
