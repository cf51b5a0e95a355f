"""A run's record while it trains: its manifest, its snapshots and its resume checkpoint.

The trainer calls `RunRecord.snapshot` at each scheduled step and `checkpoint` at each resume
point; both write through `training.core.artifacts`. The manifest is rewritten last after each
snapshot, so the snapshot becomes visible whole. In a torchrun launch only rank 0 writes: on
the other ranks every method returns at once.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import torch

from training.core.artifacts import checkpoint, schema
from training.core.artifacts.records import Manifest, PhaseEnd, Replicate, SnapshotEntry
from training.core.config import ConfigError, ModelConfig
from training.core.model import Transformer, next_token_loss
from training.pipeline.config import Preset, RunSpec, TrainConfig
from training.pipeline.distributed import World
from training.pipeline.live import LiveMetrics


def code_version() -> str:
    """The git commit of the code (with "+dirty" if modified), or "unknown" outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "training"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha or "unknown") + ("+dirty" if dirty and sha else "")


def completed(run_path: Path, run: RunSpec, *, resume: bool, writes: bool, log) -> bool:
    """True if the run is already complete (then it is skipped; a larger `--seeds` is recorded so
    the report waits for the new replicates). An incomplete run without `resume` is refused."""
    manifest = schema.read_manifest(run_path) if schema.manifest_path(run_path).exists() else None
    if manifest is None:
        return False
    if manifest.status == "complete":
        log(f"{run.name}: already trained ({len(manifest.snapshots)} snapshots), skipping")
        if writes and run.seeds > manifest.seeds:
            schema.write_manifest(run_path, dataclasses.replace(manifest, seeds=run.seeds))
        return True
    if not resume:
        raise ConfigError(
            f"run {run.name!r} in {run_path.parent} is incomplete: pass --resume to continue it, or delete {run_path}"
        )
    return False


def new_manifest(
    preset: Preset,
    run: RunSpec,
    suite_path: Path,
    info: dict,
    cfg_m: ModelConfig,
    cfg_t: TrainConfig,
    device: torch.device,
    world: World,
    plan: list[int],
) -> Manifest:
    """The manifest of a run about to train: every setting it trains and is analysed with."""
    return Manifest(
        suite=suite_path.name,
        run=run.name,
        description=run.description,
        preset=preset.name,
        status="training",
        model=dataclasses.asdict(cfg_m),
        train=dataclasses.asdict(cfg_t),
        analysis=dataclasses.asdict(preset.analysis),  # the settings `analyze` and the live metrics use
        llc=dataclasses.asdict(preset.llc),  # the LLC's, which `analyze` uses (training.pipeline.analyze_llc)
        data={k: v for k, v in info.items() if k != "config"} | {"config": dataclasses.asdict(preset.data)},
        code_version=code_version(),
        torch_version=torch.__version__,
        device=str(device),
        precision=cfg_t.precision,
        processes=world.size,
        tokens_per_step=cfg_t.batch_size * cfg_m.n_ctx,
        snapshot_steps=plan,
        snapshots=[],
        seeds=run.seeds,
        replicate=Replicate(of=run.repeats, index=run.seed_offset, seed=cfg_t.seed) if run.repeats else None,
    )


@torch.no_grad()
def heldout_loss(model: Transformer, batch: torch.Tensor) -> float:
    model.eval()
    loss = next_token_loss(model(batch), batch).mean().item()
    model.train()
    return loss


class RunRecord:
    """Writes one run's snapshots, manifest and resume checkpoints (only where `writes`)."""

    def __init__(
        self,
        run_path: Path,
        manifest: Manifest,
        model,
        opt,
        eval_x: torch.Tensor,
        *,
        writes: bool,
        live: LiveMetrics | None,
    ):
        self.run_path, self.manifest, self.model, self.opt, self.eval_x = run_path, manifest, model, opt, eval_x
        self.writes, self.live = writes, live

    def start(self, run: RunSpec, *, resume: bool, log) -> tuple[int, list[float], float, str]:
        """(step, losses, seconds trained, "trained" or "resumed"): restored from the resume
        checkpoint if there is one and `resume`, else a fresh start (snapshot 0 written)."""
        for stale in self.run_path.glob("**/.*.tmp") if self.writes else ():  # left by a killed writer
            stale.unlink()
        if resume and checkpoint.exists(self.run_path):
            step, losses, elapsed = checkpoint.load(self.run_path, self.model, self.opt)
            old = schema.read_manifest(self.run_path) if schema.manifest_path(self.run_path).exists() else self.manifest
            snaps = [s for s in old.snapshots if s.step <= step]
            self.manifest = dataclasses.replace(self.manifest, snapshots=snaps, seeds=max(old.seeds, run.seeds))
            log(f"{run.name}: resuming at step {step}")
            return step, losses, elapsed, "resumed"
        self.snapshot(0, [], 0.0)
        self.checkpoint(0, [], 0.0)
        return 0, [], 0.0, "trained"

    def snapshot(self, step: int, losses: list[float], elapsed: float) -> None:
        if not self.writes:
            return
        sha = schema.write_snapshot(self.run_path, step, self.model.state_dict())
        entry = SnapshotEntry(
            step=step,
            tokens_seen=step * self.manifest.tokens_per_step,
            train_loss=float(np.mean(losses[-20:])) if losses else None,  # mean of the last 20 steps
            heldout_loss=heldout_loss(self.model, self.eval_x),
            wall_time_s=round(elapsed, 2),
            file=schema.snapshot_name(step),
            sha256=sha,
        )
        snaps = [s for s in self.manifest.snapshots if s.step != step] + [entry]
        self.manifest = dataclasses.replace(self.manifest, snapshots=snaps)
        schema.write_train_loss(self.run_path, np.asarray(losses, dtype=np.float32))
        schema.write_manifest(self.run_path, self.manifest)  # the snapshot is now visible
        if self.live is not None:  # after the manifest: the metrics index lists only visible snapshots
            self.live.measure(self.model, self.manifest, step)

    def checkpoint(self, step: int, losses: list[float], elapsed: float) -> None:
        if self.writes:
            checkpoint.save(self.run_path, self.model, self.opt, step, losses, elapsed)

    def finish(self, elapsed: float, ended: PhaseEnd | None = None) -> Manifest:
        """Mark the run complete, with where the plateau rule ended it (`ended`; its planned
        snapshots after that step dropped); a complete run needs no resume point."""
        if self.writes:
            plan = self.manifest.snapshot_steps
            if ended is not None:
                plan = [s for s in plan if s <= ended.step]
            self.manifest = dataclasses.replace(
                self.manifest, status="complete", train_time_s=round(elapsed, 2), phase_end=ended, snapshot_steps=plan
            )
            schema.write_manifest(self.run_path, self.manifest)
            checkpoint.remove(self.run_path)
        return self.manifest
