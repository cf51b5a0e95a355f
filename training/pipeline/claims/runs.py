"""What the claims read about one run: plain arrays, gathered from the suite by `training.pipeline.report`.

A `RunData` holds a run's curves (one entry per analysed snapshot) and per-head grids; the claim
functions take these and nothing else, so the tests build them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.core.artifacts.records import PhaseWindow
from training.core.artifacts.schema import head_label


@dataclass(frozen=True, eq=False)
class RunData:
    """One analysed run. Curves are `(snapshot,)`, grids `(snapshot, layer, head)`; a metric the
    run does not store is None, one not measured at a snapshot is NaN there."""

    name: str
    steps: np.ndarray  # (snapshot,) training steps, increasing
    icl: np.ndarray  # (snapshot,) ICL score, nats (negative = learns in context): the wide one
    # (`icl_wide`, 512 contexts) where stored
    prefix: np.ndarray  # (snapshot, layer, head) prefix-matching score
    heldout_loss: np.ndarray | None = None  # (snapshot,) nats, on held-out text
    previous_token: np.ndarray | None = None  # (snapshot, layer, head)
    copying: np.ndarray | None = None  # (snapshot, layer, head)
    eigenvalue_positivity: np.ndarray | None = None  # (snapshot, layer, head) of the OV circuit
    composition_k: np.ndarray | None = None  # (snapshot, layer_from, head_from, layer_to, head_to)
    qk_match: np.ndarray | None = (
        None  # (snapshot, layer_from, ...) K-composition match sign, [-1, 1]
    )
    ablation_pp_icl: np.ndarray | None = None  # (snapshot, layer, head) Δ ICL, pattern-preserving
    # (snapshot,) the ICL score on the contexts the ablations ran on (their clean value; None: `icl`)
    ablation_icl: np.ndarray | None = None
    per_token_loss: np.ndarray | None = None  # (snapshot, token) nats, the same tokens every run
    phase: PhaseWindow | None = None  # the suite's phase window (analysis/phase.json)

    @property
    def clean_ablation_icl(self) -> np.ndarray:
        """(snapshot,) the ICL score the ablations' deltas are measured against: on the contexts
        they ran on, or `icl` where the run stores no separate one."""
        return self.icl if self.ablation_icl is None else self.ablation_icl

    @property
    def max_prefix(self) -> np.ndarray:
        return self.prefix.reshape(len(self.steps), -1).max(1)  # (snapshot,)

    def rise(self) -> tuple[int, int] | None:
        """Snapshot indices of the start and end of the max prefix-matching score's rise (the
        suite's phase window; set even when the ICL score does not follow), if it rose."""
        if self.phase is None or self.phase.start_step is None or self.phase.end_step is None:
            return None
        # the snapshots nearest the window's steps: the same ones, unless phase.json predates
        # the run's last analysis
        targets = np.array([self.phase.start_step, self.phase.end_step])
        start, end = np.abs(self.steps[:, None] - targets[None, :]).argmin(0)
        return int(start), int(end)

    def peak(self) -> dict:
        """The highest prefix-matching score over training: score, step and head."""
        i = int(self.max_prefix.argmax())
        layer, head = np.unravel_index(self.prefix[i].argmax(), self.prefix[i].shape)
        return {
            "score": round(float(self.max_prefix[i]), 3),
            "step": int(self.steps[i]),
            "head": head_label(int(layer), int(head)),
        }
