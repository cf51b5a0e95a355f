"""Live metrics: the registry's "live" tier, measured by the trainer at every snapshot on the
model in memory and stored as the analysis stores them (stage "live"), so that the service
shows the curves while the run trains. A snapshot the analysis has already measured in full is
never downgraded."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from training.core.analysis import registry
from training.core.analysis.registry import Probe, ProbeInputs
from training.core.artifacts import schema
from training.core.artifacts.records import Manifest
from training.core.model import Transformer
from training.pipeline.config import AnalysisConfig


def live_metrics(model: Transformer, inputs: ProbeInputs) -> dict[str, torch.Tensor]:
    """The registry's live metrics of the model in memory, in eval mode; the model's mode is
    restored afterwards (the caller's training goes on as if nothing was measured)."""
    was_training = model.training
    try:
        return registry.measure(Probe(model, inputs), ["live"])
    finally:
        model.train(was_training)


class LiveMetrics:
    """Measures and stores the live tier at each snapshot of one run; `seconds` is their total
    cost (the trainer reports it as a share of training)."""

    def __init__(self, run_path: Path, cfg: AnalysisConfig, n_ctx: int, log):
        from training.pipeline import analyze  # the probe inputs are the analysis's own

        self.analyze, self.run_path, self.cfg, self.seconds = analyze, run_path, cfg, 0.0
        t0 = time.perf_counter()
        self.inputs = analyze.run_inputs(run_path.parent, n_ctx, cfg)
        analyze.store_inputs(run_path, cfg, self.inputs)
        self.seconds += time.perf_counter() - t0

    def measure(self, model: Transformer, manifest: Manifest, step: int) -> None:
        t0 = time.perf_counter()
        path = schema.metrics_snapshot_path(self.run_path, step)
        if schema.stored_stage(path, self.cfg.settings_hash()) != "full":  # never downgrade
            metrics = live_metrics(model, self.inputs)
            schema.write_snapshot_metrics(self.run_path, step, metrics, self.cfg.settings_hash(), "live")
        self.analyze.stack_run_metrics(self.run_path, manifest, self.cfg, self.inputs)
        self.seconds += time.perf_counter() - t0
