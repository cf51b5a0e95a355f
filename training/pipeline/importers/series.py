"""`python -m training import SOURCE --suite NAME`: a checkpoint series as a suite run.

Writes the run in the normal artifact layout (manifest with steps and tokens seen, one
safetensors snapshot per checkpoint holding the converted HookedTransformer weights, the
training loss where the source recorded one) plus, for a new suite, the model's tokenizer and
probe text (`probe_text`); the analysis then measures it like any other run.

Nothing is half-written: everything is checked that can be without reading weights (layout,
architecture, tokenizer, probe text) before anything is written; the run is then built in a
hidden staging folder (`<suite>/.import-<run>`, and a new suite in `<out>/.import-<suite>`)
and moved into place only when every checkpoint has converted. A checkpoint that fails
(corrupt, truncated, pickled code, another architecture) stops the import, names the file and
removes the staging folder. One checkpoint is in memory at a time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from transformer_lens import HookedTransformerConfig

from training.core.adapters.hooked import AdapterError, config_fields, stored_config
from training.core.artifacts import schema
from training.core.artifacts.records import Manifest, SnapshotEntry
from training.core.checkpoints import CheckpointError
from training.core.config import ConfigError
from training.pipeline.config import AnalysisConfig, override
from training.pipeline.importers import probe_text
from training.pipeline.importers.sources import Series, SourceError, detect

# Above this many parameters (TransformerLens' count of the blocks, plus the unembedding) the
# analysis defaults shrink: pythia-14m has 1.2 + 6.4 M, pythia-70m 19 + 26 M.
LARGE_PARAMS = 5_000_000
DEFAULT_PROBE_CTX = 512  # the context the probes use (at most the model's)


class ImportError_(ValueError):  # noqa: N801 (ImportError is a builtin)
    """An import that cannot go ahead; the message names the path or field and what to do."""


@dataclass(frozen=True)
class ImportSpec:
    source: Path
    out: Path
    suite: str
    run: str
    every: int = 1
    text: str | None = None  # probe text (None: the built-in corpus)
    tokenizer: Path | None = None
    probe_ctx: int = DEFAULT_PROBE_CTX
    tokens_per_step: int | None = None  # where the source records no tokens seen
    overrides: tuple[str, ...] = ()  # analysis.KEY=VALUE


LOGITS_BUDGET = 256 * 2**20  # bytes of fp32 logits one probe batch may hold


def analysis_for(cfg: HookedTransformerConfig, probe_ctx: int, overrides: tuple[str, ...] = ()) -> AnalysisConfig:
    """Analysis settings that scale, unless overridden: the defaults for a small model; above
    `LARGE_PARAMS` fewer probe contexts and no ablations (two forward passes per head each).
    With a large vocabulary the batches whose full logits are kept (the evaluation contexts,
    the per-token-loss contexts) shrink to `LOGITS_BUDGET`: pythia's 50 k tokens x 512
    positions are 100 MB of logits a context."""
    base = AnalysisConfig()
    per_context = probe_ctx * cfg.d_vocab * 4
    fits = max(2, LOGITS_BUDGET // per_context)
    if fits < base.eval_sequences:
        per_pca_context = min(64, probe_ctx - 1)
        base = dataclasses.replace(
            base,
            eval_sequences=fits,
            pca_tokens=max(8, fits * per_pca_context),
            pca_tokens_per_context=per_pca_context,
        )
    # A forward pass costs the blocks and the unembedding: with a 50 k vocabulary the latter is
    # most of it (pythia-14m: 1.2 M block parameters, 6.4 M in its unembedding)
    if cfg.n_params + cfg.d_model * cfg.d_vocab > LARGE_PARAMS:
        base = dataclasses.replace(
            base,
            icl_sequences=64,
            pca_tokens=min(base.pca_tokens, 500),
            ablations=False,
            composition_baseline_samples=20,
        )
    return override({"analysis": base}, list(overrides))["analysis"]


def selected(series: Series, every: int) -> list:
    """Every `every`-th checkpoint in step order, and always the last."""
    if every < 1:
        raise ConfigError("--every: must be a positive integer")
    picked = series.checkpoints[::every]
    return picked if picked[-1] == series.checkpoints[-1] else [*picked, series.checkpoints[-1]]


def tokens_per_step(series: Series, spec: ImportSpec) -> int:
    if spec.tokens_per_step is not None:
        return spec.tokens_per_step
    known = [c for c in series.checkpoints if c.tokens_seen and c.step]
    return round(known[-1].tokens_seen / known[-1].step) if known else 0


def loss_curve(series: Series, last_step: int) -> np.ndarray:
    """The Trainer's logged training loss per step (index i: step i + 1; NaN where not logged)."""
    curve = np.full(last_step, np.nan, dtype=np.float32)
    for entry in series.log_history:
        step, value = entry.get("step"), entry.get("loss")
        if isinstance(step, int) and isinstance(value, int | float) and 1 <= step <= last_step:
            curve[step - 1] = value
    return curve


def _mean_loss_before(curve: np.ndarray, step: int) -> float | None:
    recent = curve[max(0, step - 20) : step]
    recent = recent[~np.isnan(recent)]
    return float(recent.mean()) if len(recent) else None


def import_series(spec: ImportSpec, log=print) -> Path:
    """Convert the series into `<out>/<suite>/<run>`; returns the run folder (not yet analysed)."""
    suite_path = schema.suite_dir(spec.out, spec.suite)
    schema.check_name("run", spec.run)
    if (suite_path / spec.run).exists():
        raise ImportError_(f"{suite_path / spec.run} exists already; choose another --run or delete it")
    if suite_path.exists() and not schema.tokenizer_path(suite_path).exists() and any(suite_path.iterdir()):
        raise ImportError_(f"{suite_path} exists and is not a suite; choose another --suite")
    # Everything that can be checked without the weights, before anything is written.
    series = detect(spec.source)
    cfg = series.hooked_config()
    checkpoints = selected(series, spec.every)
    tok = probe_text.find_tokenizer(series.tokenizer_dirs, spec.tokenizer)
    if len(tok) > cfg.d_vocab:
        raise ImportError_(f"the tokenizer has {len(tok)} tokens, the model's vocabulary only {cfg.d_vocab}")
    new_suite = not schema.tokenizer_path(suite_path).exists()
    if not new_suite and json.loads(schema.tokenizer_path(suite_path).read_text()) != json.loads(
        tok.backend_tokenizer.to_str()
    ):
        raise ImportError_(f"suite {suite_path} has another tokenizer; import this model into a new --suite")
    if new_suite:
        stream, info = probe_text.encode_probe_text(tok, spec.text)
    probe_ctx = min(spec.probe_ctx, cfg.n_ctx)
    analysis = analysis_for(cfg, probe_ctx, spec.overrides)
    log(
        f"{series.kind} series at {series.root}: {len(series.checkpoints)} checkpoints, importing {len(checkpoints)}; "
        f"{cfg.original_architecture} {cfg.n_layers} layers x {cfg.n_heads} heads, {cfg.n_params / 1e6:.1f} M parameters"
        f" (without embeddings); probes of {probe_ctx} tokens; ablations {'on' if analysis.ablations else 'off'}"
    )

    stage_suite = schema.suite_dir(spec.out, spec.suite).parent / f".import-{spec.suite}" if new_suite else suite_path
    stage_run = stage_suite / f".import-{spec.run}"
    shutil.rmtree(stage_run, ignore_errors=True)  # left by an import that was killed
    try:
        if new_suite:
            shutil.rmtree(stage_suite, ignore_errors=True)
            probe_text.write_probe_data(stage_suite, tok, stream, info, probe_ctx)
        manifest = _convert_all(series, checkpoints, cfg, spec, stage_run, analysis, probe_ctx, log)
        final_run = stage_suite / spec.run
        os.replace(stage_run, final_run)
        if new_suite:
            if suite_path.exists():  # an empty folder (checked above)
                suite_path.rmdir()
            os.replace(stage_suite, suite_path)
    except (CheckpointError, AdapterError, SourceError, schema.ArtifactError) as e:
        shutil.rmtree(stage_run, ignore_errors=True)
        if new_suite:
            shutil.rmtree(stage_suite, ignore_errors=True)
        raise ImportError_(f"{e}; nothing was written to {spec.out}") from None
    except BaseException:
        shutil.rmtree(stage_run, ignore_errors=True)
        if new_suite:
            shutil.rmtree(stage_suite, ignore_errors=True)
        raise
    log(f"imported {len(manifest.snapshots)} snapshots into {suite_path / spec.run}")
    return suite_path / spec.run


def _convert_all(
    series: Series,
    checkpoints: list,
    cfg: HookedTransformerConfig,
    spec: ImportSpec,
    run_path: Path,
    analysis: AnalysisConfig,
    probe_ctx: int,
    log,
) -> Manifest:
    expected = config_fields(cfg)
    per_step = tokens_per_step(series, spec)
    curve = loss_curve(series, checkpoints[-1].step) if series.log_history else None
    manifest = Manifest(
        suite=spec.suite,
        run=spec.run,
        status="complete",
        model=stored_config(cfg, probe_ctx=probe_ctx),
        train={"source": str(series.root), "source_kind": series.kind, "config": str(series.config_path)},
        analysis=dataclasses.asdict(analysis),
        tokens_per_step=per_step,
        snapshots=[],
        description=f"imported {series.kind} series from {series.root}",
        preset="import",
        data={"probe_text": spec.text or "stdlib"},
        snapshot_steps=[c.step for c in checkpoints],
    )
    entries, t0 = [], time.perf_counter()
    for n, checkpoint in enumerate(checkpoints):
        got, state = series.load(checkpoint)  # one checkpoint in memory at a time
        fields = config_fields(got)
        if fields != expected:
            field = next(k for k in expected if fields[k] != expected[k])
            raise AdapterError(
                f"{checkpoint.path}: field {field!r} is {fields[field]!r}, the series' first checkpoint has "
                f"{expected[field]!r}; a series must keep one architecture"
            )
        sha = schema.atomic_write_safetensors(
            schema.snapshot_path(run_path, checkpoint.step), state, {"step": str(checkpoint.step)}
        )
        del state
        entries.append(
            SnapshotEntry(
                step=checkpoint.step,
                tokens_seen=checkpoint.tokens_seen
                if checkpoint.tokens_seen is not None
                else checkpoint.step * per_step,
                train_loss=_mean_loss_before(curve, checkpoint.step) if curve is not None else None,
                heldout_loss=None,  # the analysis measures it on the probe text (eval_loss)
                wall_time_s=0.0,
                file=schema.snapshot_name(checkpoint.step),
                sha256=sha,
            )
        )
        if n == 0 and len(checkpoints) > 1:
            each = time.perf_counter() - t0
            log(
                f"converting: {each:.1f} s per checkpoint, about {each * (len(checkpoints) - 1):.0f} s for the "
                f"other {len(checkpoints) - 1} (then the analysis, whose progress is shown as it goes)"
            )
        elif n % 10 == 9:
            log(f"converted {n + 1}/{len(checkpoints)} checkpoints ({time.perf_counter() - t0:.0f} s)")
    if curve is not None:
        schema.write_train_loss(run_path, curve)
    manifest = dataclasses.replace(manifest, snapshots=entries)
    schema.write_manifest(run_path, manifest)  # last: the run is complete
    return manifest
