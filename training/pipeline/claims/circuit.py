"""Claims (e) and (f): the induction circuit carries the ICL, and its heads compose.

Olsson et al. 2022, "Argument 5": pattern-preserving ablation (attention patterns frozen to
their clean values, one head's output removed) of the induction heads removes most of the ICL
score; other heads matter little. The circuit is the induction heads (smoothed prefix matching
above 0.3) and, for each, the top previous-token head of the layers below it, which the
induction head's key reads (K-composition, Elhage et al. 2021).
"""

from __future__ import annotations

import numpy as np

from training.core.artifacts.records import Claim
from training.core.artifacts.schema import head_label
from training.pipeline.claims.common import INDUCTION, Runs, claim, per_run
from training.pipeline.claims.runs import RunData
from training.pipeline.claims.stats import above, below, combine, mean_estimate, smooth

REMOVED = 0.5  # of the clean ICL score, at least, removed by ablating the induction heads
OTHER = 0.2  # of the clean ICL score, at most, removed by ablating one head outside the circuit
LAST_MEASURED = 3  # measured (for ablations: ablated) snapshots at the end that estimates average


def induction_heads(prefix: np.ndarray, i: int) -> list[tuple[int, int]]:
    """(layer, head) of every head whose smoothed prefix-matching score at snapshot `i` is
    above the threshold, highest first."""
    grid = smooth(prefix)[i]  # (layer, head)
    heads = [
        tuple(int(v) for v in np.unravel_index(k, grid.shape)) for k in np.argsort(-grid, None)
    ]
    return [h for h in heads if grid[h] > INDUCTION]


def partner(previous: np.ndarray, i: int, layer: int) -> tuple[int, int] | None:
    """The head with the highest smoothed previous-token score at snapshot `i` in the layers
    below `layer`; None for layer 0."""
    if layer == 0:
        return None
    grid = smooth(previous)[i, :layer]  # (layer, head)
    return tuple(int(v) for v in np.unravel_index(np.nanargmax(grid), grid.shape))


def circuit(run: RunData, i: int) -> tuple[list, list]:
    """(induction heads, their previous-token partners) at snapshot `i`."""
    heads = induction_heads(run.prefix, i)
    partners = []
    if run.previous_token is not None:
        partners = sorted({p for h in heads if (p := partner(run.previous_token, i, h[0]))})
    return heads, partners


def ablation_shares(run: RunData, i: int, heads: list, members: set) -> tuple[float, ...]:
    """At snapshot `i`, as shares of the clean |ICL score|: the induction heads' summed Δ ICL
    under pattern-preserving ablation, the largest Δ ICL of a head outside the circuit (the
    ICL it carries), and the most negative one (a head working against the ICL)."""
    icl = run.clean_ablation_icl
    delta, clean = run.ablation_pp_icl[i], abs(float(icl[i]))  # (layer, head), nats
    if icl[i] >= 0:
        return float("nan"), float("nan"), float("nan")
    removed = sum(float(delta[h]) for h in heads) / clean
    outside = [float(delta[h]) / clean for h in np.ndindex(delta.shape) if h not in members]
    return removed, max(outside, default=0.0), min(outside, default=0.0)


def _ablation_row(run: RunData) -> tuple[dict | None, str, str]:
    grid = run.ablation_pp_icl
    ablated = [] if grid is None else np.flatnonzero(np.isfinite(grid).any(axis=(1, 2)))
    if len(ablated) == 0:
        return None, "inconclusive", "no pattern-preserving ablations stored"
    last = ablated[-LAST_MEASURED:]
    heads, partners = circuit(run, int(last[-1]))
    if not heads:
        return None, "n/a", "no induction head at the last ablated snapshot"
    shares = np.array([ablation_shares(run, int(i), heads, {*heads, *partners}) for i in last])
    row = {
        "steps": [int(run.steps[i]) for i in last],
        "induction_heads": [head_label(*h) for h in heads],
        "partners": [head_label(*p) for p in partners],
        "clean_icl": [round(float(run.clean_ablation_icl[i]), 4) for i in last],
        "removed": mean_estimate(shares[:, 0]),
        "largest_other": mean_estimate(shares[:, 1]),
        "most_negative_other": mean_estimate(shares[:, 2]),
    }
    verdict = combine([above(row["removed"], REMOVED), below(row["largest_other"], OTHER)])
    text = (
        f"ablating {', '.join(row['induction_heads'])} removes {row['removed']} of the ICL "
        f"score; of the heads outside the circuit (which also holds "
        f"{', '.join(row['partners']) or 'no partner'}), the largest share removed is "
        f"{row['largest_other']}, the most negative {row['most_negative_other']}"
    )
    return row, verdict, text


def claim_e(multi: Runs) -> Claim:
    """(e) Over the last ablated snapshots: pattern-preserving ablation of the induction heads
    removes more than `REMOVED` of the clean ICL score, and no head outside the circuit
    removes more than `OTHER` of it (heads working against the ICL are reported, not judged)."""
    rows, verdicts, details = per_run(multi, _ablation_row)
    details = details or "no multi-layer run"
    if any(rows.values()):
        details += (
            f" (shares of the clean |ICL score|, averaged over the last {LAST_MEASURED} ablated "
            "snapshots; resampled: those snapshots)"
        )
    text = (
        "Pattern-preserving ablation of the induction heads removes most of the ICL score; no "
        "head outside the circuit matters much."
    )
    return claim("e", text, combine(verdicts), details, runs=rows)


def _composition_row(run: RunData) -> tuple[dict | None, str, str]:
    grid = run.composition_k
    if grid is None or run.previous_token is None:
        return None, "inconclusive", "no K-composition or previous-token scores stored"
    measured = np.flatnonzero(np.isfinite(grid).any(axis=(1, 2, 3, 4)))
    if len(measured) == 0:
        return None, "inconclusive", "no K-composition measured"
    last = measured[-LAST_MEASURED:]
    heads, _ = circuit(run, int(last[-1]))
    if not heads:
        return None, "n/a", "no induction head at the last snapshot"
    target = heads[0]
    source = partner(run.previous_token, int(last[-1]), target[0])
    if source is None:
        return (
            {"reason": "layer 0"},
            "fail",
            f"the top induction head {head_label(*target)} is in layer 0",
        )
    pair = (*source, *target)
    margins, best = [], []
    for i in last:
        scores = grid[i].copy()  # (layer_from, head_from, layer_to, head_to)
        value = scores[pair]
        scores[pair] = np.nan
        margins.append(value - np.nanmax(scores) if np.isfinite(scores).any() else np.nan)
        best.append(np.unravel_index(np.nanargmax(grid[i]), grid[i].shape))
    top = [int(v) for v in best[-1]]
    row = {
        "pair": f"{head_label(*source)}->{head_label(*target)}",
        "k_composition": mean_estimate(grid[last][(slice(None), *pair)]),
        "margin": mean_estimate(np.array(margins)),
        "largest_pair": f"{head_label(*top[:2])}->{head_label(*top[2:])}",
        "sign": None,
    }
    text = (
        f"{row['pair']} K-composition {row['k_composition']}, above the next pair by "
        f"{row['margin']} (largest at the last snapshot: {row['largest_pair']})"
    )
    verdicts = [above(row["margin"], 0.0)]
    if run.qk_match is not None and np.isfinite(run.qk_match[last][(slice(None), *pair)]).any():
        # the match must also have the induction sign: the head attends where the tokens match
        row["sign"] = mean_estimate(run.qk_match[last][(slice(None), *pair)])
        verdicts.append(above(row["sign"], 0.0))
        text += f", match sign (QK eigenvalue positivity) {row['sign']}"
    else:
        text += ", match sign not measured"
    return row, combine(verdicts), text


def claim_f(multi: Runs) -> Claim:
    """(f) The K-composition from the top previous-token head below the top induction head into
    it is the largest of all pairs (margin over the next pair above 0), and it has the sign of a
    match (the QK circuit's eigenvalue positivity through that head above 0)."""
    rows, verdicts, details = per_run(multi, _composition_row)
    details = details or "no multi-layer run"
    if any(rows.values()):
        details += (
            f" (averaged over the last {LAST_MEASURED} analysed snapshots; resampled: those "
            "snapshots; the match sign: eigenvalue positivity of the induction head's QK circuit "
            "through the previous-token head, +1 = attends where the tokens match)"
        )
    text = (
        "The induction head's key reads the output of a previous-token head of an earlier "
        "layer: their K-composition stands above every other pair, with the sign of a match."
    )
    return claim("f", text, combine(verdicts), details, runs=rows)
