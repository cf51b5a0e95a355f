"""GET /suites/{suite}/runs/{run}/metrics and …/snapshots/{step}/heads: the stored analysis."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from backend.api.deps import RunName, Step, StoreDep, SuiteName
from backend.api.errors import responses
from backend.models import HeadTable, RunMetricsResponse
from backend.services import export, metrics

router = APIRouter(prefix="/suites/{suite}/runs/{run}", tags=["runs"])

CSV = {
    200: {
        "description": "JSON by default; with `format=csv`, the tidy table chosen by `kind` as text/csv",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get("/metrics", response_model=RunMetricsResponse, responses={**CSV, **responses(404, 422, 503)})
def read_metrics(
    suite: SuiteName,
    run: RunName,
    store: StoreDep,
    max_points: Annotated[
        int | None, Query(ge=2, description="downsample the per-step training loss to at most this many bucket means")
    ] = None,
    format_: Annotated[
        Literal["json", "csv"], Query(alias="format", description="json (every curve) or csv (one tidy table)")
    ] = "json",
    kind: Annotated[
        Literal["heads", "curves"],
        Query(
            description="csv only: per-head metrics (run, step, tokens, stage, layer, head, metric, value) or "
            "per-snapshot curves (run, step, tokens, stage, metric, value)"
        ),
    ] = "heads",
) -> RunMetricsResponse | Response:
    """Every curve over training: training loss (every step), held-out loss, ICL score, loss by
    position, the per-head scores, composition, ablation effects and the phase-change window.
    With `format=csv`, the stored metrics as one long table instead (`kind`: heads or curves)."""
    if format_ == "csv":
        body = export.metrics_csv(store, suite, run, kind)
        disposition = f'inline; filename="{suite}_{run}_{kind}.csv"'
        return Response(body, media_type="text/csv", headers={"content-disposition": disposition})
    return metrics.run_metrics(store, suite, run, max_points)


@router.get("/snapshots/{step}/heads", response_model=HeadTable, responses=responses(404, 422, 503))
def read_heads(suite: SuiteName, run: RunName, step: Step, store: StoreDep) -> HeadTable:
    """Every stored per-head score at one measured snapshot as a `[layer][head]` grid per metric,
    its scores along a third axis (period sweep, offsets), and its composition scores."""
    return metrics.head_table(store, suite, run, step)
