"""GET /health."""

from fastapi import APIRouter

from backend.api.deps import StoreDep
from backend.models import HealthResponse
from backend.services import suites

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
def health(store: StoreDep) -> HealthResponse:
    """The service is up; how many suites and runs it finds in ARTIFACTS_DIR."""
    return suites.health(store)
