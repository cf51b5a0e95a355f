"""Hand-built runs for the claims tests: curves and grids whose answers are known."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from training.claims.runs import RunData
from training.records import PhaseWindow

N = 30  # snapshots
STEPS = np.unique(np.round(np.geomspace(10, 10_000, N)).astype(int))
START, END = 12, 16  # the phase window, as snapshot indices


def ramp(start: int = START, end: int = END) -> np.ndarray:
    """(snapshot,) 0 before `start`, rising linearly to 1 at `end`, 1 after."""
    return np.clip((np.arange(N) - start) / (end - start), 0, 1)


def build_run(
    name: str,
    *,
    layers: int = 2,
    heads: int = 2,
    induction: bool = True,
    window: bool = True,
) -> RunData:
    """A run that forms an induction head at L{layers-1}H0 in snapshots START..END (if
    `induction`), read by a previous-token head L0H1; everything else is flat."""
    r = ramp() if induction else np.zeros(N)
    prefix = np.full((N, layers, heads), 0.05)
    prefix[:, -1, 0] += 0.75 * r
    previous = np.full((N, layers, heads), 0.1)
    previous[:, 0, 1] = 0.6
    icl = -0.05 - 0.45 * r
    train_loss = 5.0 * STEPS**-0.1 - 0.3 * r
    kcomp = np.full((N, layers, heads, layers, heads), 0.1)
    if layers > 1:
        kcomp[:, 0, 1, -1, 0] = 0.1 + 0.4 * r
    ablation = np.full((N, layers, heads), np.nan)
    ablation[-1] = 0.01
    ablation[-1, -1, 0] = 0.45 if induction else 0.01
    # PCA: along the first component before the window, along the second after it
    t = np.arange(N, dtype=float)
    x = np.minimum(t, START) + (np.maximum(t - START, 0) if not induction else 0)
    y = np.maximum(t - START, 0) if induction else np.zeros(N)
    phase = (
        PhaseWindow(True, "test window", int(STEPS[START]), int(STEPS[END]), 0.9)
        if window and induction
        else PhaseWindow(False, "no rise")
    )
    return RunData(
        name=name,
        steps=STEPS,
        icl=icl,
        prefix=prefix,
        train_loss=train_loss,
        heldout_loss=train_loss + 0.1,
        previous_token=previous,
        composition_k=kcomp,
        ablation_mean_icl=ablation,
        ablation_pp_icl=ablation.copy(),
        pca_coords=np.stack([x, y], 1),
        phase=phase,
    )


@pytest.fixture
def make_run() -> Callable[..., RunData]:
    return build_run
