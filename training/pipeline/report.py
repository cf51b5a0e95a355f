"""The claims report: the paper's checkable claims, tested on our own suite.

    python -m training report artifacts/<suite>

writes `analysis/report.json` and `analysis/report.md`. Each claim gets the numbers it rests on,
with bootstrap intervals, and "pass", "fail", "inconclusive" (an interval straddles a threshold)
or "n/a" (the suite has no run that can test it), or "waiting" while a run it needs is not
trained and analysed yet. The claims themselves are pure functions in `training.pipeline.claims`; this
module gathers their inputs from the suite, marks what is waiting, and writes the report. A
failing claim is reported as failing with its numbers, never tuned away. A run trained with
several seeds (`--seeds`) gets a Seeds section: each seed's numbers and their spread
(`training.pipeline.claims.seeds`); every seed replicate is also a run the claims judge like any other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import numpy as np

from training.core.artifacts import schema
from training.core.artifacts.records import Claim, Manifest, MetricsIndex, PhaseEnd, PhaseWindow, Report, SeedSpread
from training.pipeline import claims
from training.pipeline.claims.runs import RunData
from training.pipeline.claims.seeds import seed_result, seed_spread, waiting_seed
from training.pipeline.config import replicate_name
from training.pipeline.stop import unfinished_text

# Which kinds of run each claim needs (see `kind_of`): a claim whose runs are not all trained and
# analysed yet is "waiting", naming them, instead of failing on what has arrived so far.
NEEDS = {
    "a": ("multi", "single"),
    "b": ("multi", "single"),
    "c": ("smeared", "single"),
    "d": ("multi", "single"),
    "e": ("multi",),
    "f": ("multi",),
    "g": ("multi",),
}
# ... and the kinds a claim also reads where the suite has them (decided without them, "so far").
ALSO_READS = {"a": ("mlp",)}


def reads(cid: str) -> tuple[str, ...]:
    return NEEDS[cid] + ALSO_READS.get(cid, ())


Groups = Mapping[str, list[RunData]]
CHECKS: dict[str, Callable[[Groups], Claim]] = {
    "a": lambda g: claims.claim_a(g["multi"], g["single"], g["mlp"]),
    "b": lambda g: claims.claim_b(g["multi"], g["single"]),
    "c": lambda g: claims.claim_c(g["smeared"], g["single"]),
    "d": lambda g: claims.claim_d(g["multi"], g["single"]),
    "e": lambda g: claims.claim_e(g["multi"]),
    "f": lambda g: claims.claim_f(g["multi"]),
    "g": lambda g: claims.claim_g(g["multi"]),
}


# ---- the claims, from plain runs -------------------------------------------------------------


def kind_of(model: dict) -> str:
    """The claims' kind of run: "multi" (attention-only, 2+ layers), "single" (attention-only,
    1 layer), "smeared" (1 layer, smeared keys), "mlp" (with MLPs, 2+ layers: claim (a) only)
    or "other" (no claim needs it)."""
    if model.get("smeared_keys"):
        return "smeared" if model.get("n_layers") == 1 else "other"
    if not model.get("attn_only", True):
        return "mlp" if model.get("n_layers", 1) >= 2 else "other"
    return "multi" if model.get("n_layers", 1) >= 2 else "single"


def check_claims(groups: Groups) -> list[Claim]:
    """Every claim, (a)-(g), on runs grouped by kind (missing kinds count as no runs)."""
    groups = {kind: list(groups.get(kind, [])) for kind in ("multi", "single", "smeared", "mlp")}
    return [check(groups) for check in CHECKS.values()]


def check_finished(groups: Groups, ends: Mapping[str, PhaseEnd]) -> list[Claim]:
    """Every claim judged on the runs whose phase change was over when training stopped; a run
    cut by its step cap while it went on (`ends`: the runs' `Manifest.phase_end`, unfinished) is
    not judged as if it were done (`mark_unfinished`)."""
    cut = {run for run, end in ends.items() if not end.finished}
    if not cut:
        return check_claims(groups)
    judged = {kind: [r for r in runs if r.name not in cut] for kind, runs in groups.items()}
    return mark_unfinished(check_claims(judged), check_claims(groups), groups, ends)


def mark_unfinished(
    judged: list[Claim], as_trained: list[Claim], groups: Groups, ends: Mapping[str, PhaseEnd]
) -> list[Claim]:
    """Name, in each claim that would read them, the unfinished runs it was judged without, how
    far each one's score still rose, and the verdict with them as trained (`verdict_as_trained`).
    A claim left with no run of a kind it needs (its only one is unfinished) is "inconclusive"."""
    out = []
    for c, whole in zip(judged, as_trained):
        read = [r.name for kind in reads(c.id) for r in groups.get(kind, [])]
        cut = {run: ends[run] for run in read if run in ends and not ends[run].finished}
        if not cut:
            out.append(c)
            continue
        notes = "; ".join(f"{run} is unfinished ({unfinished_text(end)})" for run, end in cut.items())
        numbers = {
            **c.numbers,
            "verdict_as_trained": whole.status,
            "unfinished": {run: schema.to_json(end) for run, end in cut.items()},
        }
        them = "it" if len(cut) == 1 else "them"
        if c.status == "n/a" and whole.status != "n/a":  # nothing finished to judge it on
            details = f"not judged: {notes}; with {them} as trained: {whole.status} ({whole.details})"
            out.append(dataclasses.replace(c, status="inconclusive", details=details, numbers=numbers))
            continue
        details = f"{c.details}. Not judged on {them}: {notes}; with {them} as trained: {whole.status}"
        out.append(dataclasses.replace(c, details=details, numbers=numbers))
    return out


def mark_waiting(
    results: list[Claim],
    pending: Mapping[str, str],
    present: Collection[str] = (),
) -> list[Claim]:
    """Claims against the runs still to come ({run: kind}): a claim that has no analysed run
    yet of a kind it needs becomes "waiting", naming the runs; one that has a run of every
    kind it needs is decided now, its details naming the runs still to come (provisional)."""
    out = []
    for c in results:
        waiting = sorted(run for run, kind in pending.items() if kind in reads(c.id))
        if waiting and all(kind in present for kind in NEEDS[c.id]):
            to_come = ", ".join(waiting)
            c = dataclasses.replace(c, details=f"{c.details} (so far: {to_come} to come)")
        elif waiting:
            details = "waiting for " + ", ".join(waiting)
            c = dataclasses.replace(c, status="waiting", details=details)
        out.append(c)
    return out


def run_summary(run: RunData, model: dict, end: PhaseEnd | None = None) -> dict:
    """The report's line about a run: kind, snapshots, peak prefix matching, phase window, and
    where the plateau rule ended its training (`end`: {} for a fixed number of steps)."""
    if model.get("smeared_keys"):
        kind = "smeared"
    else:
        kind = f"{model['n_layers']}L-" + ("attn" if model.get("attn_only") else "mlp")
    return {
        "kind": kind,
        "snapshots": len(run.steps),
        "peak_prefix_matching": run.peak(),
        "phase": schema.to_json(run.phase) if run.phase is not None else {},
        "phase_end": schema.to_json(end) if end is not None else {},
    }


# ---- gathering the runs from a suite ---------------------------------------------------------


def analysed(suite_path: Path, run: str) -> bool:
    """Trained to the end and every snapshot fully analysed."""
    try:
        manifest = schema.read_manifest(suite_path / run)
        index = schema.read_metrics_index(suite_path / run)
    except schema.ArtifactError:
        return False
    complete = manifest.status == "complete" and index.complete
    return complete and len(index.steps) == len(manifest.snapshots)


def pending_runs(suite_path: Path, done: set[str]) -> dict[str, str]:
    """{run: kind} of the runs the suite's preset plans that are not analysed yet: not started,
    still training, or trained but not analysed."""
    from training.pipeline import presets

    runs = schema.list_runs(suite_path)
    names = {schema.read_manifest(suite_path / r).preset for r in runs}
    planned: dict[str, str] = {}
    for name in names:
        try:
            preset = presets.load(name)
        except Exception:  # a suite trained from a preset this code does not know
            continue
        for spec in preset.runs:
            planned[spec.name] = kind_of({**dataclasses.asdict(preset.model), **spec.model})
    for run in runs:  # runs outside the preset count by their own model
        planned.setdefault(run, kind_of(schema.read_manifest(suite_path / run).model))
    for run in runs:  # seed replicates planned by `--seeds`, started or not
        manifest = schema.read_manifest(suite_path / run)
        for k in range(1, manifest.seeds if manifest.replicate is None else 1):
            planned.setdefault(replicate_name(run, k), kind_of(manifest.model))
    return {run: kind for run, kind in planned.items() if run not in done}


def _curve(values: list | None) -> np.ndarray | None:
    if values is None:
        return None
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def heldout_curve(manifest: Manifest, index: MetricsIndex) -> np.ndarray | None:
    """(snapshot,) held-out loss: the analysis's `eval_loss`, or else the trainer's
    `heldout_loss` from the manifest at the same steps."""
    curve = _curve(index.scalars.get("eval_loss"))
    if curve is not None and np.isfinite(curve).any():
        return curve
    entries = [manifest.entry(step) for step in index.steps]
    return _curve([None if e is None else e.heldout_loss for e in entries])


def load_run(suite_path: Path, run: str, phase: PhaseWindow | None) -> tuple[RunData, dict]:
    """A run's `RunData` and its model config, read through the schema."""
    path = suite_path / run
    manifest, index = schema.read_manifest(path), schema.read_metrics_index(path)

    def metric(name: str) -> np.ndarray | None:
        return schema.read_metric(path, name, index) if name in index.arrays else None

    icl = _curve(index.scalars["icl_score"])
    wide = _curve(index.scalars.get("icl_wide"))
    data = RunData(
        name=run,
        steps=np.asarray(index.steps),
        icl=wide if wide is not None and np.isfinite(wide).all() else icl,
        ablation_icl=icl,
        prefix=metric("prefix_matching"),
        heldout_loss=heldout_curve(manifest, index),
        previous_token=metric("previous_token"),
        copying=metric("copying"),
        eigenvalue_positivity=metric("eigenvalue_positivity"),
        composition_k=metric("composition_k"),
        qk_match=metric("qk_match"),
        ablation_pp_icl=metric("ablation_pp_delta_icl"),
        per_token_loss=metric("per_token_loss"),
        phase=phase,
    )
    return data, manifest.model


# ---- the spread over seeds -------------------------------------------------------------------


def icl_metric(index: MetricsIndex) -> str:
    """The ICL metric the claims read for a run (`RunData.icl`): the wide one where it is stored
    at every analysed snapshot, else the plain ICL score."""
    wide = _curve(index.scalars.get("icl_wide"))
    return "icl_wide" if wide is not None and np.isfinite(wide).all() else "icl_score"


def seed_plans(manifests: Mapping[str, Manifest]) -> dict[str, list[tuple[str, int]]]:
    """{run: [(run, seed), (replicate, seed), ...]} for every run with 2+ seeds planned
    (`Manifest.seeds`) or trained (replicates that name it): itself first, then its replicates
    in order, each with its train.seed; a planned replicate not started yet included."""
    plans: dict[str, dict[int, tuple[str, int]]] = {}
    for name, m in manifests.items():
        if m.replicate is not None:
            plans.setdefault(m.replicate.of, {})[m.replicate.index] = (name, m.replicate.seed)
    for name, m in manifests.items():
        if m.replicate is None and (m.seeds > 1 or name in plans):
            seed = int(m.train.get("seed", 0))
            plan = plans.setdefault(name, {})
            plan[0] = (name, seed)
            for k in range(1, m.seeds):
                plan.setdefault(k, (replicate_name(name, k), seed + k))
    for base, plan in plans.items():  # a replicate whose run has no manifest (deleted)
        first = min(plan)
        plan.setdefault(0, (base, plan[first][1] - first))
    return {base: [plan[k] for k in sorted(plan)] for base, plan in sorted(plans.items())}


def seed_spreads(suite_path: Path, runs: Mapping[str, RunData]) -> dict[str, SeedSpread]:
    """The report's Seeds section: per run with 2+ seeds, each seed's numbers (from `runs`, the
    analysed ones; the others waiting) and their spread (`training.pipeline.claims.seeds`)."""
    manifests = {}
    for run in schema.list_runs(suite_path):
        try:
            manifests[run] = schema.read_manifest(suite_path / run)
        except schema.ArtifactError:
            continue
    out = {}
    for base, members in seed_plans(manifests).items():
        results = [
            seed_result(runs[run], seed, icl_metric(schema.read_metrics_index(suite_path / run)))
            if run in runs
            else waiting_seed(run, seed)
            for run, seed in members
        ]
        out[base] = seed_spread(base, results)
    return out


def build_report(suite_path: Path) -> Report:
    try:
        phases = schema.read_phases(suite_path)
    except schema.ArtifactError:
        phases = {}
    done = [run for run in schema.list_runs(suite_path) if analysed(suite_path, run)]
    loaded = [load_run(suite_path, run, phases.get(run)) for run in done]
    groups: dict[str, list[RunData]] = {}
    for data, model in loaded:
        groups.setdefault(kind_of(model), []).append(data)
    ends = {run: end for run in done if (end := schema.read_manifest(suite_path / run).phase_end) is not None}
    claims = mark_waiting(check_finished(groups, ends), pending_runs(suite_path, set(done)), set(groups))
    return Report(
        suite=suite_path.name,
        generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        runs={data.name: run_summary(data, model, ends.get(data.name)) for data, model in loaded},
        claims=claims,
        passed=sum(c.status == "pass" for c in claims),
        failed=sum(c.status == "fail" for c in claims),
        waiting=sum(c.status == "waiting" for c in claims),
        seeds=seed_spreads(suite_path, {data.name: data for data, _ in loaded}),
    )


# ---- writing it ------------------------------------------------------------------------------


def render_markdown(report: Report) -> str:
    inconclusive = sum(c.status == "inconclusive" for c in report.claims)
    untestable = sum(c.status == "n/a" for c in report.claims)
    lines = [
        f"# Claims report: suite `{report.suite}`",
        "",
        f"Generated {report.generated}. {report.passed} passed, {report.failed} failed, "
        f"{inconclusive} inconclusive, {report.waiting} waiting for runs, {untestable} not "
        "testable on this suite. Brackets: 95% bootstrap intervals.",
        "",
        "| | claim | result | measured |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.id} | {c.claim} | **{c.status}** | {c.details} |" for c in report.claims]
    lines += [
        "",
        "## Runs",
        "",
        "| run | kind | snapshots | peak prefix-matching | phase change |",
        "|---|---|---|---|---|",
    ]
    for name, r in report.runs.items():
        p = r["peak_prefix_matching"]
        peak = f"{p['score']} ({p['head']}, step {p['step']})"
        phase = r["phase"].get("reason", "")
        end = r.get("phase_end") or {}
        if end:
            stop = (
                f"training stopped at step {end['step']:,}: phase change over"
                if end["finished"]
                else f"**unfinished**: {unfinished_text(schema.from_json(PhaseEnd, end, 'report'))}"
            )
            phase = f"{phase} ({stop})" if phase else stop
        lines.append(f"| {name} | {r['kind']} | {r['snapshots']} | {peak} | {phase} |")
    if report.seeds:
        lines += render_seeds(report.seeds)
    return "\n".join(lines) + "\n"


SEED_COLUMNS = {  # SeedResult field: its column, and how a value is written
    "induction_step": ("smoothed max prefix matching > 0.3 at step", "{:,.0f}"),
    "phase_start": ("phase window start", "{:,.0f}"),
    "phase_end": ("phase window end", "{:,.0f}"),
    "peak_prefix_matching": ("peak prefix matching", "{:.3f}"),
    "final_icl": ("final ICL score", "{:.3f}"),
    "final_heldout_loss": ("final held-out loss", "{:.3f}"),
}


def render_seeds(seeds: Mapping[str, SeedSpread]) -> list[str]:
    """The markdown of the Seeds section: one table per run, its seeds then their spread."""

    def cell(field: str, value) -> str:
        return "–" if value is None else SEED_COLUMNS[field][1].format(value)

    lines = [
        "",
        "## Seeds",
        "",
        "Runs trained with several seeds (`--seeds`): per seed, the step at which the maximum "
        "over heads of the prefix-matching score (smoothed over 5 snapshots) first exceeds 0.3, "
        "the phase window, the peak prefix-matching score, the final ICL score (mean of the "
        "last 5 snapshots) and the final held-out loss; then their mean, min and max over the analysed "
        "seeds (n: those with a value), and with 3 or more the standard deviation. –: not "
        "reached, or not analysed yet.",
    ]
    for base, s in seeds.items():
        icl = f"ICL metric `{s.icl_metric}`" if s.icl_metric else "seeds on different ICL metrics"
        lines += ["", f"### {base} ({len(s.seeds)} seeds; {icl})", ""]
        lines.append("| seed | run | " + " | ".join(c for c, _ in SEED_COLUMNS.values()) + " |")
        lines.append("|---" * (len(SEED_COLUMNS) + 2) + "|")
        for r in s.seeds:
            values = [cell(f, getattr(r, f)) for f in SEED_COLUMNS]
            if r.status == "waiting":
                values = ["waiting (not trained and analysed yet)"] + [""] * (len(values) - 1)
            lines.append(f"| {r.seed} | {r.run} | " + " | ".join(values) + " |")
        for stat in ("n", "mean", "min", "max", "std"):
            values = [getattr(s.spread[f], stat) for f in SEED_COLUMNS]
            if stat == "std" and all(v is None for v in values):
                continue  # fewer than 3 seeds with a value
            shown = [str(v) if stat == "n" else cell(f, v) for f, v in zip(SEED_COLUMNS, values)]
            lines.append(f"| {stat} | | " + " | ".join(shown) + " |")
    return lines


def save_report(suite_path: Path, report: Report) -> None:
    schema.write_report(suite_path, report, render_markdown(report))
