"""A run's local learning coefficient over training, as the analysis stored it (`metrics/llc.json`)."""

from __future__ import annotations

from backend.errors import NotFoundError
from backend.models import LLCResponse
from backend.services.store import ArtifactStore


def run_llc(store: ArtifactStore, suite: str, run: str, traces: bool = False) -> LLCResponse:
    """The LLC curve of one run; NotFoundError (404) if it has none, saying how to compute it."""
    curve = store.llc(suite, run)
    if curve is None or not curve.points:
        raise NotFoundError(
            f"run {suite}/{run} has no LLC estimates: the analysis estimates them for the runs its LLC settings "
            f"name (the default preset: attn2 and attn1); for this run: python -m training analyze "
            f"artifacts/{suite} --runs {run} --set llc.runs={run}"
        )
    points = curve.points
    return LLCResponse(
        suite=suite,
        run=run,
        steps=[p.step for p in points],
        tokens_seen=[p.tokens_seen for p in points],
        mean=[p.mean for p in points],
        std=[p.std for p in points],
        per_chain=[p.per_chain for p in points],
        init_loss=[p.init_loss for p in points],
        burnin=int(curve.settings.get("burnin", 0)),
        loss_traces=[p.loss_trace for p in points] if traces else None,
        settings=curve.settings,
    )
