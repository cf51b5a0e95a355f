"""The training loop: one suite of runs, snapshots on a schedule, exact resume.

Every run of a suite trains on the same token stream with batches keyed on (seed, step), so
all models see the same batches in the same order (a seed replicate, `--seeds`, sees the same
data in another order, from other initial weights), and a resumed run continues exactly: the
resume checkpoint holds the model, the AdamW state, the torch RNG state and the per-step losses.
Killed at any moment (even SIGKILL) and resumed, a run writes the same snapshots, bit for bit,
on CPU with the same thread count.

Launched by `torchrun`, the same loop trains data-parallel (`training.pipeline.distributed`): each
process takes its rows of the global batch, DistributedDataParallel averages the gradients,
and only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from training.core.artifacts import schema
from training.core.artifacts.records import Manifest, Replicate, RunProgress, SnapshotEntry
from training.core.config import ConfigError
from training.core.model import Transformer, next_token_loss
from training.pipeline import data, distributed
from training.pipeline.config import AnalysisConfig, Preset, RunSpec
from training.pipeline.distributed import SINGLE, World
from training.pipeline.schedule import learning_rate, snapshot_steps

RESUME_FILE = "resume/checkpoint.safetensors"


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


def resolve_device(name: str, world: World = SINGLE) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: cuda requested but torch sees no GPU")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and world.parallel:
        return torch.device("cuda", world.local_rank)  # one GPU per process
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the training step's forward pass autocasts to (None: plain fp32), after setting
    the `torch.backends` switch that `precision` names. CUDA only: a CPU without bf16 matrix
    units runs bf16 slower than fp32 (this project's CPU has only AVX2), and TF32 is a GPU format."""
    if precision != "fp32" and device.type != "cuda":
        raise ConfigError(f"train.precision: {precision} needs a CUDA device (--device cuda); on {device} use fp32")
    if device.type == "cuda":
        # TF32 only when asked for: "fp32" means true fp32 matmuls, comparable across machines.
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
    return torch.bfloat16 if precision == "bf16" else None


class Progress:
    """tqdm on a terminal, plain log lines (every ~10 s) otherwise; and `progress.json` in the
    run folder every ~2 s, which the service reads to show what is training."""

    WRITE_EVERY_S = 2.0

    def __init__(self, total: int, start: int, label: str, log, run_path: Path | None = None, show: bool = True):
        self.tty = show and sys.stderr.isatty()
        self.log, self.label, self.last, self.last_write = log, label, 0.0, 0.0
        self.run_path, self.start = run_path, start
        self.t0 = time.perf_counter()
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=label, unit="step", dynamic_ncols=True)

    def update(self, step: int, total: int, loss: float, elapsed: float, tokens_per_step: int) -> None:
        tokens_per_s = tokens_per_step * step / max(elapsed, 1e-9)
        now = time.monotonic()
        if self.tty:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens_per_s / 1000:.1f}k", refresh=False)
        elif now - self.last > 10 or step == total:
            self.last = now
            self.log(f"{self.label}: step {step}/{total} loss {loss:.3f} {tokens_per_s / 1000:.1f}k tokens/s")
        if self.run_path is not None and (now - self.last_write > self.WRITE_EVERY_S or step == total):
            self.last_write = now
            # The recent rate (since this process started), not the run's average: a resumed
            # run or a busy machine changes it.
            recent = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
            schema.write_progress(
                self.run_path,
                RunProgress(
                    run=self.label,
                    step=step,
                    steps=total,
                    tokens_per_s=round(recent * tokens_per_step, 1),
                    elapsed_s=round(elapsed, 2),
                    eta_s=round((total - step) / max(recent, 1e-9), 1),
                    updated=time.time(),
                ),
            )

    def close(self) -> None:
        if self.tty:
            self.bar.close()


class LiveMetrics:
    """The registry's live metrics, measured by the trainer at every snapshot on the model in
    memory and stored through the schema as the analysis stores them (stage "live"), so the
    service shows the curves while the run trains. `seconds` is their total cost."""

    def __init__(self, run_path: Path, cfg: AnalysisConfig, n_ctx: int, log):
        from training.pipeline import analyze

        self.analyze, self.run_path, self.cfg, self.seconds = analyze, run_path, cfg, 0.0
        t0 = time.perf_counter()
        self.inputs = analyze.run_inputs(run_path.parent, n_ctx, cfg)
        analyze.store_inputs(run_path, cfg, self.inputs)
        self.seconds += time.perf_counter() - t0

    def measure(self, model: Transformer, manifest: Manifest, step: int) -> None:
        t0 = time.perf_counter()
        path = schema.metrics_snapshot_path(self.run_path, step)
        if self.analyze.stored_stage(path, self.cfg.settings_hash()) != "full":  # never downgrade
            metrics = self.analyze.live_metrics(model, self.inputs)
            self.analyze.write_snapshot_metrics(self.run_path, step, metrics, self.cfg.settings_hash(), "live")
        self.analyze.stack_run_metrics(self.run_path, manifest, self.cfg, self.inputs)
        self.seconds += time.perf_counter() - t0


def batch_loss(model: Transformer, x: torch.Tensor) -> torch.Tensor:
    """The training objective: mean next-token cross-entropy over the batch (nats)."""
    return next_token_loss(model(x), x).mean()


def compiled_loss() -> Callable[[Transformer, torch.Tensor], torch.Tensor]:
    """`batch_loss` through `torch.compile`, falling back to eager where compiling fails (no C++
    compiler in the image, an unsupported device): the step is the same either way, to float
    tolerance, and only slower without it."""
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True  # a failed compile runs the frame eagerly
    return torch.compile(batch_loss)


def train_step(
    model: Transformer,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    *,
    lr: float,
    grad_clip: float,
    loss_fn: Callable[[Transformer, torch.Tensor], torch.Tensor] = batch_loss,
    autocast: torch.dtype | None = None,
) -> float:
    """One optimizer step on batch `x` at learning rate `lr`, gradients clipped to `grad_clip`;
    returns the batch's loss before the step. With `autocast` (torch.bfloat16) the forward pass
    and the loss run under `torch.autocast` (the backward follows the forward's dtypes, as
    torch recommends); the weights, their gradients and the optimizer state stay fp32."""
    for group in opt.param_groups:
        group["lr"] = lr
    amp = torch.autocast(x.device.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()
    with amp:
        loss = loss_fn(model, x)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss.item()


@torch.no_grad()
def heldout_loss(model: Transformer, batch: torch.Tensor) -> float:
    model.eval()
    loss = next_token_loss(model(batch), batch).mean().item()
    model.train()
    return loss


def save_resume(run_path: Path, model, opt, step: int, losses: list[float], elapsed: float) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, p in enumerate(p for g in opt.param_groups for p in g["params"]):
        for key, value in opt.state.get(p, {}).items():
            tensors[f"opt.{i}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["train_loss"] = torch.tensor(losses, dtype=torch.float64)
    meta = {"step": str(step), "elapsed_s": repr(elapsed)}
    schema.atomic_write_safetensors(run_path / RESUME_FILE, tensors, meta)


def load_resume(run_path: Path, model, opt) -> tuple[int, list[float], float]:
    from safetensors import safe_open

    path = run_path / RESUME_FILE
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        state = {k.split(".", 2)[2]: v.to(p.device) for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
        if state:
            opt.state[p] = state
    torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"]), tensors["train_loss"].tolist(), float(meta["elapsed_s"])


def train_run(
    preset: Preset,
    run: RunSpec,
    suite_path: Path,
    info: dict,
    *,
    resume: bool,
    device: str,
    live_metrics: bool = True,
    log=print,
    world: World = SINGLE,
) -> str:
    """Train one run of the suite; returns "trained", "resumed" or "skipped" (already complete).

    In a torchrun launch (`world`), every process calls this; only rank 0 writes."""
    cfg_t = preset.run_train(run)
    run_path = suite_path / schema.check_name("run", run.name)
    manifest_path = run_path / schema.MANIFEST
    main = world.is_main
    distributed.barrier(world)  # rank 0 has finished writing the previous run
    manifest = schema.read_manifest(run_path) if manifest_path.exists() else None
    distributed.barrier(world)  # every process has decided before rank 0 writes this run
    if manifest is not None:
        if manifest.status == "complete":
            log(f"{run.name}: already trained ({len(manifest.snapshots)} snapshots), skipping")
            if main and run.seeds > manifest.seeds:  # the report now waits for its new replicates
                schema.write_manifest(run_path, dataclasses.replace(manifest, seeds=run.seeds))
            return "skipped"
        if not resume:
            raise ConfigError(
                f"run {run.name!r} in {suite_path} is incomplete: pass --resume to continue it, or delete {run_path}"
            )
    cfg_m = preset.run_model(run, info["vocab_size"])
    dev = resolve_device(device if device != "auto" else cfg_t.device, world)
    amp = autocast_dtype(cfg_t.precision, dev)
    distributed.check_batch(cfg_t.batch_size, world)
    torch.set_num_threads(cfg_t.threads)
    torch.manual_seed(cfg_t.seed)  # the one seed: model init (global RNG) and nothing else
    model = Transformer(cfg_m).to(dev)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg_t.lr, betas=(cfg_t.beta1, cfg_t.beta2), weight_decay=cfg_t.weight_decay
    )
    stream = data.load_split(suite_path, "train")
    eval_x = data.eval_batch(
        data.load_split(suite_path, "heldout"), n_sequences=cfg_t.eval_sequences, n_ctx=cfg_m.n_ctx
    ).to(dev)
    plan = snapshot_steps(cfg_t)
    tokens_per_step = cfg_t.batch_size * cfg_m.n_ctx

    step, losses, elapsed, status = 0, [], 0.0, "trained"
    manifest = Manifest(
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
        device=str(dev),
        precision=cfg_t.precision,
        processes=world.size,
        tokens_per_step=tokens_per_step,
        snapshot_steps=plan,
        snapshots=[],
        seeds=run.seeds,
        replicate=Replicate(of=run.repeats, index=run.seed_offset, seed=cfg_t.seed) if run.repeats else None,
    )
    for stale in run_path.glob("**/.*.tmp") if main else ():  # left by a killed writer; never referenced
        stale.unlink()
    if resume and (run_path / RESUME_FILE).exists():
        step, losses, elapsed = load_resume(run_path, model, opt)
        old = schema.read_manifest(run_path) if manifest_path.exists() else manifest
        snaps = [s for s in old.snapshots if s.step <= step]
        manifest = dataclasses.replace(manifest, snapshots=snaps, seeds=max(old.seeds, run.seeds))
        status = "resumed"
        log(f"{run.name}: resuming at step {step}")
    live = LiveMetrics(run_path, preset.analysis, cfg_m.n_ctx, log) if live_metrics and main else None
    # The module that steps: DDP wraps the model (same parameters, gradients averaged over the
    # processes); snapshots, evaluation and metrics use the model itself. (Its only buffers are
    # the fixed rotary tables, the same in every process: DDP's buffer sync has nothing to change.)
    stepper = torch.nn.parallel.DistributedDataParallel(model) if world.parallel else model

    def snapshot(step: int) -> None:
        nonlocal manifest
        if not main:
            return
        file = schema.snapshot_name(step)
        sha = schema.atomic_write_safetensors(run_path / "snapshots" / file, model.state_dict(), {"step": str(step)})
        entry = SnapshotEntry(
            step=step,
            tokens_seen=step * tokens_per_step,
            train_loss=float(np.mean(losses[-20:])) if losses else None,  # mean of the last 20 steps
            heldout_loss=heldout_loss(model, eval_x),
            wall_time_s=round(elapsed, 2),
            file=file,
            sha256=sha,
        )
        snaps = [s for s in manifest.snapshots if s.step != step] + [entry]
        manifest = dataclasses.replace(manifest, snapshots=snaps)
        schema.atomic_write_npy(run_path / "train_loss.npy", np.asarray(losses, dtype=np.float32))
        schema.write_manifest(run_path, manifest)  # the snapshot is now visible
        if live is not None:  # after the manifest: the metrics index lists only visible snapshots
            live.measure(model, manifest, step)

    def checkpoint(step: int) -> None:
        if main:
            save_resume(run_path, model, opt, step, losses, elapsed)

    if step == 0:
        snapshot(0)
        checkpoint(0)
    model.train()
    loss_fn = compiled_loss() if cfg_t.compile else batch_loss
    progress = Progress(cfg_t.steps, step, run.name, log, run_path if main else None, show=main)
    t_start = time.perf_counter() - elapsed  # wall time includes evaluation and I/O
    try:
        while step < cfg_t.steps:
            x = data.train_batch(
                stream,
                step,
                seed=cfg_t.seed,
                batch_size=cfg_t.batch_size,
                n_ctx=cfg_m.n_ctx,
                repeat_fraction=preset.data.repeat_fraction,
                repeat_layout=preset.data.repeat_layout,
            )
            x = distributed.shard(x, world).to(dev)
            loss = train_step(
                stepper, opt, x, lr=learning_rate(cfg_t, step), grad_clip=cfg_t.grad_clip, loss_fn=loss_fn, autocast=amp
            )
            losses.append(distributed.mean(loss, world, dev))  # the global batch's loss
            step += 1
            elapsed = time.perf_counter() - t_start
            progress.update(step, cfg_t.steps, losses[-1], elapsed, tokens_per_step)
            if step in plan:
                snapshot(step)
            if step in plan or step % cfg_t.resume_every == 0:
                checkpoint(step)
    finally:
        progress.close()
    if not main:
        return status
    manifest = dataclasses.replace(manifest, status="complete", train_time_s=round(elapsed, 2))
    schema.write_manifest(run_path, manifest)
    (run_path / RESUME_FILE).unlink(missing_ok=True)  # a complete run needs no resume point
    live_note = f", live metrics {live.seconds:.1f} s ({live.seconds / max(elapsed, 1e-9):.1%})" if live else ""
    log(
        f"{run.name}: done, {cfg_t.steps} steps in {elapsed:.0f} s, "
        f"held-out loss {manifest.snapshots[-1].heldout_loss:.3f}{live_note}"
    )
    return status


def train_suite(
    preset: Preset,
    out: Path,
    suite: str,
    *,
    runs: list[str] | None = None,
    seeds: int = 1,
    resume: bool = False,
    device: str = "auto",
    live_metrics: bool = True,
    after_run: Callable[[Path], None] | None = None,
    log=print,
    world: World = SINGLE,
) -> Path:
    """Prepare the suite's data and train each selected run, in the preset's order; returns the
    suite folder. `after_run(run_path)` is called when each run is complete (the CLI analyses it
    there, so its full analysis and the claims report follow each run, not the whole suite).

    Runs are independent: processes (or machines sharing the artifacts folder) may each train
    other runs of one suite at once. The first builds the suite's data while the others wait
    for it (`.data.lock`), and each run is trained by one process at a time (`.train-<run>.lock`,
    a second is refused). In a torchrun launch only rank 0 takes locks and writes.

    With `seeds` N > 1, the selected runs train first, then their seed replicates `R-seed1` ..
    `R-seed{N-1}` (train.seed + k; `Preset.select_runs`), each trained, measured and analysed
    like any run; each R's manifest records N, so the report waits for its replicates."""
    from training.pipeline.locks import suite_lock

    selected = preset.select_runs(runs, seeds)
    for run in selected:
        schema.check_name("run", run.name)  # a replicate's name is longer: refused before any work
    n_ctx = {preset.run_model(r, preset.model.d_vocab).n_ctx for r in selected}
    if len(n_ctx) != 1:
        raise ConfigError("model.n_ctx must be the same for every run of a suite (they share batches)")
    n_ctx = n_ctx.pop()
    suite_path = schema.suite_dir(out, suite)
    if world.is_main:
        with suite_lock(suite_path, "data", wait=True, log=log):
            info = data.prepare_suite_data(preset.data, n_ctx, suite_path, log)
    distributed.barrier(world)  # the other processes read what rank 0 built
    if not world.is_main:
        info = data.prepare_suite_data(preset.data, n_ctx, suite_path, log)
    log(
        f"suite {suite}: {info['train_tokens']:,} training tokens, {info['heldout_tokens']:,} held-out, "
        f"vocabulary {info['vocab_size']}"
    )
    for run in selected:
        lock = suite_lock(suite_path, f"train-{run.name}") if world.is_main else contextlib.nullcontext()
        with lock:
            train_run(
                preset,
                run,
                suite_path,
                info,
                resume=resume,
                device=device,
                live_metrics=live_metrics,
                log=log,
                world=world,
            )
        if after_run is not None and world.is_main:
            after_run(suite_path / run.name)
    return suite_path
