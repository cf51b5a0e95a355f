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
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from training.core.artifacts import schema
from training.core.config import ConfigError
from training.core.model import Transformer, next_token_loss
from training.pipeline import data, distributed, stop
from training.pipeline.config import Preset, RunSpec
from training.pipeline.distributed import SINGLE, World
from training.pipeline.live import LiveMetrics
from training.pipeline.locks import LockError, suite_lock
from training.pipeline.progress import Progress
from training.pipeline.run_record import RunRecord, completed, new_manifest
from training.pipeline.schedule import learning_rate, snapshot_steps


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
    distributed.barrier(world)  # rank 0 has finished writing the previous run
    done = completed(run_path, run, resume=resume, writes=world.is_main, log=log)
    distributed.barrier(world)  # every process has decided before rank 0 writes this run
    if done:
        return "skipped"
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
    heldout = data.load_split(suite_path, "heldout")
    eval_x = data.eval_batch(heldout, n_sequences=cfg_t.eval_sequences, n_ctx=cfg_m.n_ctx).to(dev)
    plan = snapshot_steps(cfg_t)
    manifest = new_manifest(preset, run, suite_path, info, cfg_m, cfg_t, dev, world, plan)
    live = LiveMetrics(run_path, preset.analysis, cfg_m.n_ctx, log) if live_metrics and world.is_main else None
    record = RunRecord(run_path, manifest, model, opt, eval_x, writes=world.is_main, live=live)
    step, losses, elapsed, status = record.start(run, resume=resume, log=log)
    # The module that steps: DDP wraps the model (same parameters, gradients averaged over the
    # processes); snapshots, evaluation and metrics use the model itself. (Its only buffers are
    # the fixed rotary tables, the same in every process: DDP's buffer sync has nothing to change.)
    stepper = torch.nn.parallel.DistributedDataParallel(model) if world.parallel else model
    model.train()
    loss_fn = compiled_loss() if cfg_t.compile else batch_loss
    progress = Progress(cfg_t.steps, step, run.name, log, run_path if world.is_main else None, show=world.is_main)
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
            lr = learning_rate(cfg_t, step)
            loss = train_step(stepper, opt, x, lr=lr, grad_clip=cfg_t.grad_clip, loss_fn=loss_fn, autocast=amp)
            losses.append(distributed.mean(loss, world, dev))  # the global batch's loss
            step += 1
            elapsed = time.perf_counter() - t_start
            progress.update(step, cfg_t.steps, losses[-1], elapsed, manifest.tokens_per_step)
            over = False
            if step in plan:
                record.snapshot(step, losses, elapsed)
                if cfg_t.stop == "plateau":
                    # rank 0 judges on the live metrics it stored; every process stops with it
                    ended = stop.judge(run_path, cfg_t) if world.is_main else None
                    over = distributed.mean(float(ended is not None and ended.finished), world, dev) > 0
            if step in plan or step % cfg_t.resume_every == 0:
                record.checkpoint(step, losses, elapsed)
            if over:
                break
    finally:
        progress.close()
    if not world.is_main:
        return status
    ended = stop.judge(run_path, cfg_t) if cfg_t.stop == "plateau" else None
    if ended is not None:
        log(f"{run.name}: {stop.describe(ended)}")
    manifest = record.finish(elapsed, ended)
    live_note = f", live metrics {live.seconds:.1f} s ({live.seconds / max(elapsed, 1e-9):.1%})" if live else ""
    log(
        f"{run.name}: done, {step} steps in {elapsed:.0f} s, "
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
    lanes: int = 1,
    lane: int = 0,
    start_lanes: Callable[[int], Callable[[bool], None]] | None = None,
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
    like any run; each R's manifest records N, so the report waits for its replicates.

    With `lanes` N > 1 (one process, no torchrun), the first run trains alone with all of
    `train.threads`, live from the first minute; then N lanes of `threads // N` threads each
    (measured in bench/lanes.py: the small models scale poorly across threads) share out the
    rest: this process (lane 0) takes them from the front of the order, `start_lanes(N)` starts
    the others (lane k, this function with `lane=k`: lane 1 takes them from the back) and
    returns a function that waits for them (stopping them first when called with True). A lane
    skips a run another lane holds."""
    selected = preset.select_runs(runs, seeds)
    for run in selected:
        schema.check_name("run", run.name)  # a replicate's name is longer: refused before any work
        if preset.run_train(run).stop == "plateau" and not live_metrics:
            raise ConfigError(
                f"train.stop: plateau reads the live metrics ({run.name}); leave them on or set train.stop=steps"
            )
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
    lanes = lanes if not world.parallel and len(selected) > 2 else 1
    shared = dataclasses.replace(
        preset, train=dataclasses.replace(preset.train, threads=max(1, preset.train.threads // lanes))
    )

    def train_each(order: Sequence[RunSpec], preset: Preset, skip_held: bool, analyse: bool = True) -> None:
        for run in order:
            with contextlib.ExitStack() as held:
                if world.is_main:
                    try:
                        held.enter_context(suite_lock(suite_path, f"train-{run.name}"))
                    except LockError:
                        if not skip_held:
                            raise
                        continue  # another lane trains it
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
            if analyse and after_run is not None and world.is_main:  # incremental: a second look finds nothing to do
                after_run(suite_path / run.name)

    if lanes == 1:
        train_each(selected, preset, skip_held=False)
    elif lane > 0:  # a lane started by lane 0: the runs after the first, from the back
        train_each(selected[1:][::-1] if lane % 2 else selected[1:], shared, skip_held=True)
    else:
        if start_lanes is None:
            raise ConfigError("lanes > 1 needs a way to start the other lanes (the command line's --lanes)")
        train_each(selected[:1], preset, skip_held=False, analyse=False)
        wait = start_lanes(lanes)
        try:
            torch.set_num_threads(shared.train.threads)  # from here on one lane among `lanes`
            if after_run is not None:
                after_run(suite_path / selected[0].name)  # the first run's analysis, beside the other lanes
            train_each(selected[1:], shared, skip_held=True)
        except BaseException:
            wait(True)
            raise
        wait(False)
    return suite_path
