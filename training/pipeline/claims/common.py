"""What every claim module shares: the `Claim` it returns and the kinds of run it reads."""

from __future__ import annotations

from collections.abc import Sequence

from training.core.analysis.scores import INDUCTION_THRESHOLD
from training.core.artifacts.records import Claim, to_json
from training.pipeline.claims.runs import RunData
from training.pipeline.claims.stats import Estimate

Runs = Sequence[
    RunData
]  # the runs of one kind: multi, single or smeared (training.pipeline.report)
INDUCTION = INDUCTION_THRESHOLD  # prefix matching above it: the head prefix-matches
LAST = 5  # snapshots at the end of training whose mean is a run's final value


def plain(value):
    """`Estimate`s (anywhere in dicts and lists) as JSON values."""
    if isinstance(value, Estimate):
        return value.json()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def claim(cid: str, text: str, status: str, details: str, **numbers) -> Claim:
    return Claim(cid, text, status, details, to_json(plain(numbers)))


def flip(status: str) -> str:
    """The verdict on the opposite statement ("pass" <-> "fail")."""
    return {"pass": "fail", "fail": "pass"}.get(status, status)


def per_run(runs: Sequence[RunData], row, *, named: bool = True) -> tuple[dict, list, str]:
    """`row(run) -> (numbers, verdict, text)` for each run: the numbers by run name, the
    verdicts, and the texts joined (each prefixed by its run's name when `named`)."""
    rows, verdicts, texts = {}, [], []
    for r in runs:
        rows[r.name], verdict, text = row(r)
        verdicts.append(verdict)
        texts.append(f"{r.name}: {text}" if named else text)
    return rows, verdicts, "; ".join(texts)
