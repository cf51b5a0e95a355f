"""Suite-level analysis: joint per-token-loss PCA, phase windows, the before-and-after vector.

Rebuilt from the runs' stacked metrics after every analysis pass (cheap: no model runs except
the per-head ablations on the PCA tokens for the before-and-after table, done once per run that
has a phase window and kept while what they depend on is unchanged: `BEFORE_AFTER_VERSION`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from training.core.analysis import attribution, trajectory
from training.core.analysis.scores import INDUCTION_THRESHOLD
from training.core.artifacts import schema
from training.core.artifacts.records import MetricsIndex, PhaseWindow
from training.core.config import ConfigError
from training.pipeline import distributed
from training.pipeline.analyze import AnalysisConfig, analysis_config, analyze_run, run_inputs
from training.pipeline.analyze_llc import analyze_run_llc, llc_config, split_overrides
from training.pipeline.distributed import SINGLE, World

# Raised when `before_after_table` computes an entry differently: stored entries of another
# version are computed again (each entry records its inputs under "inputs")
BEFORE_AFTER_VERSION = 1


def analysed_runs(suite_path: Path) -> dict[str, MetricsIndex]:
    """The index of every run that has stacked metrics (live or full)."""
    out = {}
    for run in schema.list_runs(suite_path):
        try:
            out[run] = schema.read_metrics_index(suite_path / run)
        except schema.ArtifactError:
            continue
    return out


def phase_windows(suite_path: Path) -> dict[str, PhaseWindow]:
    return {run: trajectory.phase_window(index) for run, index in analysed_runs(suite_path).items()}


def joint_pca_table(suite_path: Path, n_components: int, phases: dict[str, PhaseWindow]) -> dict:
    """Joint PCA over the per-token-loss vectors of every fully analysed snapshot of every run."""
    runs, vectors = [], []
    for run, index in analysed_runs(suite_path).items():
        if "per_token_loss" not in index.arrays:
            continue
        full = [i for i, stage in enumerate(index.stages) if stage == "full"]
        vectors.append(schema.read_metric(suite_path / run, "per_token_loss", index)[full])
        runs.append((run, [index.steps[i] for i in full], [index.tokens_seen[i] for i in full]))
    if not runs:
        return {"runs": {}, "explained_variance": [], "components": 0, "n_tokens": 0, "note": "no run analysed yet"}
    stacked = torch.from_numpy(np.concatenate(vectors)).double()
    k = max(1, min(n_components, *stacked.shape))
    pca = trajectory.joint_pca(stacked, k)
    table, offset = {}, 0
    for (run, steps, tokens), vec in zip(runs, vectors):
        coords = pca.coords[offset : offset + len(vec)]
        offset += len(vec)
        phase = phases.get(run)
        table[run] = {
            "steps": steps,
            "tokens_seen": tokens,
            "coords": coords.tolist(),
            "phase": None if phase is None else schema.to_json(phase),
        }
    return {
        "components": k,
        "explained_variance": pca.explained_variance_ratio.tolist(),
        "n_tokens": int(stacked.shape[1]),
        "runs": table,
        "note": "PCA over the per-token held-out losses of every snapshot of every run, jointly "
        "(Olsson et al. 2022, Argument 1)",
    }


def before_after_table(
    suite_path: Path, phases: dict[str, PhaseWindow], cfg: AnalysisConfig, previous: dict | None = None
) -> dict:
    """Per run with a phase window: the before-and-after change (per-token losses from the
    snapshot at the window's start to the one at its end), and the per-token loss change of a
    pattern-preserving ablation at the window's end compared with it, for each head and for all
    the run's induction heads together: by projection (`ablation_projection`, the share of the
    change it undoes) and by cosine (`ablation_alignment`). Olsson et al. 2022, Argument 1.

    An entry of `previous` (the table as stored) is kept when its recorded inputs are the same:
    the two snapshots (by checksum), the analysis settings and `BEFORE_AFTER_VERSION` (the
    ablations take ~15 s a run on 2 cores, and the table is rebuilt after every run's analysis)."""
    out, previous = {}, previous if isinstance(previous, dict) else {}
    for run, phase in phases.items():
        if phase.start_step is None:
            continue
        run_path = suite_path / run
        index = schema.read_metrics_index(run_path)
        if not index.complete:
            continue
        manifest = schema.read_manifest(run_path)
        end = schema.find_snapshot(manifest, phase.end_step)
        inputs_key = {
            "version": BEFORE_AFTER_VERSION,
            "settings": cfg.settings_hash(),
            "snapshots": [schema.find_snapshot(manifest, phase.start_step).sha256, end.sha256],
        }
        kept = previous.get(run)
        if isinstance(kept, dict) and kept.get("inputs") == inputs_key:
            out[run] = kept
            continue
        steps = index.steps
        before, after = steps.index(phase.start_step), steps.index(phase.end_step)
        vectors = torch.from_numpy(schema.read_metric(run_path, "per_token_loss", index))
        change = vectors[after] - vectors[before]  # (token,)
        prefix = schema.read_metric(run_path, "prefix_matching", index)[after]  # (layer, head)
        induction = [tuple(int(v) for v in h) for h in np.argwhere(prefix > INDUCTION_THRESHOLD)]
        model = schema.load_models(run_path, manifest, end).hooked
        inputs = run_inputs(suite_path, manifest.model["n_ctx"], cfg)
        n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
        groups = [[(layer, head)] for layer in range(n_layers) for head in range(n_heads)]
        deltas = _pp_deltas(model, inputs.pca_tokens, groups + ([induction] if induction else []))
        per_head = deltas[: len(groups)].reshape(n_layers, n_heads, -1)
        out[run] = {
            "before_step": phase.start_step,
            "after_step": phase.end_step,
            "mode": "pattern_preserving",
            "loss_change": float(change.mean()),
            "projection": _plain(trajectory.ablation_projection(per_head, change)),  # [layer][head]
            "alignment": _plain(trajectory.ablation_alignment(per_head, change)),
            "induction_heads": [list(h) for h in induction],
            "induction_projection": float(trajectory.ablation_projection(deltas[-1], change)) if induction else None,
            "induction_alignment": float(trajectory.ablation_alignment(deltas[-1], change)) if induction else None,
            "note": "pattern-preserving ablation at after_step against the per-token loss change from before_step: "
            "projection = the share of the change the ablation undoes (1 = all of it), alignment = cosine with "
            "the reversed change (+1 = the same direction)",
            "inputs": inputs_key,
        }
    return out


def _pp_deltas(model, token_sets, groups: list[list[tuple[int, int]]]) -> torch.Tensor:
    """(group, token) per-token loss change of pattern-preserving ablation of each group of
    heads, on the per-token-loss tokens (`pca_tokens` chunks)."""
    chunks = []
    with torch.no_grad():
        for x, idx in token_sets:
            clean, patterns = attribution.clean_attention_patterns(model, x)
            rows = [
                attribution.ablate_heads_loss(model, x, heads, mode="pattern_preserving", clean_patterns=patterns)
                for heads in groups
            ]
            chunks.append(torch.stack([(r - clean).gather(1, idx).flatten() for r in rows]))
    return torch.cat(chunks, dim=1)


def _plain(grid: torch.Tensor) -> list:
    """A tensor as nested lists, NaN as None (JSON has no NaN)."""
    return [[None if v != v else float(v) for v in row] for row in grid.tolist()]


def analyze_suite_tables(suite_path: Path, cfg: AnalysisConfig) -> dict[str, PhaseWindow]:
    phases = phase_windows(suite_path)
    schema.write_phases(suite_path, phases)
    schema.write_analysis(suite_path, "pca", joint_pca_table(suite_path, cfg.pca_components, phases))
    try:
        previous = schema.read_analysis(suite_path, "before_after")
    except schema.ArtifactError:  # none yet, or unreadable: every entry is computed
        previous = {}
    schema.write_analysis(suite_path, "before_after", before_after_table(suite_path, phases, cfg, previous))
    return phases


def analyze_suite(
    suite_path: Path, overrides: list[str] = (), only: list[str] | None = None, log=print, world: World = SINGLE
) -> None:
    """Analyse the suite's runs (all, or `only` these), each with its LLC, then rebuild the suite's
    tables (phase windows, joint PCA, before-and-after). `overrides`: `analysis.*` and `llc.*`
    `key=value` strings; a run named in `only` or `llc.runs` must exist.

    In a torchrun launch (`world`), each rank measures its share of every run's snapshots
    (`analyze_run`'s `share`: every size-th, interleaved); when all are done, rank 0 stacks each
    run's metrics, estimates the LLC (one file per run: not shared out) and builds the suite
    tables once, while the other ranks wait."""
    runs = schema.list_runs(suite_path)
    unknown = sorted(set(only or []) - set(runs))
    if unknown:
        raise ConfigError(f"--runs: no run {unknown[0]!r} in {suite_path}; runs: {', '.join(runs)}")
    overrides, llc_overrides = split_overrides(overrides)
    configs = {run: analysis_config(schema.read_manifest(suite_path / run), overrides) for run in runs}
    llc_configs = {run: llc_config(schema.read_manifest(suite_path / run), llc_overrides) for run in runs}
    if runs and any(o.split("=", 1)[0].strip() == "llc.runs" for o in llc_overrides):  # a run named here must exist
        if unknown := sorted(set(llc_configs[runs[0]].runs) - set(runs)):
            raise ConfigError(f"llc.runs: no run {unknown[0]!r} in {suite_path}; runs: {', '.join(runs)}")
    t0 = time.perf_counter()
    chosen = [run for run in runs if not only or run in only]
    if world.parallel:
        for run in chosen:
            analyze_run(suite_path / run, configs[run], log=log, share=(world.rank, world.size))
        distributed.barrier(world)  # every rank's snapshots are measured
        if not world.is_main:
            distributed.barrier(world)  # rank 0 stacks, estimates the LLC and builds the tables
            return
    for run in chosen:
        analyze_run(suite_path / run, configs[run], log=log)  # in a launch: nothing left but stacking
        analyze_run_llc(suite_path / run, llc_configs[run], log=log)  # its own file, settings and hash
    try:
        finish_suite(suite_path, runs, configs, log, t0)
    finally:
        distributed.barrier(world)


def finish_suite(suite_path: Path, runs: list[str], configs: dict[str, AnalysisConfig], log, t0: float) -> None:
    """The suite tables from the runs' stacked metrics, and the phase windows in the log."""
    if not runs:
        log(f"{suite_path} has no runs yet")
        return
    phases = analyze_suite_tables(suite_path, configs[runs[0]])
    for run, phase in phases.items():
        log(f"{run}: {phase.reason}")
    log(f"analysis of {suite_path.name} took {time.perf_counter() - t0:.0f} s")
