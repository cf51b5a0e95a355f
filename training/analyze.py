"""`python -m training analyze artifacts/<suite>`: the paper's measurements on every snapshot.

Incremental and resumable: each snapshot's metrics go to their own file
(`metrics/snapshots/step_*.safetensors`, written atomically), and a pass only computes the
snapshots that have none yet (or were measured with other settings), so an interrupted analysis
continues where it stopped and a run still training is picked up next time. After each pass the
per-snapshot files are stacked into one `.npy` per metric plus `metrics/index.json` (written
last), and the suite-level tables (joint PCA, phase windows, before-and-after vector) are rebuilt.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training import data, schema
from training.analysis import attribution, circuits, loss, scores, trajectory
from training.config import AnalysisConfig, override
from training.hooked import hooked_from_state, model_config_from_manifest
from training.model import Transformer, next_token_loss
from training.tokenizer import BOS_ID


@dataclass(frozen=True)
class RunInputs:
    """The fixed token sets a run is measured on (the same for every snapshot)."""

    eval_tokens: torch.Tensor  # (eval_sequences, n_ctx)
    prefix_tokens: torch.Tensor  # (prefix_sequences, 1 + random * repeats)
    pca_tokens: list[tuple[torch.Tensor, torch.Tensor]]  # (contexts, scored indices), see pca_token_set
    icl_late: int
    icl_early: int
    prefix_random: int  # cfg.prefix_random, shortened when 1 + random * repeats exceeds n_ctx
    icl_width: int


# Contexts per forward pass for the PCA losses. Each row's loss is independent of the others, so
# this changes only speed: 32 x 256 tokens of 1024-way logits stay near glibc's heap limit
# (`training.allocator`), and measured 40% faster than 256-context chunks on our CPU.
PCA_CHUNK = 32


def pca_token_set(heldout: np.ndarray, n_ctx: int, n_tokens: int, seed: int, per_context: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
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
        return [(torch.from_numpy(x[i : i + PCA_CHUNK]), torch.from_numpy(idx[i : i + PCA_CHUNK])) for i in range(0, n_contexts, PCA_CHUNK)]
    lengths = rng.integers(2, n_ctx + 1, size=n_contexts)  # tokens in the context, >= 2 to predict one
    order = np.argsort(lengths, kind="stable")
    chunks = []
    for rows in np.array_split(order, 8):
        if len(rows) == 0:
            continue
        length = int(lengths[rows].max())
        # Shorter contexts are right-aligned so that every row is scored at its last prediction.
        x = np.stack([np.concatenate([np.full(length - n, BOS_ID), heldout[s : s + n]]) for s, n in zip(starts[rows], lengths[rows])])
        chunks.append((torch.from_numpy(x.astype(np.int64)), torch.full((len(rows), 1), length - 2)))
    return chunks


def pca_losses(loss_fn, chunks: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Per-token losses (from `loss_fn(tokens) -> (batch, pos-1)`) at the PCA tokens, flattened."""
    with torch.no_grad():
        return torch.cat([loss_fn(x).gather(1, idx).flatten() for x, idx in chunks])


def run_inputs(suite_path: Path, n_ctx: int, cfg: AnalysisConfig) -> RunInputs:
    heldout = data.load_split(suite_path, "heldout")
    counts = schema.read_npy(schema.data_dir(suite_path) / "token_counts.npy")
    default_late, default_early = loss.default_icl_indices(n_ctx)
    n_random = min(cfg.prefix_random, (n_ctx - 1) // cfg.prefix_repeats)
    return RunInputs(
        eval_tokens=data.eval_batch(heldout, n_sequences=cfg.eval_sequences, n_ctx=n_ctx, seed=cfg.eval_seed),
        prefix_tokens=scores.prefix_matching_sequences(
            counts, n_sequences=cfg.prefix_sequences, n_random=n_random, n_repeats=cfg.prefix_repeats,
            exclude_fraction=cfg.prefix_exclude, bos_token=BOS_ID, seed=cfg.prefix_seed,
        ),
        pca_tokens=pca_token_set(heldout, n_ctx, cfg.pca_tokens, cfg.pca_seed, cfg.pca_tokens_per_context),
        icl_late=cfg.icl_late if cfg.icl_late is not None else default_late,
        icl_early=cfg.icl_early if cfg.icl_early is not None else default_early,
        prefix_random=n_random,
        icl_width=cfg.icl_width if cfg.icl_width is not None else n_ctx // 64,
    )


def analyze_snapshot(model, fast: Transformer, inputs: RunInputs, cfg: AnalysisConfig, *, ablate: bool) -> dict[str, torch.Tensor]:
    """Every per-snapshot measurement, as float32 tensors (`[layer head]` unless noted).

    `model` is the snapshot as a HookedTransformer, for everything that reads activations;
    `fast` is the same weights in the training model, used where only losses are needed (its
    logits equal the HookedTransformer's to 1e-4, and it runs ~2-3x faster on CPU).
    """
    with torch.no_grad():
        per_token = next_token_loss(fast(inputs.eval_tokens), inputs.eval_tokens)
    text_scores = scores.head_scores_on_text(model, inputs.eval_tokens)
    comp = circuits.composition_scores(model, baseline_samples=cfg.composition_baseline_samples)
    out = {
        "loss_by_position": loss.loss_by_position(per_token),  # (n_ctx - 1,)
        "icl_score": torch.tensor(loss.icl_score(per_token, late=inputs.icl_late, early=inputs.icl_early, width=inputs.icl_width)),
        "eval_loss": per_token.mean(),
        "prefix_matching": scores.prefix_matching_scores(model, inputs.prefix_tokens, n_random=inputs.prefix_random, n_repeats=cfg.prefix_repeats),
        "previous_token": text_scores["previous_token"],
        "duplicate_token": text_scores["duplicate_token"],
        "copying": circuits.copying_score(model),
        "eigenvalue_positivity": circuits.ov_eigenvalue_positivity(model),
        "logit_attribution": attribution.direct_logit_attribution(model, inputs.eval_tokens),
        "composition_q": comp["q"],  # (layer_from, head_from, layer_to, head_to)
        "composition_k": comp["k"],
        "composition_v": comp["v"],
        "per_token_loss": pca_losses(lambda x: next_token_loss(fast(x), x), inputs.pca_tokens),  # (pca_tokens,)
    }
    shape = out["prefix_matching"].shape
    for mode, tag in (("mean", "mean"), ("pattern_preserving", "pp")):
        if ablate:
            effects = attribution.head_ablation_effects(model, inputs.eval_tokens, mode=mode, icl_late=inputs.icl_late, icl_early=inputs.icl_early, icl_width=inputs.icl_width)
            out[f"ablation_{tag}_delta_loss"], out[f"ablation_{tag}_delta_icl"] = effects["delta_loss"], effects["delta_icl"]
        else:  # not measured at this snapshot (see AnalysisConfig.ablation_every)
            out[f"ablation_{tag}_delta_loss"] = torch.full(shape, float("nan"))
            out[f"ablation_{tag}_delta_icl"] = torch.full(shape, float("nan"))
    return {k: v.detach().float().cpu() for k, v in out.items()}


AXES = {
    "loss_by_position": ["snapshot", "context_index"],
    "per_token_loss": ["snapshot", "token"],
    "icl_score": ["snapshot"],
    "eval_loss": ["snapshot"],
    "composition_q": ["snapshot", "layer_from", "head_from", "layer_to", "head_to"],
    "composition_k": ["snapshot", "layer_from", "head_from", "layer_to", "head_to"],
    "composition_v": ["snapshot", "layer_from", "head_from", "layer_to", "head_to"],
}


def snapshot_model(run_path: Path, manifest: dict, entry: dict):
    return hooked_from_state(model_config_from_manifest(manifest), schema.read_snapshot(run_path, entry))


def snapshot_models(run_path: Path, manifest: dict, entry: dict) -> tuple:
    """(HookedTransformer, training-model Transformer) with the snapshot's weights."""
    cfg = model_config_from_manifest(manifest)
    state = schema.read_snapshot(run_path, entry)
    fast = Transformer(cfg)
    fast.load_state_dict(state)
    return hooked_from_state(cfg, state), fast.eval()


def analysis_config(manifest: dict, overrides: list[str] = ()) -> AnalysisConfig:
    """The run's analysis settings (recorded from its preset at training time), overridden by
    `analysis.key=value` strings."""
    return override({"analysis": AnalysisConfig(**manifest.get("analysis", {}))}, list(overrides))["analysis"]


def analyze_run(run_path: Path, cfg: AnalysisConfig, log=print) -> dict:
    """Measure every not-yet-measured snapshot of one run, then restack its metrics."""
    from safetensors import safe_open

    manifest = schema.read_manifest(run_path)
    snaps = manifest["snapshots"]
    if not snaps:
        return {}
    n_ctx = manifest["model"]["n_ctx"]
    inputs = run_inputs(run_path.parent, n_ctx, cfg)
    settings_hash = cfg.settings_hash()
    todo = []
    for i, entry in enumerate(snaps):
        path = schema.metrics_snapshot_path(run_path, entry["step"])
        if path.exists():
            try:
                with safe_open(str(path), framework="pt") as f:
                    if f.metadata().get("settings") == settings_hash:
                        continue
            except Exception:  # a corrupt metrics file is simply measured again
                pass
        todo.append((i, entry))
    t0 = time.perf_counter()
    final = manifest.get("status") == "complete"
    torch.set_grad_enabled(False)
    for n, (i, entry) in enumerate(todo):
        ablate = cfg.ablations and (i % cfg.ablation_every == 0 or (final and i == len(snaps) - 1))
        metrics = analyze_snapshot(*snapshot_models(run_path, manifest, entry), inputs, cfg, ablate=ablate)
        schema.atomic_write_safetensors(schema.metrics_snapshot_path(run_path, entry["step"]), metrics, {"settings": settings_hash, "step": str(entry["step"])})
        if n % 10 == 9 or n == len(todo) - 1:
            log(f"{run_path.name}: analysed {n + 1}/{len(todo)} snapshots ({time.perf_counter() - t0:.0f} s)")
    torch.set_grad_enabled(True)
    return stack_run_metrics(run_path, manifest, cfg, inputs)


def stack_run_metrics(run_path: Path, manifest: dict, cfg: AnalysisConfig, inputs: RunInputs) -> dict:
    """Stack the per-snapshot metric files into one .npy per metric; write the index last."""
    from safetensors.torch import load_file

    entries = [e for e in manifest["snapshots"] if schema.metrics_snapshot_path(run_path, e["step"]).exists()]
    per_snap = [load_file(str(schema.metrics_snapshot_path(run_path, e["step"]))) for e in entries]
    mdir = schema.metrics_dir(run_path)
    arrays = {}
    for name in per_snap[0]:
        stacked = np.stack([m[name].numpy() for m in per_snap])
        schema.atomic_write_npy(mdir / f"{name}.npy", stacked)
        arrays[name] = {"file": f"{name}.npy", "shape": list(stacked.shape), "axes": AXES.get(name, ["snapshot", "layer", "head"])}
    prefix = np.stack([m["prefix_matching"].numpy() for m in per_snap])
    flat = prefix.reshape(len(per_snap), -1).argmax(1)
    n_heads = prefix.shape[2]
    index = {
        "run": run_path.name,
        "steps": [e["step"] for e in entries],
        "tokens_seen": [e["tokens_seen"] for e in entries],
        "settings": {**dataclasses.asdict(cfg), "icl_late": inputs.icl_late, "icl_early": inputs.icl_early, "icl_width": inputs.icl_width, "prefix_random": inputs.prefix_random, "hash": cfg.settings_hash()},
        "icl_sign": "ICL score = loss at context index icl_late minus loss at icl_early, each averaged over +-icl_width indices (Olsson et al. 2022); negative means later tokens are predicted better, i.e. the model learns in context",
        "arrays": arrays,
        "scalars": {
            "icl_score": [float(m["icl_score"]) for m in per_snap],
            "eval_loss": [float(m["eval_loss"]) for m in per_snap],
            "heldout_loss": [e["heldout_loss"] for e in entries],
            "train_loss": [e["train_loss"] for e in entries],
            "max_prefix_matching": [float(p.max()) for p in prefix],
            "max_prefix_head": [[int(f // n_heads), int(f % n_heads)] for f in flat],
        },
    }
    schema.atomic_write_json(mdir / schema.METRICS_INDEX, index)
    return index
