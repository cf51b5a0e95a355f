"""GET /suites/{suite}/runs/{run}/llc: the local learning coefficient over training."""

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import RunName, StoreDep, SuiteName
from backend.api.errors import responses
from backend.models import LLCResponse
from backend.services import llc

router = APIRouter(prefix="/suites/{suite}/runs/{run}", tags=["runs"])


@router.get("/llc", response_model=LLCResponse, responses=responses(404, 422, 503))
def read_llc(
    suite: SuiteName,
    run: RunName,
    store: StoreDep,
    traces: Annotated[bool, Query(description="include each chain's loss at every SGLD step")] = False,
) -> LLCResponse:
    """The run's local learning coefficient at the snapshots the analysis estimated it for: mean
    and standard deviation over SGLD chains (devinterp), per chain, and the settings; 404 when
    the run has none (the analysis estimates it for the runs its LLC settings name)."""
    return llc.run_llc(store, suite, run, traces)
