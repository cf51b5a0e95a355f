"""GET /registry: the metric registry, so clients draw pickers, ranges and help from it."""

from fastapi import APIRouter

from backend.models import MetricRegistry
from backend.services import metrics

router = APIRouter(tags=["registry"])


@router.get("/registry", response_model=MetricRegistry)
def read_registry() -> MetricRegistry:
    """Every stored metric: name, axes, label, value range, meaning, the paper's section, and
    whether the trainer measures it live or the analysis does."""
    return metrics.metric_registry()
