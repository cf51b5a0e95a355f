"""`python -m training analyze artifacts/<suite>`: the paper's measurements on every snapshot.

Incremental and resumable: each snapshot's metrics go to their own file
(`metrics/snapshots/step_*.safetensors`, written atomically), and a pass only computes the
snapshots that have none yet (or were measured with other settings), so an interrupted analysis
continues where it stopped and a run still training is picked up next time. Snapshots the
trainer already measured live (`training.pipeline.train.LiveMetrics`, stage "live") keep those values
and get the rest of the registry's metrics (stage "full"). After each pass the
per-snapshot files are stacked into one `.npy` per metric plus `metrics/index.json` (written
last), and the suite-level tables (joint PCA, phase windows, before-and-after vector) are rebuilt.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from training.core.analysis import circuits, loss, registry, scores, shortcuts, trajectory
from training.core.analysis.registry import Probe, ProbeInputs
from training.core.artifacts import schema
from training.core.artifacts.records import ArrayInfo, Manifest, MetricsIndex
from training.core.tokenizer import BOS_ID
from training.pipeline import data
from training.pipeline.config import AnalysisConfig, override

# Contexts per forward pass for the PCA losses. Each row's loss is independent of the others, so
# this changes only speed: 32 x 256 tokens of 1024-way logits stay near glibc's heap limit
# (`training.core.allocator`), and measured 40% faster than 256-context chunks on our CPU.
PCA_CHUNK = 32


def pca_token_set(
    heldout: np.ndarray, n_ctx: int, n_tokens: int, seed: int, per_context: int = 1, filler: int = BOS_ID
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed held-out tokens whose losses form the per-token-loss vectors.

    As in the paper's per-token-loss analysis, with `per_context` = 1 each token comes from a
    different context, and a context is cut right after its scored token so only the prefix the
    prediction uses is run. With `per_context` = k > 1 (our deviation, to fit the analysis into
    a quarter of the training time on a CPU), k distinct indices are scored in each full context.
    Returns (tokens (batch, len), indices (batch, k)) chunks: the losses are
    `next_token_loss(model(tokens), tokens)` gathered at `indices`, in a fixed order.
    """
    rng = np.random.default_rng(seed)
    n_contexts = -(-n_tokens // per_context)
    starts = rng.integers(0, len(heldout) - n_ctx, size=n_contexts)
    if per_context > 1:
        idx = np.stack([np.sort(rng.choice(n_ctx - 1, size=per_context, replace=False)) for _ in starts])
        x = np.stack([heldout[s : s + n_ctx] for s in starts]).astype(np.int64)
        return [
            (torch.from_numpy(x[i : i + PCA_CHUNK]), torch.from_numpy(idx[i : i + PCA_CHUNK]))
            for i in range(0, n_contexts, PCA_CHUNK)
        ]
    lengths = rng.integers(2, n_ctx + 1, size=n_contexts)  # tokens in the context, >= 2 to predict one
    order = np.argsort(lengths, kind="stable")
    chunks = []
    for rows in np.array_split(order, 8):
        if len(rows) == 0:
            continue
        length = int(lengths[rows].max())
        # Each context starts at position 0 and is scored at its own last prediction (index
        # n - 2); the filler after it cannot change that prediction (causal attention). Padding
        # in front, as before, shifted every position and put up to ~31 BOS tokens in the
        # prefix the prediction reads (issue 12).
        x = np.stack(
            [
                np.concatenate([heldout[s : s + n], np.full(length - n, filler)])
                for s, n in zip(starts[rows], lengths[rows])
            ]
        )
        chunks.append((torch.from_numpy(x.astype(np.int64)), torch.from_numpy(lengths[rows, None] - 2)))
    return chunks


def start_token(suite_path: Path) -> int:
    """The token that opens every prefix-matching sequence of the suite (`schema.special_tokens`):
    our BOS, an imported model's own, or for a model without one a common token of its text."""
    return schema.special_tokens(suite_path)[1]


def run_inputs(suite_path: Path, n_ctx: int, cfg: AnalysisConfig) -> ProbeInputs:
    """The token sets every snapshot of a run with context `n_ctx` is measured on."""
    heldout = data.load_split(suite_path, "heldout")
    start = start_token(suite_path)
    counts = schema.read_npy(schema.data_path(suite_path, schema.TOKEN_COUNTS))
    default_late, default_early = loss.default_icl_indices(n_ctx)
    n_random = min(cfg.prefix_random, (n_ctx - 1) // cfg.prefix_repeats)
    return ProbeInputs(
        eval_tokens=data.eval_batch(heldout, n_sequences=cfg.eval_sequences, n_ctx=n_ctx, seed=cfg.eval_seed),
        prefix_tokens=scores.prefix_matching_sequences(
            counts,
            n_sequences=cfg.prefix_sequences,
            n_random=n_random,
            n_repeats=cfg.prefix_repeats,
            exclude_fraction=cfg.prefix_exclude,
            bos_token=start,
            seed=cfg.prefix_seed,
        ),
        icl_late=cfg.icl_late if cfg.icl_late is not None else default_late,
        icl_early=cfg.icl_early if cfg.icl_early is not None else default_early,
        icl_width=cfg.icl_width if cfg.icl_width is not None else n_ctx // 64,
        prefix_random=n_random,
        prefix_repeats=cfg.prefix_repeats,
        composition_baseline_samples=cfg.composition_baseline_samples,
        copying_tokens=circuits.copying_sample(len(counts), cfg.copying_tokens, cfg.copying_seed, exclude=(start,)),
        pca_tokens=tuple(
            pca_token_set(heldout, n_ctx, cfg.pca_tokens, cfg.pca_seed, cfg.pca_tokens_per_context, start)
        ),
        icl_tokens=data.eval_batch(heldout, n_sequences=cfg.icl_sequences, n_ctx=n_ctx, seed=cfg.icl_seed),
        # The positional-shortcut controls: periods and offsets are module constants scaled to
        # n_ctx, not settings (a new setting would change the hash and re-measure every suite)
        period_tokens=shortcuts.period_sweep(
            counts,
            n_ctx,
            n_sequences=shortcuts.PERIOD_SEQUENCES,
            max_copies=cfg.prefix_repeats,
            exclude_fraction=cfg.prefix_exclude,
            bos_token=start,
            seed=cfg.prefix_seed,
        ),
        attention_offsets=shortcuts.sweep_offsets(n_ctx),
    )


def resolved_settings(cfg: AnalysisConfig, inputs: ProbeInputs) -> dict:
    """The analysis settings with every default resolved, as stored in the index and inputs."""
    return {
        **dataclasses.asdict(cfg),
        "icl_late": inputs.icl_late,
        "icl_early": inputs.icl_early,
        "icl_width": inputs.icl_width,
        "prefix_random": inputs.prefix_random,
        "hash": cfg.settings_hash(),
    }


def store_inputs(run_path: Path, cfg: AnalysisConfig, inputs: ProbeInputs) -> None:
    """Write the run's evaluation contexts and prefix-matching sequences (what the service
    reuses) unless the stored ones were built with the same settings."""
    try:
        if schema.read_analysis_inputs(run_path)[1].get("hash") == cfg.settings_hash():
            return
    except schema.ArtifactError:
        pass
    tensors = {"eval_tokens": inputs.eval_tokens, "prefix_tokens": inputs.prefix_tokens}
    schema.write_analysis_inputs(run_path, tensors, resolved_settings(cfg, inputs))


def analysis_config(manifest: Manifest, overrides: list[str] = ()) -> AnalysisConfig:
    """The run's analysis settings (recorded from its preset at training time), overridden by
    `analysis.key=value` strings."""
    return override({"analysis": AnalysisConfig(**manifest.analysis)}, list(overrides))["analysis"]


def ablation_window(run_path: Path, manifest: Manifest) -> tuple[int, int] | None:
    """The steps of the run's phase window, for the denser ablations inside it: where the plateau
    rule found it when training stopped (`Manifest.phase_end`), else on the stored (live) curves;
    None when there is none."""
    end = manifest.phase_end
    if end is not None and end.start_step is not None and end.end_step is not None:
        return end.start_step, end.end_step
    try:
        index = schema.read_metrics_index(run_path)
    except schema.ArtifactError:
        return None
    if len(index.steps) < 3 or "max_prefix_matching" not in index.scalars:
        return None
    window = trajectory.phase_window(index)
    return None if window.start_step is None else (window.start_step, window.end_step)


def ablates(cfg: AnalysisConfig, i: int, step: int, window: tuple[int, int] | None, *, last: bool) -> bool:
    """Whether snapshot `i` (at `step`) gets the ablations: every `ablation_every`-th, every
    `ablation_every_in_window`-th inside the phase window, and the last of a complete run."""
    if not cfg.ablations:
        return False
    every = cfg.ablation_every
    if window is not None and window[0] <= step <= window[1] and cfg.ablation_every_in_window is not None:
        every = cfg.ablation_every_in_window
    return last or i % every == 0


def analyze_run(run_path: Path, cfg: AnalysisConfig, log=print, share: tuple[int, int] = (0, 1)) -> MetricsIndex | None:
    """Measure every not-yet-measured snapshot of one run, then restack its metrics.

    A snapshot the trainer measured live keeps its live values and gets the rest. With `share`
    (k, n), n > 1, this process measures only the k-th of every n snapshots still to do (one
    rank of a torchrun launch: `analyze_suite`) and does not stack: rank 0 stacks once every
    rank is done."""
    manifest = schema.read_manifest(run_path)
    snaps = manifest.snapshots
    if not snaps:
        return None
    inputs = run_inputs(run_path.parent, manifest.model["n_ctx"], cfg)
    rank, size = share
    if rank == 0:  # one writer of the run's inputs (every rank builds the same ones)
        store_inputs(run_path, cfg, inputs)
    settings_hash = cfg.settings_hash()
    coords = registry.coordinates(inputs)
    stored = [
        schema.stored_metrics(schema.metrics_snapshot_path(run_path, e.step), settings_hash, coords) for e in snaps
    ]
    # To do: snapshots never measured, measured live only, or missing a metric the registry has
    # gained since (only what is missing is measured).
    wanted = {m.name for m in registry.METRICS}
    todo = [(i, e) for i, (e, (stage, names)) in enumerate(zip(snaps, stored)) if stage != "full" or wanted - names]
    todo = todo[rank::size]  # interleaved: every rank gets early (cheap) and late snapshots alike
    t0 = time.perf_counter()
    final = manifest.status == "complete"
    window = ablation_window(run_path, manifest)
    with torch.no_grad():
        for n, (i, entry) in enumerate(todo):
            ablate = ablates(cfg, i, entry.step, window, last=final and i == len(snaps) - 1)
            path = schema.metrics_snapshot_path(run_path, entry.step)
            kept = schema.read_snapshot_metrics(path, settings_hash, coords)[1]  # not stale, not damaged
            # the Probe builds the HookedTransformer only if a metric needs it
            probe = Probe(schema.load_models(run_path, manifest, entry, hooked=False).fast, inputs)
            probe.reuse(kept)  # the trainer's live ICL contexts are the wide score's first ones
            measured = registry.measure(probe, ["live", "analysis", "ablation"], ablate=ablate, skip=kept)
            schema.write_snapshot_metrics(run_path, entry.step, {**kept, **measured}, settings_hash, "full", coords)
            elapsed = time.perf_counter() - t0
            if n == 0 and len(todo) > 2:  # the cost per snapshot, before a long analysis goes on
                log(
                    f"{run_path.name}: {elapsed:.1f} s a snapshot; about {elapsed * (len(todo) - 1):.0f} s for the rest"
                )
            elif n % 10 == 9 or n == len(todo) - 1:
                log(f"{run_path.name}: analysed {n + 1}/{len(todo)} snapshots ({elapsed:.0f} s)")
    if size > 1:
        return None
    return stack_run_metrics(run_path, manifest, cfg, inputs)


def stack_run_metrics(run_path: Path, manifest: Manifest, cfg: AnalysisConfig, inputs: ProbeInputs) -> MetricsIndex:
    """Stack the per-snapshot metric files into one .npy per metric; write the index last.

    Snapshots measured only live hold NaN in the other metrics' arrays (`stages` says which)."""
    settings_hash, coords = cfg.settings_hash(), registry.coordinates(inputs)
    entries, per_snap, stages = [], [], []
    for e in manifest.snapshots:
        stage, metrics = schema.read_snapshot_metrics(
            schema.metrics_snapshot_path(run_path, e.step), settings_hash, coords
        )
        if stage is None:
            continue
        entries.append(e)
        per_snap.append(metrics)
        stages.append(stage)
    arrays = {}
    for metric in registry.METRICS:
        present = [m[metric.name] for m in per_snap if metric.name in m]
        if not present:
            continue
        blank = torch.full_like(present[0], float("nan"))
        stacked = np.stack([m.get(metric.name, blank).numpy() for m in per_snap])
        file = schema.write_metric_array(run_path, metric.name, stacked)
        axes = ["snapshot", *metric.axes]
        arrays[metric.name] = ArrayInfo(file, list(stacked.shape), axes, coords.get(metric.name, {}))
    scalars = {
        "icl_score": [float(m["icl_score"]) for m in per_snap],
        "icl_wide": [float(m["icl_wide"]) if "icl_wide" in m else None for m in per_snap],
        "icl_live": [float(m["icl_live"]) if "icl_live" in m else None for m in per_snap],
        "eval_loss": [float(m["eval_loss"]) for m in per_snap],
        "heldout_loss": [e.heldout_loss for e in entries],
        "train_loss": [e.train_loss for e in entries],
    }
    if per_snap:
        best, heads = registry.best_heads(np.stack([m["prefix_matching"].numpy() for m in per_snap]))
        scalars |= {"max_prefix_matching": best, "max_prefix_head": heads}
    index = MetricsIndex(
        run=run_path.name,
        steps=[e.step for e in entries],
        tokens_seen=[e.tokens_seen for e in entries],
        stages=stages,
        settings=resolved_settings(cfg, inputs),
        arrays=arrays,
        scalars=scalars,
    )
    schema.write_metrics_index(run_path, index)
    return index
