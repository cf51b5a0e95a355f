"""Hand-built runs for the claims tests: curves and grids whose answers are known."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import pytest

from training.core.artifacts.records import PhaseWindow
from training.pipeline.claims.runs import RunData

N = 30  # snapshots
STEPS = np.round(np.geomspace(10, 10_000, N)).astype(int)  # log-spaced, as real suites early on
START, END = 12, 16  # the prefix-matching rise, as snapshot indices
TOKENS = 60  # per-token-loss tokens; the first INDUCTION_TOKENS are the ones induction helps
INDUCTION_TOKENS = 20


def ramp(start: int = START, end: int = END) -> np.ndarray:
    """(snapshot,) 0 before `start`, rising linearly to 1 at `end`, 1 after."""
    return np.clip((np.arange(N) - start) / (end - start), 0, 1)


def per_token_loss(bump: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(snapshot, token) a fast initial fall, then a slow drift in log(step); `bump` (snapshot,)
    nats taken off the induction tokens; noise of 0.005 nats."""
    base = 2.0 + 6.0 * (STEPS / 10.0) ** -3.0 - 0.05 * np.log(STEPS)  # (snapshot,)
    loss = np.repeat(base[:, None], TOKENS, 1) + 0.1 * np.arange(TOKENS) / TOKENS
    loss[:, :INDUCTION_TOKENS] -= bump[:, None]
    return loss + rng.normal(0, 0.005, loss.shape)


def build_run(
    name: str,
    *,
    layers: int = 2,
    heads: int = 2,
    induction: bool = True,
) -> RunData:
    """A run that forms an induction head at L{layers-1}H0 in snapshots START..END (if
    `induction`), copying, reading the previous-token head L0H1 through K-composition, and
    carrying the ICL under ablation; the other heads are flat. Seeded noise, by name."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    r = ramp() if induction else np.zeros(N)
    prefix = np.full((N, layers, heads), 0.05) + rng.normal(0, 0.005, (N, layers, heads))
    prefix[:, -1, 0] += 0.75 * r
    previous = np.full((N, layers, heads), 0.1)
    previous[:, 0, 1] = 0.6
    copying = np.full((N, layers, heads), -0.2)
    copying[:, -1, 0] = 0.5
    kcomp = np.full((N, layers, heads, layers, heads), 0.1) + rng.normal(
        0, 0.01, (N,) + (layers, heads) * 2
    )
    kcomp[:, 0, 1, -1, 0] = 0.1 + 0.4 * r
    icl = -0.05 - 0.45 * r + rng.normal(0, 0.01, N)
    ablation = np.full((N, layers, heads), np.nan)  # every other snapshot, the last included
    ablated = np.arange(N) % 2 == (N - 1) % 2
    ablation[ablated] = 0.02
    if induction:
        ablation[ablated, -1, 0] = 0.4
        ablation[ablated, 0, 1] = 0.3  # the previous-token partner: part of the circuit
    loss = per_token_loss(0.5 * r, rng)
    rise = (int(STEPS[START]), int(STEPS[END])) if induction else (None, None)
    return RunData(
        name=name,
        steps=STEPS,
        icl=icl,
        prefix=prefix,
        heldout_loss=loss.mean(1),
        previous_token=previous,
        copying=copying,
        eigenvalue_positivity=copying.copy(),
        composition_k=kcomp,
        ablation_pp_icl=ablation,
        per_token_loss=loss,
        phase=PhaseWindow(induction, "test window" if induction else "no rise", *rise),
    )


@pytest.fixture
def make_run() -> Callable[..., RunData]:
    return build_run
