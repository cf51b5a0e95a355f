"""Claims (a) and (c): which models form induction heads.

An induction head, as the paper defines it (Olsson et al. 2022, "Key concepts"), prefix-matches
and copies: here its smoothed prefix-matching score is above 0.3 and, at the same snapshots, it
copies both in behaviour and in its weights: its copying score (the share of repeated random
tokens at which its output raises the attended token's logit, as 2s - 1) and its OV circuit's
eigenvalue positivity are above 0 (each where stored).
"""

from __future__ import annotations

import numpy as np

from training.core.artifacts.records import Claim
from training.core.artifacts.schema import head_label
from training.pipeline.claims.common import INDUCTION, LAST, Runs, claim, flip
from training.pipeline.claims.runs import RunData
from training.pipeline.claims.stats import above, around, below, combine, resampled, smooth

PEAK = "resampled: the 5 snapshots around each peak of the smoothed prefix-matching score"


def _smoothed_at(grid: np.ndarray | None, idx: np.ndarray, layer: int, head: int) -> float | None:
    if grid is None:
        return None
    values = grid[idx, layer, head]
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def top_head(run: RunData) -> dict:
    """The head with the highest smoothed prefix-matching score over training: where and when,
    its score there with an interval (the smoothing window's snapshots resampled), and its
    copying score and OV eigenvalue positivity over the same snapshots (None if not stored)."""
    smoothed = smooth(run.prefix)  # (snapshot, layer, head)
    i, layer, head = (int(v) for v in np.unravel_index(np.nanargmax(smoothed), smoothed.shape))
    idx = around(i, len(run.steps))
    return {
        "head": head_label(layer, head),
        "step": int(run.steps[i]),
        "prefix_matching": resampled(np.nanmean, run.prefix[idx, layer, head]),
        "copying": _smoothed_at(run.copying, idx, layer, head),
        "eigenvalue_positivity": _smoothed_at(run.eigenvalue_positivity, idx, layer, head),
    }


def is_induction_head(top: dict) -> str:
    """ "pass" when the head clearly prefix-matches and copies (every copying measure stored is
    positive), "fail" when it clearly does not, "inconclusive" when its interval straddles the
    threshold or copying is not measured."""
    prefix = above(top["prefix_matching"], INDUCTION)
    copying = [v for v in (top["copying"], top["eigenvalue_positivity"]) if v is not None]
    if prefix == "fail":
        return "fail"
    if not copying:
        return "inconclusive"
    return prefix if min(copying) > 0 else "fail"


def _head_text(name: str, top: dict, verdict: str) -> str:
    copying = ", ".join(
        f"{label} {top[key]:.2f}"
        for key, label in (("copying", "copying"), ("eigenvalue_positivity", "OV eig. positivity"))
        if top[key] is not None
    )
    found = {"pass": "an induction head", "fail": "no induction head"}.get(verdict, "undecided")
    return (
        f"{name}: {top['head']} prefix matching {top['prefix_matching']} at step {top['step']}"
        f"{', ' + copying if copying else ', copying not measured'} → {found}"
    )


def claim_a(multi: Runs, single: Runs, mlp: Runs = ()) -> Claim:
    """(a) The top head of every run with 2+ layers, attention-only (`multi`) or with MLPs
    (`mlp`, where the suite has them), is an induction head; the 1-layer run's is not."""
    rows, verdicts, texts = {}, [], []
    for kind, runs in (("multi", multi), ("mlp", mlp), ("single", single)):
        for r in runs:
            top = top_head(r)
            found = is_induction_head(top)
            rows[r.name] = {"kind": kind, **top, "induction_head": found}
            verdicts.append(flip(found) if kind == "single" else found)
            texts.append(_head_text(r.name, top, found))
    status = combine(verdicts) if multi and single else "n/a"
    text = (
        f"Induction heads (prefix matching > {INDUCTION}, copying and OV eigenvalue positivity > 0) form in every "
        "model with 2+ layers, attention-only or with MLPs, and not in the 1-layer attention-only one."
    )
    return claim("a", text, status, "; ".join(texts) + f" ({PEAK})", peaks=rows)


def final_icl(run: RunData) -> np.ndarray:
    """The ICL scores of the last `LAST` snapshots."""
    return run.icl[-LAST:]


def claim_c(smeared: Runs, single: Runs) -> Claim:
    """(c) The 1-layer smeared-key run forms an induction head, and its final ICL score is
    below the plain 1-layer run's by more than the difference's interval."""
    rows, verdicts, texts = {}, [], []
    for r in smeared:
        top = top_head(r)
        found = is_induction_head(top)
        row = {**top, "induction_head": found, "icl_vs_1_layer": {}}
        verdicts.append(found)
        text = _head_text(r.name, top, found)
        for c in single:
            diff = resampled(_mean_difference, final_icl(r), final_icl(c))
            row["icl_vs_1_layer"][c.name] = diff
            verdicts.append(below(diff, 0.0))
            text += f"; final ICL minus {c.name}'s: {diff} nats"
        rows[r.name] = row
        texts.append(text if single else text + "; no plain 1-layer run to compare ICL with")
    details = "; ".join(texts) or "no smeared-key run"
    if smeared:
        details += f" ({PEAK}; for the ICL, the last {LAST} snapshots of each run)"
    text = (
        "A 1-layer attention-only model with smeared keys forms induction heads and learns more "
        "in context than the plain 1-layer model (Argument 2)."
    )
    return claim("c", text, combine(verdicts) if smeared else "n/a", details, runs=rows)


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nanmean(a) - np.nanmean(b))
