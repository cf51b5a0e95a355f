"""Analysis throughput: seconds per snapshot by measurement, for a preset's models (a benchmark).

    .venv/bin/python bench/analysis_throughput.py [--preset default] [--runs attn2,attn1] [--repeats 3]

For each run of the preset, in this one process with the preset's thread count: the model with
random weights (the cost does not depend on them) and the analysis inputs the preset's
`AnalysisConfig` builds (`training.pipeline.analyze.run_inputs`, on a temporary suite whose held-out
split is random tokens of the real vocabulary size: same shapes, same cost). Per snapshot, on a
fresh `training.core.analysis.registry.Probe`, as `python -m training analyze` computes it:
- loading the snapshot (safetensors from disk into the training model);
- each shared computation once (the forward pass over the evaluation contexts, the one over
  the prefix-matching sequences, building the HookedTransformer, the composition scores, the
  two ablation sweeps), then every metric of the registry on top of what it shares;
- writing the snapshot's metrics file;
- the baseline, not part of the analysis: the two ablation sweeps through the HookedTransformer,
  as the analysis ran them before they ran on the training model (the ratio row).
The figure is the median over `--repeats` snapshots. The table ends with the totals per
snapshot (live: what the trainer measures; full: the analysis, with and without the ablations)
and the analysis time of a whole run (its snapshot count; ablations at every
`ablation_every`-th snapshot), and the ratio to the run's training time at `--tokens-per-s`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.core.allocator import keep_buffers_in_heap  # noqa: E402
from training.core.analysis import attribution  # noqa: E402
from training.core.analysis.registry import METRICS, PP, Probe  # noqa: E402
from training.core.artifacts import schema  # noqa: E402
from training.core.artifacts.records import SnapshotEntry  # noqa: E402
from training.core.model import Transformer  # noqa: E402
from training.pipeline import analyze, presets  # noqa: E402
from training.pipeline.schedule import snapshot_steps  # noqa: E402

# The computations metrics share, in the order the registry's metrics first need them.
SHARED = {
    "eval forward (loss, patterns)": lambda p: p._eval_run,
    "prefix-matching forward": lambda p: p.prefix_patterns,
    "HookedTransformer build": lambda p: p.hooked,
    "composition scores (q, k, v)": lambda p: p.composition,
    "ablation sweep, mean": lambda p: p.ablation("mean"),
    "ablation sweep, pattern-preserving": lambda p: p.ablation(PP),
}


BASELINE = "baseline: TransformerLens ablation sweep, "  # not part of the analysis; left out of the totals


def _hooked_sweep(probe: Probe, mode: str) -> None:
    i = probe.inputs
    attribution.head_ablation_effects(
        probe.hooked, i.eval_tokens, mode=mode, icl_late=i.icl_late, icl_early=i.icl_early, icl_width=i.icl_width
    )


def measure_once(model: Transformer, inputs, tmp: Path, settings_hash: str) -> dict[str, float]:
    """Seconds of each part of one snapshot's analysis."""
    times: dict[str, float] = {}

    def timed(name: str, fn) -> None:
        t0 = time.perf_counter()
        fn()
        times[name] = time.perf_counter() - t0

    file = schema.snapshot_name(0)
    sha = schema.atomic_write_safetensors(tmp / "run" / "snapshots" / file, model.state_dict())
    entry = SnapshotEntry(0, 0, None, None, 0.0, file, sha)
    fast = Transformer(model.cfg)
    timed("load snapshot", lambda: fast.load_state_dict(schema.read_snapshot(tmp / "run", entry)))
    probe = Probe(fast, inputs)
    out = {}
    with torch.no_grad():
        for name, fn in SHARED.items():
            timed(name, lambda fn=fn: fn(probe))
        for metric in METRICS:
            timed(f"{metric.stage}: {metric.name}", lambda m=metric: out.__setitem__(m.name, m.compute(probe)))
        for mode in ("mean", PP):  # the baseline: the same sweeps through TransformerLens, as before
            timed(f"{BASELINE}{mode}", lambda mode=mode: _hooked_sweep(probe, mode))
    out = {k: torch.as_tensor(v).float() for k, v in out.items()}
    timed("write metrics file", lambda: schema.write_snapshot_metrics(tmp / "run", 0, out, settings_hash, "full"))
    return times


def fake_suite(path: Path, d_vocab: int, n_tokens: int = 400_000) -> None:
    heldout = np.random.default_rng(0).integers(1, d_vocab, size=n_tokens).astype(np.uint16)
    schema.atomic_write_npy(schema.data_dir(path) / "heldout.npy", heldout)
    schema.atomic_write_npy(schema.data_dir(path) / "token_counts.npy", np.bincount(heldout, minlength=d_vocab))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--runs", help="comma-separated runs (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens-per-s", type=float, default=47_000, help="training rate for the ratio")
    args = parser.parse_args()
    keep_buffers_in_heap()
    preset = presets.load(args.preset)
    runs = preset.select_runs(args.runs.split(",") if args.runs else None)
    torch.set_num_threads(preset.train.threads)
    cfg_a = preset.analysis
    d_vocab = preset.data.vocab_size if preset.data.tokenizer == "bpe" else 257
    table: dict[str, dict[str, float]] = defaultdict(dict)
    totals: dict[str, dict[str, float]] = defaultdict(dict)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        fake_suite(tmp, d_vocab)
        for run in runs:
            cfg_m = preset.run_model(run, d_vocab)
            inputs = analyze.run_inputs(tmp, cfg_m.n_ctx, cfg_a)
            torch.manual_seed(0)
            model = Transformer(cfg_m).eval()
            measure_once(model, inputs, tmp, cfg_a.settings_hash())  # warm-up
            samples = [measure_once(model, inputs, tmp, cfg_a.settings_hash()) for _ in range(args.repeats)]
            for name in samples[0]:
                table[name][run.name] = statistics.median(s[name] for s in samples)
            col = {name: table[name][run.name] for name in table if not name.startswith(BASELINE)}
            baseline = sum(table[name][run.name] for name in table if name.startswith(BASELINE))
            sweeps = sum(v for k, v in col.items() if k.startswith("ablation sweep"))
            totals["ablation sweeps: TransformerLens / training model"][run.name] = baseline / sweeps
            ablation = sum(v for k, v in col.items() if k.startswith(("ablation", "HookedTransformer")))
            live = sum(v for k, v in col.items() if k.startswith(("live:", "eval forward", "prefix-matching")))
            full = sum(col.values())
            n_snap = len(snapshot_steps(preset.run_train(run)))
            n_ablate = -(-n_snap // cfg_a.ablation_every)
            run_s = n_snap * (full - ablation) + n_ablate * ablation
            train_s = preset.run_train(run).steps * preset.train.batch_size * cfg_m.n_ctx / args.tokens_per_s
            totals["live metrics (what the trainer measures)"][run.name] = live
            totals["full analysis, without ablations"][run.name] = full - ablation
            totals["full analysis, with ablations"][run.name] = full
            totals["whole run: snapshots"][run.name] = n_snap
            totals["whole run: analysis seconds"][run.name] = run_s
            totals["whole run: analysis / training time"][run.name] = run_s / train_s
    names = [r.name for r in runs]
    print(
        f"preset {args.preset}: seconds per snapshot (median of {args.repeats}), {preset.train.threads} threads, "
        f"{cfg_a.eval_sequences} evaluation contexts, {cfg_a.pca_tokens} per-token-loss tokens "
        f"({cfg_a.pca_tokens_per_context} per context)"
    )
    print(f"{'measurement':46s}" + "".join(f"{n:>10s}" for n in names))
    for name, row in table.items():
        print(f"{name[:46]:46s}" + "".join(f"{row[n]:10.3f}" for n in names))
    print("-" * (46 + 10 * len(names)))
    for name, row in totals.items():
        fmt = (
            "{:10.2f}"
            if "TransformerLens /" in name
            else "{:10.1%}"
            if "/" in name
            else "{:10.0f}"
            if "whole run" in name
            else "{:10.3f}"
        )
        print(f"{name:46s}" + "".join(fmt.format(row[n]) for n in names))
    print(f"training time assumed at {args.tokens_per_s:,.0f} tokens/s")


if __name__ == "__main__":
    main()
