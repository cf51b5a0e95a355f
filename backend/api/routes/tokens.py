"""POST …/snapshots/{step}/losses (computed on demand) and GET /suites/{suite}/before-after
(stored): what the dashboard's Tokens and Ablations pages draw."""

from fastapi import APIRouter, Depends

from backend.api.deps import LimitsDep, RunName, Step, StoreDep, SuiteName, compute_slot
from backend.api.errors import responses
from backend.models import BeforeAfterResponse, LossesRequest, LossesResponse
from backend.services import tokens

router = APIRouter(tags=["tokens"])


@router.post(
    "/suites/{suite}/runs/{run}/snapshots/{step}/losses",
    response_model=LossesResponse,
    responses=responses(400, 404, 413, 422, 429, 503),
    dependencies=[Depends(compute_slot)],  # an on-demand computation like the snapshot routes
)
def losses(
    suite: SuiteName, run: RunName, step: Step, body: LossesRequest, store: StoreDep, limits: LimitsDep
) -> LossesResponse:
    """Run a text (BOS prepended) or token ids: the loss of every token (context index i: the
    loss of predicting token i + 1), and for each token whether and where it occurred earlier
    and whether it repeats earlier context (the pair before it occurred before)."""
    return tokens.losses(store, suite, run, step, body, limits)


@router.get("/suites/{suite}/before-after", response_model=BeforeAfterResponse, responses=responses(404, 422, 503))
def read_before_after(suite: SuiteName, store: StoreDep) -> BeforeAfterResponse:
    """Per run with a phase window: the snapshots before and after it, the mean loss change,
    and each head's alignment with the reversed before-and-after vector (Olsson et al. 2022,
    Argument 1); 404 until the first run has been analysed."""
    return tokens.before_after(store, suite)
