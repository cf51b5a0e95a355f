"""Live metrics inside someone else's training loop: `Watcher.snapshot(model, step)`.

    from training.pipeline.watch import Watcher

    watcher = Watcher("artifacts", suite="mine", run="gpt2-2l", tokenizer=tokenizer, total_steps=5000)
    for step in range(1, 5001):
        ...                                    # the user's own step
        if step % 250 == 0:
            watcher.snapshot(model, step, train_loss=loss.item())
    watcher.close()

Each snapshot writes what our own trainer writes (`training.pipeline.train`): the weights as a
HookedTransformer state dict, the manifest entry, the registry's live metrics (stage "live") and
`progress.json`, so the dashboard follows the run exactly as it follows ours (status line,
follow training, the phase window as soon as it shows); `python -m training analyze` measures
the rest afterwards. The model may be a Hugging Face GPT-2 or GPT-NeoX (converted on the fly,
`training.core.adapters.huggingface`) or a HookedTransformer.

It never changes the user's training: the measurement runs under `torch.no_grad()`, on a copy of
the weights for a Hugging Face model, with the CPU (and the model's CUDA) RNG state restored
afterwards, and the model back in the mode it was in (tested: the final weights equal those of
the same run without it). `seconds` is its total cost; each snapshot's is logged.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from training.core.adapters import huggingface, transformer_lens
from training.core.adapters.hooked import AdapterError, HookedAdapter, config_fields, hooked_from_fields, stored_config
from training.core.artifacts import schema
from training.core.artifacts.records import Manifest, RunProgress, SnapshotEntry
from training.pipeline import analyze
from training.pipeline.importers import probe_text
from training.pipeline.importers.series import DEFAULT_PROBE_CTX, analysis_for
from training.pipeline.live import live_metrics

PROGRESS_EVERY_S = 2.0  # as the trainer's progress.json


def _unwrap_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights as detached CPU copies, without DDP's or torch.compile's prefixes."""
    state = {}
    for key, value in model.state_dict().items():
        for prefix in ("module.", "_orig_mod."):
            key = key.removeprefix(prefix)
        state[key] = value.detach().to("cpu", copy=True)
    return state


def describe(model: torch.nn.Module) -> HookedTransformerConfig:
    """The HookedTransformerConfig the watcher stores for `model`; AdapterError if unsupported."""
    if isinstance(model, HookedTransformer):  # refused where it sets what we do not store
        raw = {f.name: getattr(model.cfg, f.name) for f in dataclasses.fields(model.cfg)}
        return transformer_lens.config_from_dict(raw, "HookedTransformer config")
    config = getattr(model, "config", None)
    if config is None:
        raise AdapterError(
            f"{type(model).__name__}: not a Hugging Face model (no .config) nor a HookedTransformer; "
            "the watcher measures GPT-2, GPT-NeoX and HookedTransformer models"
        )
    return huggingface.hooked_config(config)


def converted(model: torch.nn.Module) -> tuple[HookedAdapter, dict[str, torch.Tensor]]:
    """(what `Probe` measures, the HookedTransformer state dict to store) for the user's model."""
    if isinstance(model, HookedTransformer):
        return HookedAdapter(model), _unwrap_state(model)
    cfg, state = huggingface.convert(model.config, _unwrap_state(model))
    return HookedAdapter(hooked_from_fields(config_fields(cfg), state, "model")), state


class Watcher:
    """Writes the live tier of a model trained by someone else's loop into `<out>/<suite>/<run>`.

    The suite (tokenizer, probe text in the model's tokens) is written on the first snapshot if
    it is new; an existing suite must have the same tokenizer. A run that exists already is
    refused unless it is still "training" (a restarted loop continues it)."""

    def __init__(
        self,
        out: Path | str,
        suite: str,
        run: str,
        tokenizer,
        *,
        text: str | None = None,
        probe_ctx: int = DEFAULT_PROBE_CTX,
        tokens_per_step: int = 0,
        total_steps: int | None = None,
        overrides: tuple[str, ...] = (),
        log=print,
    ):
        self.suite_path = schema.suite_dir(out, suite)
        self.run_path = self.suite_path / schema.check_name("run", run)
        self.tokenizer, self.text, self.probe_ctx = tokenizer, text, probe_ctx
        self.tokens_per_step, self.total_steps, self.overrides, self.log = tokens_per_step, total_steps, overrides, log
        self.manifest: Manifest | None = None
        self.seconds, self.t0, self.last_progress = 0.0, time.perf_counter(), 0.0
        self.losses: dict[int, float] = {}

    # ---- set-up on the first snapshot (the model's config is known then) --------------------

    def _start(self, model: torch.nn.Module) -> None:
        cfg = describe(model)
        tok = self.tokenizer
        if not schema.tokenizer_path(self.suite_path).exists():
            stream, info = probe_text.encode_probe_text(tok, self.text)
            probe_text.write_probe_data(self.suite_path, tok, stream, info, min(self.probe_ctx, cfg.n_ctx))
        elif json.loads(schema.tokenizer_path(self.suite_path).read_text()) != json.loads(
            tok.backend_tokenizer.to_str()
        ):
            raise schema.ArtifactError(f"suite {self.suite_path} has another tokenizer; watch into a new suite")
        self.analysis = analysis_for(cfg, min(self.probe_ctx, cfg.n_ctx), self.overrides)
        model_fields = stored_config(cfg, probe_ctx=self.probe_ctx)
        manifest = None
        if (self.run_path / schema.MANIFEST).exists():
            manifest = schema.read_manifest(self.run_path)
            if manifest.status != "training" or manifest.model != model_fields:
                raise schema.ArtifactError(
                    f"run {self.run_path} exists (status {manifest.status}, model "
                    f"{'the same' if manifest.model == model_fields else 'another'}); choose another run name"
                )
        self.manifest = manifest or Manifest(
            suite=self.suite_path.name,
            run=self.run_path.name,
            status="training",
            model=model_fields,
            train={"source": "watcher", "source_kind": "live"},
            analysis=dataclasses.asdict(self.analysis),
            tokens_per_step=self.tokens_per_step,
            snapshots=[],
            description=f"measured live in the training loop of a {cfg.original_architecture}",
            preset="watch",
        )
        self.inputs = analyze.run_inputs(self.suite_path, model_fields["n_ctx"], self.analysis)
        analyze.store_inputs(self.run_path, self.analysis, self.inputs)

    # ---- the user's loop calls these ---------------------------------------------------------

    def record_loss(self, step: int, loss: float) -> None:
        """The training loss at `step` (kept for `train_loss.npy` and the snapshots' entries)."""
        self.losses[int(step)] = float(loss)

    def progress(self, step: int, total: int | None = None) -> None:
        """Rewrite `progress.json` (at most every 2 s): the dashboard's status line."""
        now = time.monotonic()
        if self.manifest is None or now - self.last_progress < PROGRESS_EVERY_S:
            return
        self.last_progress = now
        total = total or self.total_steps or step
        elapsed = time.perf_counter() - self.t0
        rate = step / max(elapsed, 1e-9)
        schema.write_progress(
            self.run_path,
            RunProgress(
                run=self.run_path.name,
                step=step,
                steps=total,
                tokens_per_s=round(rate * self.tokens_per_step, 1),
                elapsed_s=round(elapsed, 2),
                eta_s=round(max(total - step, 0) / max(rate, 1e-9), 1),
                updated=time.time(),
            ),
        )

    def snapshot(
        self, model: torch.nn.Module, step: int, *, tokens_seen: int | None = None, train_loss: float | None = None
    ) -> dict[str, torch.Tensor]:
        """Store the model's weights at `step` and measure its live metrics; returns them."""
        t0 = time.perf_counter()
        if train_loss is not None:
            self.record_loss(step, train_loss)
        was_training = model.training
        devices = [p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"][:1]
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            try:
                if self.manifest is None:
                    self._start(model)
                adapter, state = converted(model)
                metrics = self._write(adapter, state, step, tokens_seen)
            finally:
                model.train(was_training)
        seconds = time.perf_counter() - t0
        self.seconds += seconds
        self.log(f"{self.run_path.name}: step {step} measured live in {seconds:.2f} s")
        return metrics

    def _write(self, adapter: HookedAdapter, state: dict, step: int, tokens_seen: int | None) -> dict:
        sha = schema.atomic_write_safetensors(schema.snapshot_path(self.run_path, step), state, {"step": str(step)})
        metrics = live_metrics(adapter, self.inputs)
        recent = [v for s, v in self.losses.items() if step - 20 < s <= step]
        entry = SnapshotEntry(
            step=step,
            tokens_seen=tokens_seen if tokens_seen is not None else step * self.tokens_per_step,
            train_loss=float(np.mean(recent)) if recent else None,
            heldout_loss=float(metrics["eval_loss"]),  # on the probe text
            wall_time_s=round(time.perf_counter() - self.t0, 2),
            file=schema.snapshot_name(step),
            sha256=sha,
        )
        kept = [s for s in self.manifest.snapshots if s.step != step]
        self.manifest = dataclasses.replace(self.manifest, snapshots=sorted([*kept, entry], key=lambda s: s.step))
        self._write_losses()
        schema.write_manifest(self.run_path, self.manifest)
        hash_ = self.analysis.settings_hash()
        schema.write_snapshot_metrics(self.run_path, step, metrics, hash_, "live")
        analyze.stack_run_metrics(self.run_path, self.manifest, self.analysis, self.inputs)
        self.last_progress = 0.0
        self.progress(step)
        return metrics

    def _write_losses(self) -> None:
        if self.losses:
            curve = np.full(max(self.losses), np.nan, dtype=np.float32)  # index i: step i + 1
            for step, value in self.losses.items():
                if step >= 1:
                    curve[step - 1] = value
            schema.write_train_loss(self.run_path, curve)

    def close(self) -> None:
        """Mark the run complete (the dashboard stops following it)."""
        if self.manifest is None:
            return
        self._write_losses()
        self.manifest = dataclasses.replace(
            self.manifest, status="complete", train_time_s=round(time.perf_counter() - self.t0, 2)
        )
        schema.write_manifest(self.run_path, self.manifest)
        self.log(
            f"{self.run_path.name}: {len(self.manifest.snapshots)} snapshots measured live, {self.seconds:.1f} s in all"
        )
