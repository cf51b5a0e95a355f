"""A Hugging Face `Trainer` run followed live on the dashboard, then imported (issue 24's screenshots).

    .venv/bin/python experiments/hf_trainer_live.py ARTIFACTS WORKDIR [--steps 400] [--save-every 25]

Trains the tiny 2-layer GPT-NeoX of the end-to-end test (`tests/training/hf_runs.py`: repeated
random segments, 2 heads, a recipe that forms an induction head near step 300) with
`InductionScopeCallback` writing the live tier into suite `hf`, run `neox-live`, of ARTIFACTS (a
running service and dashboard show it as it trains); the Trainer's own checkpoints go to
WORKDIR/neox. Then imports that output folder as run `neox-import` of the same suite and analyses
it. Prints the callback's measured cost per save.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.training import hf_runs  # noqa: E402
from training.pipeline.cli import main as cli  # noqa: E402
from training.pipeline.hf_callback import InductionScopeCallback  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--save-every", type=int, default=25)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    probe = hf_runs.probe_text(args.workdir / "probe.txt", n=200)
    callback = InductionScopeCallback(args.artifacts, "hf", "neox-live", text=str(probe))
    t0 = time.perf_counter()
    hf_runs.train(
        "gpt_neox",
        args.workdir / "neox",
        steps=args.steps,
        save_every=args.save_every,
        callbacks=[callback],
        num_attention_heads=2,
    )
    took = time.perf_counter() - t0
    watcher = callback.watcher
    print(
        f"trained {args.steps} steps in {took:.0f} s; the callback's live metrics {watcher.seconds:.1f} s "
        f"({watcher.seconds / took:.1%}), {watcher.seconds / (args.steps // args.save_every):.2f} s a save"
    )
    code = cli(
        [
            "import",
            str(args.workdir / "neox"),
            "--suite",
            "hf",
            "--run",
            "neox-import",
            "--out",
            str(args.artifacts),
            "--text",
            str(probe),
        ]
    )
    print(f"import: exit {code}")


if __name__ == "__main__":
    main()
