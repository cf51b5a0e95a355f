"""What the trainer's live metrics cost, as a share of training time (a benchmark, not a test).

    .venv/bin/python bench/live_metrics.py [--preset default] [--run attn2] [--repeats 20]

Builds the preset's model for the run (random weights: the cost does not depend on them) and,
in this one process with the preset's thread count, times a training step (forward, backward,
clipping, AdamW) on a batch of the preset's shape and one live-metrics measurement on the
analysis's inputs (`training.pipeline.analyze.live_metrics`: the registry's live metrics on
`eval_sequences` held-out contexts and the prefix-matching sequences). The share of training
time is `snapshots x live / (steps x step)`, with the preset's snapshot schedule; the
stacking and writing of the metrics files are measured too, on a temporary suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.core.analysis.registry import ProbeInputs  # noqa: E402
from training.core.artifacts import schema  # noqa: E402
from training.core.artifacts.records import Manifest, SnapshotEntry  # noqa: E402
from training.core.model import Transformer, next_token_loss  # noqa: E402
from training.pipeline import analyze, presets  # noqa: E402
from training.pipeline.schedule import snapshot_steps  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--run", default="attn2")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    preset = presets.load(args.preset)
    run = preset.select_runs([args.run])[0]
    cfg_m = preset.run_model(run, preset.model.d_vocab)
    cfg_t, cfg_a = preset.train, preset.analysis
    torch.set_num_threads(cfg_t.threads)
    torch.manual_seed(0)
    model = Transformer(cfg_m)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg_t.lr)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, cfg_m.d_vocab, (cfg_t.batch_size, cfg_m.n_ctx), generator=g)

    def step() -> None:
        loss = next_token_loss(model(x), x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg_t.grad_clip)
        opt.step()

    n_random = min(cfg_a.prefix_random, (cfg_m.n_ctx - 1) // cfg_a.prefix_repeats)
    random = torch.randint(1, cfg_m.d_vocab, (cfg_a.prefix_sequences, n_random), generator=g)
    inputs = ProbeInputs(
        eval_tokens=torch.randint(1, cfg_m.d_vocab, (cfg_a.eval_sequences, cfg_m.n_ctx), generator=g),
        prefix_tokens=torch.cat([torch.zeros(len(random), 1, dtype=torch.long), random.repeat(1, 4)], dim=1),
        icl_late=cfg_m.n_ctx * 500 // 512,
        icl_early=cfg_m.n_ctx * 50 // 512,
        icl_width=cfg_m.n_ctx // 64,
        prefix_random=n_random,
        prefix_repeats=cfg_a.prefix_repeats,
    )
    t_step = timed(step, args.repeats)
    t_live = timed(lambda: analyze.live_metrics(model, inputs), args.repeats)

    # Writing one snapshot's metrics and restacking the run's index, with all its snapshots.
    plan = snapshot_steps(cfg_t)
    with tempfile.TemporaryDirectory() as tmp:
        run_path = Path(tmp) / "suite" / args.run
        metrics = analyze.live_metrics(model, inputs)
        entries = [SnapshotEntry(s, s, None, None, 0.0, schema.snapshot_name(s), "0" * 64) for s in plan]
        manifest = Manifest(
            suite="suite", run=args.run, status="training", model={}, train={}, analysis={},
            tokens_per_step=1, snapshots=entries,
        )  # fmt: skip
        for s in plan:
            analyze.write_snapshot_metrics(run_path, s, metrics, cfg_a.settings_hash(), "live")
        t_store = timed(lambda: analyze.stack_run_metrics(run_path, manifest, cfg_a, inputs), 3)

    share = len(plan) * (t_live + t_store) / (cfg_t.steps * t_step)
    print(
        f"preset {args.preset}, run {args.run}: {cfg_m.n_layers} layers, d_model {cfg_m.d_model}, threads {cfg_t.threads}"
    )
    print(f"training step (batch {cfg_t.batch_size} x {cfg_m.n_ctx}): {t_step * 1e3:8.1f} ms")
    print(f"live metrics ({cfg_a.eval_sequences} + {cfg_a.prefix_sequences} sequences): {t_live * 1e3:8.1f} ms")
    print(f"store and restack {len(plan)} snapshots' metrics:  {t_store * 1e3:8.1f} ms (at the last snapshot)")
    print(f"ratio live / step: {t_live / t_step:.2f}")
    print(
        f"share of training time: {len(plan)} snapshots x {(t_live + t_store) * 1e3:.0f} ms / "
        f"({cfg_t.steps} steps x {t_step * 1e3:.1f} ms) = {share:.2%} (upper bound: restacking costs less early on)"
    )
    assert np.isfinite(share)


if __name__ == "__main__":
    main()
