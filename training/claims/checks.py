"""The claims (a)-(g), one pure function each: runs in, a `Claim` out.

Each function gets the runs of the kinds it needs (`multi`: attention-only with 2+ layers,
`single`: attention-only with 1 layer, `smeared`: 1 layer with smeared keys) and returns "n/a"
when it has none to test. Thresholds are fixed here, before looking at results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from training.analysis.scores import INDUCTION_THRESHOLD as INDUCTION
from training.claims.runs import RunData
from training.records import Claim, to_json
from training.schema import head_label

Runs = Sequence[RunData]


def claim(cid: str, text: str, status: str, details: str, **numbers) -> Claim:
    return Claim(cid, text, status, details, to_json(numbers))


def status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("pass" if ok else "fail")


def _peaks_text(peaks: dict) -> str:
    return "; ".join(
        f"{n}: peak prefix-matching {p['score']} ({p['head']}, step {p['step']})"
        for n, p in peaks.items()
    )


def claim_a(multi: Runs, single: Runs) -> Claim:
    """Induction heads (peak prefix matching above the threshold) in every multi-layer run and
    in no 1-layer run."""
    peaks = {r.name: r.peak() for r in [*multi, *single]}
    ok = None
    if multi and single:
        ok = all(peaks[r.name]["score"] > INDUCTION for r in multi) and all(
            peaks[r.name]["score"] <= INDUCTION for r in single
        )
    text = (
        f"Induction heads (prefix-matching > {INDUCTION}) form in multi-layer attention-only "
        "models and never in the 1-layer one."
    )
    return claim("a", text, status(ok), _peaks_text(peaks), peaks=peaks)


def loss_bump(run: RunData) -> dict:
    """The training loss's drop inside the phase window against the drop the power law (log
    loss vs log step) fitted to the snapshots outside it predicts; `bump` when it is larger."""
    s, e = run.window()
    loss = np.asarray(run.train_loss, dtype=float)
    steps = run.steps
    outside = np.array(
        [(i < s or i > e) and steps[i] >= 50 and np.isfinite(loss[i]) for i in range(len(loss))]
    )
    bump, predicted, actual = None, None, float(loss[s] - loss[e])
    if outside.sum() >= 3:
        slope, icpt = np.polyfit(np.log(steps[outside]), np.log(loss[outside]), 1)
        if steps[s] > 0:
            predicted = float(np.exp(icpt) * (steps[s] ** slope - steps[e] ** slope))
        bump = predicted is not None and actual > predicted
    return {
        "window": [int(steps[s]), int(steps[e])],
        "icl_fraction_in_window": run.phase.icl_fraction,
        "loss_drop_in_window": round(actual, 4),
        "power_law_drop": None if predicted is None else round(predicted, 4),
        "bump": bool(bump),
    }


def claim_b(multi: Runs) -> Claim:
    """Same window: the phase detector already requires the ICL score to fall inside the window
    of the prefix-matching rise; the loss bump is `loss_bump`."""
    rows, oks = {}, []
    for r in multi:
        if r.window() is None:
            rows[r.name] = {"window": None, "reason": r.phase.reason if r.phase else None}
            oks.append(False)
            continue
        row = loss_bump(r)
        oks.append(row.pop("bump"))
        rows[r.name] = row
    details = "; ".join(f"{n}: " + _bump_text(v) for n, v in rows.items())
    text = (
        "Induction heads form in the same window as the ICL-score jump and a bump in the loss "
        "curve."
    )
    return claim("b", text, status(None if not multi else all(oks)), details, runs=rows)


def _bump_text(v: dict) -> str:
    if not v.get("window"):
        return f"no phase window ({v['reason']})"
    return (
        f"window steps {v['window'][0]}-{v['window'][1]}, ICL falls "
        f"{v['icl_fraction_in_window']:.0%} of its range there, training loss drops "
        f"{v['loss_drop_in_window']} vs {v['power_law_drop']} on the power-law trend"
    )


def claim_c(smeared: Runs) -> Claim:
    """The smeared-key 1-layer run's peak prefix matching is above the threshold."""
    peaks = {r.name: r.peak() for r in smeared}
    ok = None if not smeared else all(p["score"] > INDUCTION for p in peaks.values())
    text = "A 1-layer attention-only model with smeared keys forms induction heads (Argument 2)."
    details = _peaks_text(peaks) or "no smeared-key run"
    return claim("c", text, status(ok), details, peaks=peaks)


def turn_angle(coords: np.ndarray, s: int, e: int) -> float | None:
    """Degrees between the PCA trajectory's direction over the window's width before it starts
    and over the same number of snapshots after it ends (first two components)."""
    width = max(e - s, 1)
    a0, a1, b0, b1 = max(s - width, 0), s, e, min(e + width, len(coords) - 1)
    u, v = coords[a1, :2] - coords[a0, :2], coords[b1, :2] - coords[b0, :2]
    if a1 == a0 or b1 == b0 or np.linalg.norm(u) == 0 or np.linalg.norm(v) == 0:
        return None
    cosine = u @ v / np.linalg.norm(u) / np.linalg.norm(v)
    return float(np.degrees(np.arccos(np.clip(cosine, -1, 1))))


def nearest_snapshots(steps: np.ndarray, targets: Sequence[int]) -> list[int]:
    """The index of the snapshot closest to each target step."""
    return np.abs(steps[:, None] - np.asarray(targets)[None, :]).argmin(0).tolist()


def claim_d(multi: Runs, single: Runs) -> Claim:
    """The turn: measured in each multi-layer run's own window, and for the 1-layer control in
    the same step range (the snapshots closest to it). Passes when every multi-layer run turns
    by more than 30 degrees and by at least twice the 1-layer run's angle."""
    rows, oks = {}, []
    for r in multi:
        w = r.window()
        if w is None or r.pca_coords is None:
            rows[r.name] = None
            oks.append(False)
            continue
        angle = turn_angle(r.pca_coords, *w)
        controls = {}
        for c in single:
            if c.pca_coords is not None:
                cs, ce = nearest_snapshots(c.steps, [r.steps[w[0]], r.steps[w[1]]])
                controls[c.name] = turn_angle(c.pca_coords, cs, ce)
        rows[r.name] = {"angle": angle, "control_angles": controls}
        worst = max([a for a in controls.values() if a is not None], default=0.0)
        oks.append(angle is not None and angle > 30 and angle >= 2 * worst)
    ok = None if not multi or not single else all(oks)
    details = "; ".join(f"{n}: " + _turn_text(v) for n, v in rows.items())
    text = (
        "The per-token-loss PCA trajectory of multi-layer models turns in the phase-change "
        "window; the 1-layer model's does not."
    )
    return claim("d", text, status(ok), details, runs=rows)


def _turn_text(v: dict | None) -> str:
    if v is None:
        return "no phase window"
    controls = ", ".join(
        f"{k} {a:.0f}°" if a is not None else f"{k} n/a" for k, a in v["control_angles"].items()
    )
    angle = "n/a" if v["angle"] is None else f"{v['angle']:.0f}°"
    return f"turns {angle} across its window; 1-layer control in the same steps: {controls}"


def claim_e(multi: Runs) -> Claim:
    """At the last snapshot of each multi-layer run with a phase window: mean-ablating the top
    induction head alone raises the ICL score by at least half of its magnitude, and by at least
    twice as much as any non-induction head."""
    rows, oks = {}, []
    for r in (r for r in multi if r.window() is not None):
        if r.ablation_mean_icl is None or np.isnan(r.ablation_mean_icl[-1]).all():
            rows[r.name] = None
            oks.append(False)
            continue
        delta, prefix = r.ablation_mean_icl[-1], r.prefix[-1]  # (layer, head)
        ind = np.unravel_index(prefix.argmax(), prefix.shape)
        others = float(max(delta[prefix <= INDUCTION].tolist(), default=0.0))
        clean = float(r.icl[-1])
        rows[r.name] = {
            "induction_head": head_label(*map(int, ind)),
            "clean_icl": round(clean, 4),
            "delta_icl": round(float(delta[ind]), 4),
            "max_other_delta_icl": round(others, 4),
        }
        oks.append(
            clean < 0 and delta[ind] >= 0.5 * abs(clean) and delta[ind] >= 2 * max(others, 1e-9)
        )
    details = "; ".join(f"{n}: " + _ablation_text(v) for n, v in rows.items())
    text = (
        "After the window, ablating the induction head removes most of the ICL score, far more "
        "than any other head."
    )
    details = details or "no multi-layer run with a phase window"
    return claim("e", text, status(None if not rows else all(oks)), details, runs=rows)


def _ablation_text(v: dict | None) -> str:
    if v is None:
        return "no ablations at the last snapshot"
    return (
        f"ICL {v['clean_icl']}; ablating {v['induction_head']} changes it by +{v['delta_icl']}, "
        f"the largest other head by {v['max_other_delta_icl']:+}"
    )


def claim_f(multi: Runs) -> Claim:
    """At the last snapshot: K-composition of (top previous-token head of an earlier layer ->
    top induction head) is the largest of all pairs."""
    rows, oks = {}, []
    for r in (r for r in multi if r.window() is not None):
        if r.composition_k is None or r.previous_token is None:
            rows[r.name] = {"reason": "no composition or previous-token scores stored"}
            oks.append(False)
            continue
        kcomp = r.composition_k[-1]  # (layer_from, head_from, layer_to, head_to)
        prefix, prev = r.prefix[-1], r.previous_token[-1]  # (layer, head)
        il, ih = map(int, np.unravel_index(prefix.argmax(), prefix.shape))
        if il == 0:
            rows[r.name] = {"reason": "the top induction head is in layer 0"}
            oks.append(False)
            continue
        pl, ph = map(int, np.unravel_index(prev[:il].argmax(), prev[:il].shape))
        score, largest = float(kcomp[pl, ph, il, ih]), float(np.nanmax(kcomp))
        best = [int(i) for i in np.unravel_index(np.nanargmax(kcomp), kcomp.shape)]
        rows[r.name] = {
            "pair": f"{head_label(pl, ph)}->{head_label(il, ih)}",
            "k_composition": round(score, 4),
            "best_pair": f"{head_label(*best[:2])}->{head_label(*best[2:])}",
            "best": round(largest, 4),
        }
        oks.append(math.isclose(score, largest))
    details = "; ".join(f"{n}: " + _composition_text(v) for n, v in rows.items())
    text = (
        "The induction head's K-composition with a previous-token head of an earlier layer "
        "stands above every other pair."
    )
    details = details or "no multi-layer run with a phase window"
    return claim("f", text, status(None if not rows else all(oks)), details, runs=rows)


def _composition_text(v: dict) -> str:
    if "reason" in v:
        return v["reason"]
    return (
        f"{v['pair']} K-composition {v['k_composition']} (largest: {v['best_pair']} {v['best']})"
    )


def claim_g(multi: Runs) -> Claim:
    """Over 75% of the ICL score's total fall over training happens inside the phase window."""
    rows, oks = {}, []
    for r in multi:
        w = r.window()
        total = float(r.icl[0] - r.icl[-1])
        if w is None or total <= 0:
            rows[r.name] = None
            oks.append(False)
            continue
        gained = float(r.icl[w[0]] - r.icl[w[1]])
        rows[r.name] = {
            "fraction": round(gained / total, 3),
            "gained": round(gained, 4),
            "total": round(total, 4),
        }
        oks.append(gained / total > 0.75)
    details = "; ".join(f"{n}: " + _gain_text(v) for n, v in rows.items())
    text = "Over 75% of the final ICL score is gained inside the phase-change window."
    return claim("g", text, status(None if not multi else all(oks)), details, runs=rows)


def _gain_text(v: dict | None) -> str:
    if v is None:
        return "no phase window or no ICL gain"
    return (
        f"{v['fraction']:.0%} of the ICL gain ({v['gained']} of {v['total']} nats) "
        "falls inside the window"
    )
