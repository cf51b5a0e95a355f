"""Past one CPU process: data-parallel training through torchrun (gloo, 2 processes), and the
training step's precision (bf16 autocast on CUDA; refused on a CPU)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import REPO, processes, wait_while_progressing
from training.core.artifacts import schema
from training.core.config import ConfigError
from training.core.model import Transformer
from training.pipeline import distributed, presets
from training.pipeline.config import apply_overrides
from training.pipeline.train import autocast_dtype, train_step, train_suite

# Tiny, short, one thread per process (2 processes on a 2-core machine), no analysis after the
# run; the live metrics stay on (rank 0 measures them). Many snapshots, a resume point every 5 steps.
ARGS = ["train", "--preset", "tiny", "--runs", "attn2", "--no-analyze"]
ARGS += ["--set", "train.steps=40", "--set", "train.threads=1", "--set", "train.resume_every=5"]


def launcher(under, processes: int = 1, writes_log=None) -> tuple[list[str], dict]:
    """The command and environment of `python -m training`, one thread per process (through
    torchrun with `processes` > 1); with `writes_log`, every process's file writes under `under`
    are recorded (`tests.training.pipeline.record_writes`)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    module = "training"
    if writes_log is not None:
        env |= {"WRITES_UNDER": str(under), "WRITES_LOG": str(writes_log)}
        module = "tests.training.pipeline.record_writes"
    command = [sys.executable, "-m", module]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        command += ["-m", module]
    return command, env


def launch(out, *extra, processes: int = 1, writes_log=None):
    """`python -m training train` with `ARGS` into `out` (`launcher`)."""
    command, env = launcher(out, processes, writes_log)
    return subprocess.Popen(
        [*command, *ARGS, "--out", str(out), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # torchrun's workers are killed with it, as a whole group
    )


def writes(log, rank: int) -> list[tuple[str, str]]:
    """The (event, path) file writes recorded for one rank (`launch(writes_log=...)`)."""
    path = log.parent / f"{log.name}.rank{rank}"
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()]


def snapshots_written(run_path) -> int:
    try:
        return len(schema.read_manifest(run_path).snapshots)
    except schema.ArtifactError:
        return 0


def wait_for_group_gone(pgid: int, timeout_s: float = 120) -> None:
    """Until no process of group `pgid` is left but zombies (an exited process has released its
    files): the launcher's wait() returns while its killed workers may still be exiting, and
    holding the run's lock, on a busy machine."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [pid for pid, _, fields in processes() if int(fields[2]) == pgid and fields[0] != "Z"]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {pgid} still running {timeout_s:.0f} s after SIGKILL")


def files(run_path) -> set[str]:
    return {p.relative_to(run_path).as_posix() for p in run_path.rglob("*") if p.is_file()}


def test_torchrun_with_two_processes_trains_as_one_process_and_resumes_after_a_kill(tmp_path, children):
    ref = launch(tmp_path / "one")
    children.append(ref)
    ref_path = tmp_path / "one" / "tiny" / "attn2"
    wait_while_progressing(ref, lambda: snapshots_written(ref_path), what="trainer")
    assert ref.returncode == 0, ref.stderr.read()

    run_path = tmp_path / "two" / "tiny" / "attn2"
    killed = launch(tmp_path / "two", processes=2)
    children.append(killed)
    wait_while_progressing(killed, lambda: snapshots_written(run_path), until=8, what="torchrun")
    was_running = killed.poll() is None
    os.killpg(killed.pid, signal.SIGKILL)  # the launcher and both workers, as a crash would
    killed.wait()
    wait_for_group_gone(killed.pid)  # the workers too: the resumed launch needs their run lock
    assert was_running, killed.stderr.read()
    assert schema.read_manifest(run_path).status == "training"

    resumed = launch(tmp_path / "two", "--resume", processes=2)
    children.append(resumed)
    wait_while_progressing(resumed, lambda: snapshots_written(run_path), what="torchrun")
    assert resumed.returncode == 0, resumed.stderr.read()

    one, two = schema.read_manifest(ref_path), schema.read_manifest(run_path)
    assert (one.processes, two.processes, two.status, two.precision) == (1, 2, "complete", "fp32")
    assert two.tokens_per_step == one.tokens_per_step  # train.batch_size is the global batch
    assert [s.step for s in two.snapshots] == [s.step for s in one.snapshots]
    for a, b in zip(one.snapshots, two.snapshots):
        wa, wb = load_file(ref_path / "snapshots" / a.file), load_file(run_path / "snapshots" / b.file)
        assert wa.keys() == wb.keys()
        for key in wa:
            assert wb[key].dtype == torch.float32
            if key.endswith("b_K"):
                # A key bias shifts every score of a query alike, so softmax ignores it: its true
                # gradient is 0 and AdamW turns float noise (different in the two reductions)
                # into lr-sized steps. The function does not depend on it (losses below).
                continue
            torch.testing.assert_close(wb[key], wa[key], rtol=1e-4, atol=1e-5, msg=f"step {a.step} {key}")
        assert b.heldout_loss == pytest.approx(a.heldout_loss, abs=1e-4)
        assert schema.sha256_file(run_path / "snapshots" / b.file) == b.sha256
    np.testing.assert_allclose(np.load(run_path / "train_loss.npy"), np.load(ref_path / "train_loss.npy"), atol=1e-4)
    np.testing.assert_allclose(
        schema.read_metric(run_path, "prefix_matching"), schema.read_metric(ref_path, "prefix_matching"), atol=1e-4
    )
    # The run folder holds what one process writes, and no leftovers (who writes: the next test).
    assert files(run_path) - {"progress.json"} == files(ref_path) - {"progress.json"}
    assert not list(run_path.glob("**/.*.tmp"))


# A launch that fails half the time passes all of them with probability 0.5**7, under 1%.
LAUNCHES = 7


def test_every_data_parallel_launch_exits_0_and_only_rank_0_writes(tmp_path, children):
    """Issue 23: rank 1 aborted at exit (SIGABRT) in 3 of 6 launches after training to the end,
    and torchrun then exits 1. Every launch here trains the run again (the suite's data is kept),
    and each exit status is checked, with which process wrote each file."""
    out, run_path = tmp_path / "out", tmp_path / "out" / "tiny" / "attn2"
    for i in range(LAUNCHES):
        shutil.rmtree(run_path, ignore_errors=True)
        log = tmp_path / f"writes{i}"
        proc = launch(out, "--set", "train.steps=6", "--no-live-metrics", processes=2, writes_log=log)
        children.append(proc)
        _, err = proc.communicate(timeout=600)  # an upper bound only: a launch takes seconds
        assert proc.returncode == 0, f"launch {i + 1} of {LAUNCHES} exited {proc.returncode}:\n{err[-3000:]}"
        assert schema.read_manifest(run_path).status == "complete"
        ours = writes(log, rank=0)
        assert ("os.rename", str(run_path / schema.MANIFEST)) in ours  # the recorder sees rank 0's writes
        assert any(path.startswith(str(run_path / "snapshots")) for _, path in ours)
        assert writes(log, rank=1) == [], f"rank 1 wrote: {writes(log, rank=1)[:5]}"


def test_the_global_batch_must_split_evenly_over_the_processes():
    distributed.check_batch(8, distributed.World(rank=1, size=2, launched=True))
    with pytest.raises(ConfigError, match="train.batch_size 8 must be divisible by the number of processes"):
        distributed.check_batch(8, distributed.World(rank=0, size=3, launched=True))
    x = torch.arange(8)[:, None]
    assert distributed.shard(x, distributed.World(rank=1, size=2, launched=True)).flatten().tolist() == [4, 5, 6, 7]
    assert distributed.shard(x, distributed.SINGLE) is x


def test_without_torchrun_the_process_is_the_single_world(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert distributed.from_env() == distributed.SINGLE and distributed.SINGLE.is_main
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.from_env() == distributed.World(rank=3, size=4, local_rank=1, launched=True)
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="RANK"):
        distributed.from_env()


def test_reduced_precision_on_a_cpu_is_refused_naming_the_field(tmp_path):
    for precision in ("bf16", "tf32"):
        with pytest.raises(ConfigError, match=f"train.precision: {precision} needs a CUDA device"):
            autocast_dtype(precision, torch.device("cpu"))
    assert autocast_dtype("fp32", torch.device("cpu")) is None
    preset = apply_overrides(
        presets.load("tiny"), ["data.source=synthetic-repeats", "train.precision=bf16", "train.steps=2"]
    )
    with pytest.raises(ConfigError, match="train.precision: bf16 needs a CUDA device"):
        train_suite(preset, tmp_path, "tiny", runs=["attn1"], device="cpu", log=lambda *_: None)
    assert not (tmp_path / "tiny" / "attn1").exists()  # refused before anything of the run was written


def _bf16_steps(device: str, autocast):
    cfg = apply_overrides(presets.load("tiny"), ["model.d_vocab=40"]).model
    torch.manual_seed(0)
    model = Transformer(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randint(0, cfg.d_vocab, (4, cfg.n_ctx), generator=torch.Generator().manual_seed(1)).to(device)
    losses = [train_step(model, opt, x, lr=1e-2, grad_clip=1.0, autocast=autocast) for _ in range(3)]
    return losses, model


@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]
)
def test_a_bf16_autocast_step_follows_the_fp32_one_and_keeps_fp32_weights(device):
    # The step itself runs on a CPU too (only the config refuses it there, for speed): what is
    # tested here is the plumbing, the losses agreeing to bf16's precision, and fp32 weights.
    fp32, _ = _bf16_steps(device, None)
    bf16, model = _bf16_steps(device, torch.bfloat16)
    np.testing.assert_allclose(bf16, fp32, rtol=2e-2)
    assert bf16 != fp32  # the autocast really ran in bfloat16
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_a_bf16_run_on_cuda_records_device_and_precision_and_stores_fp32(tmp_path):
    preset = apply_overrides(presets.load("tiny"), ["train.precision=bf16", "train.steps=20"])
    suite = train_suite(preset, tmp_path, "tiny", runs=["attn2"], device="cuda", log=lambda *_: None)
    manifest = schema.read_manifest(suite / "attn2")
    assert manifest.device.startswith("cuda") and (manifest.precision, manifest.train["precision"]) == ("bf16", "bf16")
    weights = load_file(suite / "attn2" / "snapshots" / manifest.snapshots[-1].file)
    assert all(w.dtype == torch.float32 for w in weights.values())
    assert manifest.snapshots[-1].heldout_loss < manifest.snapshots[0].heldout_loss
