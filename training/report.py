"""The claims report: the paper's checkable claims, tested on our own suite.

`python -m training report artifacts/<suite>` writes `analysis/report.json` and
`analysis/report.md`. Each claim gets the numbers it rests on and "pass", "fail" or "n/a"
(the suite has no run that can test it). Thresholds are fixed here, before looking at results;
a failing claim is reported as failing with its numbers, never tuned away.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np

from training import schema
from training.schema import head_label

INDUCTION = 0.3  # prefix-matching score above which a head counts as an induction head


class RunView:
    """What the claims need about one analysed run."""

    def __init__(self, suite_path: Path, run: str, phase: dict | None):
        self.name = run
        self.path = suite_path / run
        self.manifest = schema.read_manifest(self.path)
        self.index = schema.read_metrics_index(self.path)
        m = self.manifest["model"]
        self.n_layers, self.attn_only, self.smeared = m["n_layers"], m["attn_only"], m["smeared_keys"]
        self.steps = np.asarray(self.index["steps"])
        self.icl = np.asarray(self.index["scalars"]["icl_score"])
        self.prefix = schema.read_metric(self.path, "prefix_matching")  # (snap, layer, head)
        self.max_prefix = self.prefix.reshape(len(self.steps), -1).max(1)
        self.phase = phase or {}

    @property
    def kind(self) -> str:
        if self.smeared:
            return "smeared"
        return f"{self.n_layers}L-" + ("attn" if self.attn_only else "mlp")

    def metric(self, name: str) -> np.ndarray:
        return schema.read_metric(self.path, name)

    def window(self) -> tuple[int, int] | None:
        if self.phase.get("found"):
            return self.steps.tolist().index(self.phase["start_step"]), self.steps.tolist().index(self.phase["end_step"])
        return None

    def peak(self) -> dict:
        i = int(self.max_prefix.argmax())
        layer, head = np.unravel_index(self.prefix[i].argmax(), self.prefix[i].shape)
        return {"score": round(float(self.max_prefix[i]), 3), "step": int(self.steps[i]), "head": head_label(int(layer), int(head))}


def claim(cid: str, text: str, status: str, details: str, **numbers) -> dict:
    return {"id": cid, "claim": text, "status": status, "details": details, "numbers": numbers}


def status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("pass" if ok else "fail")


def claim_a(runs: list[RunView]) -> dict:
    multi = [r for r in runs if r.attn_only and not r.smeared and r.n_layers >= 2]
    single = [r for r in runs if r.attn_only and not r.smeared and r.n_layers == 1]
    peaks = {r.name: r.peak() for r in multi + single}
    ok = None if not multi or not single else all(peaks[r.name]["score"] > INDUCTION for r in multi) and all(peaks[r.name]["score"] <= INDUCTION for r in single)
    details = "; ".join(f"{n}: peak prefix-matching {p['score']} ({p['head']}, step {p['step']})" for n, p in peaks.items())
    return claim("a", f"Induction heads (prefix-matching > {INDUCTION}) form in multi-layer attention-only models and never in the 1-layer one.", status(ok), details, peaks=peaks)


def claim_b(runs: list[RunView]) -> dict:
    """Same window: the phase detector already requires the ICL score to fall inside the window
    of the prefix-matching rise; the loss bump is the training loss falling faster inside the
    window than the power law (log loss vs log step) fitted to the snapshots outside it."""
    multi = [r for r in runs if r.attn_only and not r.smeared and r.n_layers >= 2]
    rows, oks = {}, []
    for r in multi:
        w = r.window()
        if w is None:
            rows[r.name] = {"window": None, "reason": r.phase.get("reason")}
            oks.append(False)
            continue
        s, e = w
        loss = np.asarray([x if x is not None else np.nan for x in r.index["scalars"]["train_loss"]], dtype=float)
        outside = np.array([(i < s or i > e) and r.steps[i] >= 50 and np.isfinite(loss[i]) for i in range(len(loss))])
        bump, predicted, actual = None, None, float(loss[s] - loss[e])
        if outside.sum() >= 3:
            slope, icpt = np.polyfit(np.log(r.steps[outside]), np.log(loss[outside]), 1)
            predicted = float(np.exp(icpt) * (r.steps[s] ** slope - r.steps[e] ** slope)) if r.steps[s] > 0 else None
            bump = predicted is not None and actual > predicted
        rows[r.name] = {"window": [int(r.steps[s]), int(r.steps[e])], "icl_fraction_in_window": r.phase.get("icl_fraction"),
                        "loss_drop_in_window": round(actual, 4), "power_law_drop": None if predicted is None else round(predicted, 4)}
        oks.append(bool(bump))
    ok = None if not multi else all(oks)
    details = "; ".join(
        f"{n}: " + (f"window steps {v['window'][0]}-{v['window'][1]}, ICL falls {v['icl_fraction_in_window']:.0%} of its range there, training loss drops {v['loss_drop_in_window']} vs {v['power_law_drop']} on the power-law trend" if v.get("window") else f"no phase window ({v['reason']})")
        for n, v in rows.items())
    return claim("b", "Induction heads form in the same window as the ICL-score jump and a bump in the loss curve.", status(ok), details, runs=rows)


def claim_c(runs: list[RunView]) -> dict:
    smeared = [r for r in runs if r.smeared and r.n_layers == 1]
    peaks = {r.name: r.peak() for r in smeared}
    ok = None if not smeared else all(p["score"] > INDUCTION for p in peaks.values())
    details = "; ".join(f"{n}: peak prefix-matching {p['score']} ({p['head']}, step {p['step']})" for n, p in peaks.items())
    return claim("c", "A 1-layer attention-only model with smeared keys forms induction heads (Argument 2).", status(ok), details or "no smeared-key run", peaks=peaks)


def turn_angle(coords: np.ndarray, s: int, e: int) -> float | None:
    """Degrees between the PCA trajectory's direction over the window's width before it starts
    and over the same number of snapshots after it ends (first two components)."""
    width = max(e - s, 1)
    a0, a1, b0, b1 = max(s - width, 0), s, e, min(e + width, len(coords) - 1)
    u, v = coords[a1, :2] - coords[a0, :2], coords[b1, :2] - coords[b0, :2]
    if a1 == a0 or b1 == b0 or np.linalg.norm(u) == 0 or np.linalg.norm(v) == 0:
        return None
    return float(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))


def claim_d(runs: list[RunView], pca: dict) -> dict:
    """The turn: measured in each multi-layer run's own window, and for the 1-layer control in
    the same step range (the snapshots closest to it). Passes when every multi-layer run turns
    by more than 30 degrees and by at least twice the 1-layer run's angle."""
    multi = [r for r in runs if r.attn_only and not r.smeared and r.n_layers >= 2]
    single = [r for r in runs if r.attn_only and not r.smeared and r.n_layers == 1]
    rows, oks = {}, []
    for r in multi:
        w = r.window()
        if w is None or r.name not in pca.get("runs", {}):
            rows[r.name] = None
            oks.append(False)
            continue
        angle = turn_angle(np.asarray(pca["runs"][r.name]["coords"]), *w)
        controls = {}
        for c in single:
            if c.name in pca["runs"]:
                cs = np.abs(c.steps[:, None] - r.steps[list(w)][None, :]).argmin(0)
                controls[c.name] = turn_angle(np.asarray(pca["runs"][c.name]["coords"]), int(cs[0]), int(cs[1]))
        rows[r.name] = {"angle": angle, "control_angles": controls}
        worst = max([a for a in controls.values() if a is not None], default=0.0)
        oks.append(angle is not None and angle > 30 and angle >= 2 * worst)
    ok = None if not multi or not single else all(oks)
    details = "; ".join(f"{n}: " + ("no phase window" if v is None else f"turns {v['angle']:.0f}° across its window; 1-layer control in the same steps: " + ", ".join(f"{k} {a:.0f}°" if a is not None else f"{k} n/a" for k, a in v["control_angles"].items())) for n, v in rows.items())
    return claim("d", "The per-token-loss PCA trajectory of multi-layer models turns in the phase-change window; the 1-layer model's does not.", status(ok), details, runs=rows)


def claim_e(runs: list[RunView]) -> dict:
    """At the last snapshot: mean-ablating the top induction head alone raises the ICL score by
    at least half of its magnitude, and by at least twice as much as any non-induction head."""
    multi = [r for r in runs if r.attn_only and not r.smeared and r.n_layers >= 2 and r.window() is not None]
    rows, oks = {}, []
    for r in multi:
        delta = r.metric("ablation_mean_delta_icl")[-1]
        prefix = r.prefix[-1]
        if np.isnan(delta).all():
            rows[r.name] = None
            oks.append(False)
            continue
        ind = np.unravel_index(prefix.argmax(), prefix.shape)
        others = [delta[l, h] for l in range(delta.shape[0]) for h in range(delta.shape[1]) if prefix[l, h] <= INDUCTION]
        clean = float(r.icl[-1])
        rows[r.name] = {"induction_head": head_label(*map(int, ind)), "clean_icl": round(clean, 4), "delta_icl": round(float(delta[ind]), 4), "max_other_delta_icl": round(float(max(others, default=0.0)), 4)}
        oks.append(clean < 0 and delta[ind] >= 0.5 * abs(clean) and delta[ind] >= 2 * max(max(others, default=0.0), 1e-9))
    ok = None if not multi else all(oks)
    details = "; ".join(f"{n}: " + ("no ablations at the last snapshot" if v is None else f"ICL {v['clean_icl']}; ablating {v['induction_head']} changes it by +{v['delta_icl']}, the largest other head by {v['max_other_delta_icl']:+}") for n, v in rows.items())
    return claim("e", "After the window, ablating the induction head removes most of the ICL score, far more than any other head.", status(ok), details or "no multi-layer run with a phase window", runs=rows)


def claim_f(runs: list[RunView]) -> dict:
    """At the last snapshot: K-composition of (top previous-token head of an earlier layer ->
    top induction head) is the largest of all pairs."""
    multi = [r for r in runs if r.attn_only and not r.smeared and r.n_layers >= 2 and r.window() is not None]
    rows, oks = {}, []
    for r in multi:
        kcomp = r.metric("composition_k")[-1]  # (Lf, Hf, Lt, Ht)
        prefix, prev = r.prefix[-1], r.metric("previous_token")[-1]
        il, ih = map(int, np.unravel_index(prefix.argmax(), prefix.shape))
        if il == 0:
            rows[r.name] = {"reason": "the top induction head is in layer 0"}
            oks.append(False)
            continue
        pl, ph = map(int, np.unravel_index(prev[:il].argmax(), prev[:il].shape))
        score = float(kcomp[pl, ph, il, ih])
        best = np.unravel_index(np.nanargmax(kcomp), kcomp.shape)
        rows[r.name] = {"pair": f"{head_label(pl, ph)}->{head_label(il, ih)}", "k_composition": round(score, 4),
                        "best_pair": f"{head_label(int(best[0]), int(best[1]))}->{head_label(int(best[2]), int(best[3]))}", "best": round(float(np.nanmax(kcomp)), 4)}
        oks.append(math.isclose(score, float(np.nanmax(kcomp))))
    ok = None if not multi else all(oks)
    details = "; ".join(f"{n}: " + (v["reason"] if "reason" in v else f"{v['pair']} K-composition {v['k_composition']} (largest: {v['best_pair']} {v['best']})") for n, v in rows.items())
    return claim("f", "The induction head's K-composition with a previous-token head of an earlier layer stands above every other pair.", status(ok), details or "no multi-layer run with a phase window", runs=rows)


def claim_g(runs: list[RunView]) -> dict:
    multi = [r for r in runs if r.attn_only and not r.smeared and r.n_layers >= 2]
    rows, oks = {}, []
    for r in multi:
        w = r.window()
        total = float(r.icl[0] - r.icl[-1])
        if w is None or total <= 0:
            rows[r.name] = None
            oks.append(False)
            continue
        gained = float(r.icl[w[0]] - r.icl[w[1]])
        rows[r.name] = {"fraction": round(gained / total, 3), "gained": round(gained, 4), "total": round(total, 4)}
        oks.append(gained / total > 0.75)
    ok = None if not multi else all(oks)
    details = "; ".join(f"{n}: " + ("no phase window or no ICL gain" if v is None else f"{v['fraction']:.0%} of the ICL gain ({v['gained']} of {v['total']} nats) falls inside the window") for n, v in rows.items())
    return claim("g", "Over 75% of the final ICL score is gained inside the phase-change window.", status(ok), details, runs=rows)


def build_report(suite_path: Path) -> dict:
    phases = schema.read_analysis(suite_path, "phase")
    pca = schema.read_analysis(suite_path, "pca")
    runs = [RunView(suite_path, run, phases.get(run)) for run in schema.list_runs(suite_path) if (schema.metrics_dir(suite_path / run) / schema.METRICS_INDEX).exists()]
    claims = [claim_a(runs), claim_b(runs), claim_c(runs), claim_d(runs, pca), claim_e(runs), claim_f(runs), claim_g(runs)]
    return {
        "suite": suite_path.name,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "runs": {r.name: {"kind": r.kind, "snapshots": len(r.steps), "peak_prefix_matching": r.peak(), "phase": r.phase} for r in runs},
        "claims": claims,
        "passed": sum(c["status"] == "pass" for c in claims),
        "failed": sum(c["status"] == "fail" for c in claims),
    }


def render_markdown(report: dict) -> str:
    lines = [f"# Claims report: suite `{report['suite']}`", "", f"Generated {report['generated']}. "
             f"{report['passed']} passed, {report['failed']} failed, {len(report['claims']) - report['passed'] - report['failed']} not testable on this suite.", "",
             "| | claim | result | measured |", "|---|---|---|---|"]
    for c in report["claims"]:
        lines.append(f"| {c['id']} | {c['claim']} | **{c['status']}** | {c['details']} |")
    lines += ["", "## Runs", "", "| run | kind | snapshots | peak prefix-matching | phase change |", "|---|---|---|---|---|"]
    for name, r in report["runs"].items():
        p = r["peak_prefix_matching"]
        lines.append(f"| {name} | {r['kind']} | {r['snapshots']} | {p['score']} ({p['head']}, step {p['step']}) | {r['phase'].get('reason', '')} |")
    return "\n".join(lines) + "\n"


def save_report(suite_path: Path, report: dict) -> None:
    adir = schema.analysis_dir(suite_path)
    schema.atomic_write_bytes(adir / "report.md", render_markdown(report).encode())
    schema.atomic_write_json(adir / "report.json", report)
