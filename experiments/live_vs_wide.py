"""The live ICL score as the trainer drew it, against its own noise and against the analysis (issue 26).

    .venv/bin/python experiments/live_vs_wide.py artifacts/<suite> [--run attn2] [--from-step 400]

From a trained and analysed run's stored metrics (nothing is measured again): the live ICL score
(`icl_live`, the trainer's, on the first 128 of the 512 wide contexts) at every snapshot; over
the snapshots from `--from-step` (past the initial loss drop) to the start of the run's phase
window (`analysis/phase.json`), the standard deviation of the differences between neighbouring
snapshots, against the live score's value at the window's end (issue 26's target: at most a
quarter of it); and at every snapshot, whether the analysed score (`icl_wide`, all 512) lies
inside the live score's 95% interval, and whether the two intervals overlap.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.core.analysis import loss  # noqa: E402
from training.core.artifacts import schema  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("--run", default="attn2")
    parser.add_argument("--from-step", type=int, default=400)
    args = parser.parse_args()
    run = args.suite / args.run
    index = schema.read_metrics_index(run)
    steps = np.asarray(index.steps)
    live = np.asarray(index.scalars["icl_live"], dtype=float)
    wide = np.asarray(index.scalars["icl_wide"], dtype=float)
    live_lo, live_hi = loss.mean_interval(np.asarray(schema.read_metric(run, "icl_live_by_example", index)))
    wide_lo, wide_hi = loss.mean_interval(np.asarray(schema.read_metric(run, "icl_wide_by_example", index)))
    phase = schema.read_phases(args.suite)[args.run]
    start, end = phase.start_step, phase.end_step
    before = (steps >= args.from_step) & (steps <= start)
    diffs = np.diff(live[before])
    at_end = live[int(np.abs(steps - end).argmin())]
    print(
        f"{args.run}: phase window {start:,}-{end:,}; {before.sum()} snapshots from step {args.from_step} to its start"
    )
    print(
        f"live ICL: std of neighbour differences before the window {diffs.std(ddof=1):.4f} nats; "
        f"at the window's end {at_end:+.4f} (a quarter: {abs(at_end) / 4:.4f}) -> "
        f"{'met' if diffs.std(ddof=1) <= abs(at_end) / 4 else 'NOT met'}"
    )
    inside = (wide >= live_lo) & (wide <= live_hi)
    overlap = (wide_lo <= live_hi) & (live_lo <= wide_hi)
    print(
        f"analysed (512) inside the live (128) 95% interval at {inside.sum()}/{len(steps)} snapshots; "
        f"intervals overlap at {overlap.sum()}/{len(steps)}; largest |live - analysed| {np.abs(live - wide).max():.4f} "
        f"(mean live half-width {np.mean(live_hi - live_lo) / 2:.4f})"
    )
    for s, lv, wd, lo, hi in zip(steps, live, wide, live_lo, live_hi):
        flag = "" if lo <= wd <= hi else "  <- outside"
        print(f"  step {s:>6,}: live {lv:+.4f} [{lo:+.4f}, {hi:+.4f}]  analysed {wd:+.4f}{flag}")


if __name__ == "__main__":
    main()
