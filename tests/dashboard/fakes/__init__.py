"""A stand-in for the REST service: the functions of `dashboard.client`, answering with small
hand-made values that are easy to find again in the charts. One module per route family, as
in backend/api/routes/; every answer goes through the service's own response model, validated
strictly (`data.answer`), and the metric registry is the real one (`registry.describe()`).

Suite `fake` has two runs. `attn2` (2 layers x 2 heads) forms an induction head, L1H1, in a
phase window from step 20 to step 80; `attn1` (1 layer x 2 heads) has no window. In the period
sweep and the offsets, L1H1 is high at every period and L0H1 is a positional shortcut: it
attends to q - 3, so it scores at period 4 and offset 3 only. Every run has a step every 100
tokens. A text is "tokenised" into words; its per-token loss drops on the second copy of a
passage after the window, and ablating L1H1 undoes exactly that drop.

`training = "attn2"` makes attn2 a run in training: the status lists it, and its metrics are
the trainer's live ones only. `analysed = False` leaves every run with live metrics only;
`measured = False` leaves them with no metrics at all. `add_replicate()` adds `attn2-seed1`,
attn2 trained again with train.seed 1 (`--seeds`), and the report's Seeds section (attn2's
third seed still waiting).
"""

from tests.dashboard.fakes.data import (
    ALIGNMENT,
    DOWN,
    HELDOUT,
    ICL,
    ICL_WIDE,
    INDUCTION_BY_PERIOD,
    INDUCTION_COPYING,
    INDUCTION_PEAK,
    LLC_MEAN,
    LLC_STD,
    OFFSETS,
    PERIODS,
    PROJECTION,
    REGISTRY,
    REPLICATE,
    SHORTCUT_PEAK,
    STEPS,
    SUITE,
    THRESHOLD,
    TOKENS_PER_STEP,
    WINDOW,
)
from tests.dashboard.fakes.runs import ICL_HALF_WIDTH, RunRoutes
from tests.dashboard.fakes.snapshots import SnapshotRoutes
from tests.dashboard.fakes.suites import SuiteRoutes
from tests.dashboard.fakes.tokens import TokenRoutes


class FakeService(SuiteRoutes, RunRoutes, SnapshotRoutes, TokenRoutes):
    """Every route family of the service over one `FakeState`."""


__all__ = [
    "ALIGNMENT",
    "DOWN",
    "HELDOUT",
    "ICL",
    "ICL_HALF_WIDTH",
    "ICL_WIDE",
    "INDUCTION_BY_PERIOD",
    "INDUCTION_COPYING",
    "INDUCTION_PEAK",
    "LLC_MEAN",
    "LLC_STD",
    "OFFSETS",
    "PERIODS",
    "PROJECTION",
    "REGISTRY",
    "REPLICATE",
    "SHORTCUT_PEAK",
    "STEPS",
    "SUITE",
    "THRESHOLD",
    "TOKENS_PER_STEP",
    "WINDOW",
    "FakeService",
]
