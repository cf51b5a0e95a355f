"""The live ICL score's noise against the number of held-out contexts it averages (issue 26).

    .venv/bin/python experiments/live_icl_noise.py artifacts/<suite>/<run> [--from-step 400]

On a run's stored snapshots (trained with `--no-analyze`, or any), measures per snapshot the ICL
score of each of the analysis's `icl_sequences` held-out contexts (the wide score's, 512 by
default) and of the 32 evaluation contexts, then for N = 32 (the evaluation contexts, the live
score before issue 26) and the first N = 64, 128, 256, 512 wide contexts prints, over the
snapshots from `--from-step` on: the standard deviation of the differences between neighbouring
snapshots (what the eye sees as zigzag: trend plus noise), the noise part alone (per pair, the
standard error of the mean difference over the N contexts, as a root mean square over pairs),
and the mean half-width of the 95% interval of the level (1.96 standard errors).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.core.analysis import loss  # noqa: E402
from training.core.analysis.registry import Probe  # noqa: E402
from training.core.artifacts import schema  # noqa: E402
from training.pipeline import analyze  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--from-step", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    manifest = schema.read_manifest(args.run)
    cfg = analyze.analysis_config(manifest)
    inputs = analyze.run_inputs(args.run.parent, manifest.model["n_ctx"], cfg)
    entries = [e for e in manifest.snapshots if e.step >= args.from_step]
    wide, small = [], []
    for e in entries:
        probe = Probe(schema.load_models(args.run, manifest, e, hooked=False).fast, inputs)
        with torch.no_grad():
            wide.append(probe.icl_wide.numpy())
            small.append(
                loss.icl_by_example(
                    probe.per_token, late=inputs.icl_late, early=inputs.icl_early, width=inputs.icl_width
                ).numpy()
            )
    wide, small = np.stack(wide).astype(np.float64), np.stack(small).astype(np.float64)
    steps = [e.step for e in entries]
    print(f"{args.run}: {len(steps)} snapshots, steps {steps[0]}..{steps[-1]}: {steps}")
    rows = [("32 evaluation contexts (before)", small)] + [
        (f"first {n} wide contexts", wide[:, :n]) for n in (32, 64, 128, 256, 512) if n <= wide.shape[1]
    ]
    print("| contexts | ICL at the last snapshot | std of neighbour differences | noise part | 95% half-width |")
    print("|---|---|---|---|---|")
    for name, x in rows:
        level = x.mean(1)
        diffs = np.diff(level)
        per_pair = np.diff(x, axis=0)  # [pair, context]
        noise = np.sqrt(np.mean(per_pair.var(1, ddof=1) / x.shape[1]))
        half = np.mean(1.959964 * x.std(1, ddof=1) / np.sqrt(x.shape[1]))
        print(f"| {name} | {level[-1]:+.3f} | {diffs.std(ddof=1):.3f} | {noise:.3f} | {half:.3f} |")
    print("levels per snapshot (first 32 wide, first 128 wide, all wide, 32 evaluation):")
    for s, a, b, c, d in zip(steps, wide[:, :32].mean(1), wide[:, :128].mean(1), wide.mean(1), small.mean(1)):
        print(f"  step {s:6d}: {a:+.3f} {b:+.3f} {c:+.3f} {d:+.3f}")


if __name__ == "__main__":
    main()
