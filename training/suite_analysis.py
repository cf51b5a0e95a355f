"""Suite-level analysis: joint per-token-loss PCA, phase windows, the before-and-after vector.

Rebuilt from the runs' stacked metrics after every analysis pass (cheap: no model runs except
the per-head ablations on the PCA tokens, done once per run that has a phase window).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training import schema
from training.analysis import attribution, loss, trajectory
from training.analyze import AnalysisConfig, run_inputs, snapshot_models
from training.records import MetricsIndex, PhaseWindow


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


def before_after_table(suite_path: Path, phases: dict[str, PhaseWindow], cfg: AnalysisConfig) -> dict:
    """Per run with a phase window: the before-and-after vector (per-token loss change from the
    snapshot at the window's start to the one at its end), and each head's mean-ablation
    per-token effect at the window's end compared with it (`ablation_alignment`)."""
    out = {}
    for run, phase in phases.items():
        if phase.start_step is None:
            continue
        run_path = suite_path / run
        index = schema.read_metrics_index(run_path)
        if not index.complete:
            continue
        steps = index.steps
        before, after = steps.index(phase.start_step), steps.index(phase.end_step)
        vectors = torch.from_numpy(schema.read_metric(run_path, "per_token_loss", index))
        ba = trajectory.before_after_vector(vectors[before], vectors[after])
        manifest = schema.read_manifest(run_path)
        model, _ = snapshot_models(run_path, manifest, schema.find_snapshot(manifest, phase.end_step))
        inputs = run_inputs(suite_path, manifest.model["n_ctx"], cfg)
        n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
        with torch.no_grad():
            clean = torch.cat([loss.per_token_loss(model, x).gather(1, idx).flatten() for x, idx in inputs.pca_tokens])
            deltas = torch.zeros(n_layers, n_heads, len(clean))
            for layer in range(n_layers):
                for head in range(n_heads):
                    ablated = torch.cat(
                        [
                            attribution.ablate_heads_loss(model, x, [(layer, head)], mode="mean")
                            .gather(1, idx)
                            .flatten()
                            for x, idx in inputs.pca_tokens
                        ]
                    )
                    deltas[layer, head] = ablated - clean
        out[run] = {
            "before_step": phase.start_step,
            "after_step": phase.end_step,
            "loss_change": float((vectors[after] - vectors[before]).mean()),
            "alignment": trajectory.ablation_alignment(deltas, ba).tolist(),  # [layer][head]
            "note": "cosine of each head's mean-ablation per-token loss change (at after_step) with the reversed "
            "before-and-after vector: +1 = removing the head undoes the phase change",
        }
    return out


def analyze_suite_tables(suite_path: Path, cfg: AnalysisConfig) -> dict[str, PhaseWindow]:
    phases = phase_windows(suite_path)
    adir = schema.analysis_dir(suite_path)
    schema.write_phases(suite_path, phases)
    schema.atomic_write_json(adir / "pca.json", joint_pca_table(suite_path, cfg.pca_components, phases))
    schema.atomic_write_json(adir / "before_after.json", before_after_table(suite_path, phases, cfg))
    return phases
