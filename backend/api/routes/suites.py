"""GET /suites, /suites/{suite}, /suites/{suite}/status, /suites/{suite}/pca, /suites/{suite}/report."""

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import StoreDep, SuiteName
from backend.api.errors import responses
from backend.models import PcaResponse, ReportResponse, SuiteDetail, SuiteList, SuiteStatus
from backend.services import metrics, suites

router = APIRouter(prefix="/suites", tags=["suites"])


@router.get("", response_model=SuiteList)
def list_suites(store: StoreDep) -> SuiteList:
    """Every suite in ARTIFACTS_DIR with its runs (new ones appear without a restart)."""
    return suites.list_suites(store)


@router.get("/{suite}", response_model=SuiteDetail, responses=responses(404, 422, 503))
def read_suite(suite: SuiteName, store: StoreDep) -> SuiteDetail:
    """One suite: each run's status, configs and snapshots (step, tokens seen, train/held-out loss)."""
    return suites.suite_detail(store, suite)


@router.get("/{suite}/pca", response_model=PcaResponse, responses=responses(404, 422, 503))
def read_pca(suite: SuiteName, store: StoreDep, components: Annotated[int, Query(ge=1, le=100)] = 2) -> PcaResponse:
    """The joint per-token-loss PCA: per run, the trajectory (step, coordinates), the explained
    variance of each component, and the run's phase window (Olsson et al. 2022, Argument 1)."""
    return suites.pca(store, suite, components)


@router.get("/{suite}/report", response_model=ReportResponse, responses=responses(404, 422, 503))
def read_report(suite: SuiteName, store: StoreDep) -> ReportResponse:
    """The claims report (`python -m training report`): each claim of the paper, pass/fail, with its numbers."""
    return suites.report(store, suite)


@router.get("/{suite}/status", response_model=SuiteStatus, responses=responses(404, 422, 503))
def read_status(suite: SuiteName, store: StoreDep) -> SuiteStatus:
    """What trains now: per training run its step, tokens/s, time left and best head so far
    (live prefix matching); and every run's status (training, complete, interrupted)."""
    return metrics.suite_status(store, suite)
