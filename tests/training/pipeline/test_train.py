"""End to end: the tiny suite, exact resume after SIGKILL, atomic manifests."""

import dataclasses
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import REPO, wait_while_progressing
from training.core import hooked
from training.core.artifacts import schema
from training.core.artifacts.records import Manifest
from training.core.config import ConfigError
from training.core.model import Transformer
from training.pipeline import data, presets
from training.pipeline.config import RunSpec, apply_overrides
from training.pipeline.schedule import learning_rate, snapshot_steps
from training.pipeline.train import train_step

RUNS = ["attn1", "attn2", "attn3", "smeared1", "mlp2"]


def test_tiny_suite_writes_every_run_with_at_least_40_verified_snapshots(tiny_suite):
    assert schema.list_runs(tiny_suite) == sorted(RUNS)
    for run in RUNS:
        manifest = schema.read_manifest(tiny_suite / run)
        assert manifest.status == "complete"
        snaps = manifest.snapshots
        assert len(snaps) >= 40 and snaps[0].step == 0
        assert [s.step for s in snaps] == manifest.snapshot_steps
        for s in snaps:
            assert schema.sha256_file(tiny_suite / run / "snapshots" / s.file) == s.sha256
            assert s.tokens_seen == s.step * manifest.tokens_per_step
        assert snaps[-1].heldout_loss < snaps[0].heldout_loss - 0.5  # it learned
        losses = np.load(tiny_suite / run / "train_loss.npy")
        assert losses.shape == (manifest.train["steps"],) and np.isfinite(losses).all()
        assert manifest.data["train_documents"] and manifest.data["train_tokens"] > 0
        assert not (tiny_suite / run / "resume").exists() or not any((tiny_suite / run / "resume").iterdir())
    assert (tiny_suite / "tokenizer.json").exists()


@pytest.mark.parametrize("run", RUNS)
def test_load_hooked_matches_the_training_model_on_a_test_batch(tiny_suite, run):
    manifest = schema.read_manifest(tiny_suite / run)
    entry = schema.find_snapshot(manifest, "latest")
    model = Transformer(hooked.model_config_from_manifest(manifest))
    model.load_state_dict(schema.read_snapshot(tiny_suite / run, entry))
    tokens = data.eval_batch(data.load_split(tiny_suite, "heldout"), n_sequences=4, n_ctx=model.cfg.n_ctx)
    ht = hooked.load_hooked(tiny_suite / run, entry.step)
    assert (ht(tokens) - model(tokens)).abs().max().item() <= 1e-4
    assert ht.to_tokens("def f(x):", prepend_bos=False).shape[1] >= 1  # the suite tokenizer is attached


def test_corrupt_snapshot_is_reported_by_name(tiny_suite, tmp_path):
    import shutil

    run = tmp_path / "attn1"
    shutil.copytree(tiny_suite / "attn1", run)
    entry = schema.read_manifest(run).snapshots[3]
    (run / "snapshots" / entry.file).write_bytes(b"garbage")
    with pytest.raises(schema.ArtifactError, match=entry.file):
        hooked.load_hooked(run, entry.step, with_tokenizer=False)


def test_every_run_sees_the_same_batches(tmp_path, monkeypatch):
    """The batches two runs of one suite were trained on, recorded as the trainer steps."""
    from training.pipeline import train

    seen, step = [], train.train_step

    def recording_step(model, opt, x, **kwargs):
        seen.append((model.cfg.n_layers, x.clone()))
        return step(model, opt, x, **kwargs)

    monkeypatch.setattr(train, "train_step", recording_step)
    preset = apply_overrides(presets.load("tiny"), ["data.source=synthetic-repeats", "train.steps=4"])
    train.train_suite(preset, tmp_path, "tiny", runs=["attn1", "attn2"], live_metrics=False, log=lambda *_: None)
    one = [x for layers, x in seen if layers == 1]
    two = [x for layers, x in seen if layers == 2]
    assert len(one) == len(two) == 4 and len(seen) == 8
    assert all(torch.equal(a, b) for a, b in zip(one, two))
    assert not torch.equal(one[0], one[1])  # a new batch each step


def test_schedules_warm_up_and_cover_the_run():
    cfg = presets.load("default").train
    assert learning_rate(cfg, 0) < learning_rate(cfg, cfg.warmup_steps) == pytest.approx(cfg.lr)
    for name in presets.names():
        preset = presets.load(name)
        for run in preset.runs:
            cfg = preset.run_train(run)
            steps = snapshot_steps(cfg)
            assert len(steps) >= 40 and steps[0] == 0 and steps[-1] == cfg.steps


def test_runs_have_their_own_step_budgets_and_an_explicit_step_count_sets_them_all():
    preset = presets.load("default")
    budgets = {r.name: preset.run_train(r).steps for r in preset.runs}
    assert budgets == {"attn2": 28_571, "attn1": 13_000, "smeared1": 5_000, "mlp2": 28_000, "attn3": 24_000}
    # attn2's snapshots 408 steps apart, as under its old 20,000 cap: its crossing at the same snapshot
    assert 7_755 in snapshot_steps(preset.run_train(preset.runs[0])) and preset.runs[0].name == "attn2"
    rates = {r.name: preset.run_train(r).lr for r in preset.runs}
    assert rates == {"attn2": 3e-3, "attn1": 3e-3, "smeared1": 3e-3, "mlp2": 5e-3, "attn3": 5e-3}
    short = apply_overrides(preset, ["train.steps=50"])
    assert {short.run_train(r).steps for r in short.runs} == {50}
    with pytest.raises(ConfigError, match="runs.x.steps must be positive"):
        RunSpec("x", steps=0)


def test_a_run_may_change_its_own_training_settings_and_an_explicit_one_sets_them_all():
    preset = presets.load("tiny")
    runs = (dataclasses.replace(preset.runs[0], train={"lr": 5e-3}), *preset.runs[1:])
    preset = dataclasses.replace(preset, runs=runs)
    assert preset.run_train(runs[0]).lr == 5e-3
    assert preset.run_train(runs[1]).lr == preset.train.lr != 5e-3
    assert preset.run_train(runs[0]).batch_size == preset.train.batch_size  # only what it names
    every = apply_overrides(preset, ["train.lr=2e-3"])
    assert {every.run_train(r).lr for r in every.runs} == {2e-3}
    other = apply_overrides(preset, ["train.batch_size=4"])
    assert other.run_train(other.runs[0]).lr == 5e-3  # another key leaves the run's own
    with pytest.raises(ConfigError, match="runs.x.train may not set seed, steps"):
        RunSpec("x", train={"steps": 10, "seed": 1})
    with pytest.raises(ConfigError, match="unknown key train.learning_rate"):
        preset.run_train(RunSpec("x", train={"learning_rate": 1e-3}))


def _steps(model, loss_fn, n=3):
    torch.manual_seed(0)
    m = Transformer(model)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    x = torch.randint(0, model.d_vocab, (4, model.n_ctx))
    return [train_step(m, opt, x, lr=1e-2, grad_clip=1.0, loss_fn=loss_fn) for _ in range(n)]


# One branch of the compile test, in a fresh process: inductor keeps the C++ compiler it looked up
# for the process's life, and run after the compiler-less branch in one process, the other branch
# silently ran eagerly too (the compiler's counters were the same in both). No compiled graph from
# an earlier process either: the fx graph and autograd caches are off.
COMPILE_BRANCH = """
import json, sys, torch._functorch.config, torch._inductor.config
from torch._dynamo.utils import counters
from tests.training.pipeline.test_train import _steps
from training.pipeline import presets
from training.pipeline.config import apply_overrides
from training.pipeline.train import batch_loss, compiled_loss
torch._inductor.config.fx_graph_cache = False
torch._functorch.config.enable_autograd_cache = False
if sys.argv[1] == "without":
    torch._inductor.config.cpp.cxx = ("no-such-compiler-inductionscope",)
model = apply_overrides(presets.load("tiny"), ["model.d_vocab=40"]).model
eager, compiled = _steps(model, batch_loss), _steps(model, compiled_loss())
aot, graphs = dict(counters["aot_autograd"]), counters["stats"]["unique_graphs"]
print(json.dumps({"eager": eager, "compiled": compiled, "aot": aot, "graphs": graphs, "breaks": len(counters["graph_break"])}))
"""


def compile_branch(compiler: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [sys.executable, "-c", COMPILE_BRANCH, compiler], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_a_compiled_step_trains_as_the_eager_one_and_falls_back_without_a_compiler():
    without = compile_branch("without")
    assert without["compiled"] == without["eager"]  # compiling failed: eager, bit for bit
    assert without["aot"].get("not_ok", 0) >= 1, without  # ... because compiling was tried, and failed
    with_compiler = compile_branch("with")
    np.testing.assert_allclose(with_compiler["compiled"], with_compiler["eager"], rtol=1e-5)
    # Compiled indeed, not a silent eager fallback: graphs captured and compiled, no graph break.
    aot = with_compiler["aot"]
    assert aot.get("ok", 0) >= 1 and aot.get("not_ok", 0) == 0, with_compiler
    assert with_compiler["graphs"] >= 1 and with_compiler["breaks"] == 0, with_compiler


def cli(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "training", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


# The analysis after training is not what these tests check: --no-analyze. The live metrics are.
RESUME_ARGS = ["train", "--preset", "tiny", "--runs", "attn2", "--no-analyze"]
RESUME_ARGS += ["--set", "train.steps=300", "--set", "train.resume_every=10"]


def snapshot_count(run_path) -> int:
    try:
        return len(json.loads((run_path / "manifest.json").read_text())["snapshots"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def wait_for_snapshots(proc, run_path, until: int | None = None) -> None:
    wait_while_progressing(proc, lambda: snapshot_count(run_path), until, "trainer")


def test_resume_after_sigkill_gives_the_same_snapshots_and_live_metrics(tmp_path, children):
    ref = cli(*RESUME_ARGS, "--out", str(tmp_path / "ref"))
    children.append(ref)
    ref_path = tmp_path / "ref" / "tiny" / "attn2"
    wait_for_snapshots(ref, ref_path)
    assert ref.returncode == 0, ref.stderr.read()
    ref_manifest = schema.read_manifest(ref_path)

    out = tmp_path / "killed"
    run_path = out / "tiny" / "attn2"
    kills = 0
    for wait_for in (5, 20):  # kill twice, at different points of training
        proc = cli(*RESUME_ARGS, "--out", str(out), "--resume")
        children.append(proc)
        wait_for_snapshots(proc, run_path, until=wait_for)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1
    # While killed, the manifest lists only complete, verified snapshots.
    partial = schema.read_manifest(run_path)
    assert partial.status == "training"
    for s in partial.snapshots:
        assert schema.sha256_file(run_path / "snapshots" / s.file) == s.sha256

    done = cli(*RESUME_ARGS, "--out", str(out), "--resume")
    children.append(done)
    wait_for_snapshots(done, run_path)
    assert done.returncode == 0, done.stderr.read()
    manifest = schema.read_manifest(run_path)

    def strip(snaps):
        return [(s.step, s.sha256, s.heldout_loss) for s in snaps]

    assert strip(manifest.snapshots) == strip(ref_manifest.snapshots)
    assert np.array_equal(np.load(run_path / "train_loss.npy"), np.load(ref_path / "train_loss.npy"))
    assert not list(run_path.glob("**/.*.tmp"))
    index = schema.read_metrics_index(run_path)
    assert index.steps == [s.step for s in manifest.snapshots] and set(index.stages) == {"live"}
    for name in ("prefix_matching", "icl_score", "loss_by_position"):
        assert np.array_equal(schema.read_metric(run_path, name), schema.read_metric(ref_path, name)), name


def test_incomplete_run_without_resume_is_refused(tmp_path):
    run_path = tmp_path / "tiny" / "attn1"
    run_path.mkdir(parents=True)
    manifest = Manifest(
        suite="tiny", run="attn1", status="training", model={}, train={}, analysis={}, tokens_per_step=1, snapshots=[]
    )
    schema.write_manifest(run_path, manifest)
    preset = apply_overrides(presets.load("tiny"), [])
    from training.core.config import ConfigError
    from training.pipeline.train import train_suite

    with pytest.raises(ConfigError, match="--resume"):
        train_suite(preset, tmp_path, "tiny", runs=["attn1"], log=lambda *_: None)
