"""GET /suites/{suite}/runs/{run}/metrics and …/snapshots/{step}/heads: the stored analysis."""

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import RunName, Step, StoreDep, SuiteName
from backend.api.errors import responses
from backend.models import HeadTable, RunMetricsResponse
from backend.services import metrics

router = APIRouter(prefix="/suites/{suite}/runs/{run}", tags=["runs"])


@router.get("/metrics", response_model=RunMetricsResponse, responses=responses(404, 422, 503))
def read_metrics(
    suite: SuiteName,
    run: RunName,
    store: StoreDep,
    max_points: Annotated[
        int | None, Query(ge=2, description="downsample the per-step training loss to at most this many bucket means")
    ] = None,
) -> RunMetricsResponse:
    """Every curve over training: training loss (every step), held-out loss, ICL score, loss by
    position, the per-head scores, composition, ablation effects and the phase-change window."""
    return metrics.run_metrics(store, suite, run, max_points)


@router.get("/snapshots/{step}/heads", response_model=HeadTable, responses=responses(404, 422, 503))
def read_heads(suite: SuiteName, run: RunName, step: Step, store: StoreDep) -> HeadTable:
    """Every stored score of every head at one analysed snapshot, plus its composition scores."""
    return metrics.head_table(store, suite, run, step)
