"""The LLC over training in the analysis: which runs and snapshots, its own file written
atomically and incrementally, its own settings, and an `analyze` that adds it to a suite
analysed before it existed without measuring anything else again."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import shutil

import pytest

from training.core.analysis import llc as llc_science
from training.core.artifacts import schema
from training.core.config import ConfigError, LLCConfig
from training.pipeline.analyze_llc import analyze_run_llc, llc_config, llc_entries, llc_sequences
from training.pipeline.cli import main

TINY_LLC = {"attn2", "attn1"}  # the tiny preset's llc.runs


@pytest.fixture
def suite(tiny_suite, tmp_path):
    dest = tmp_path / "tiny"
    shutil.copytree(tiny_suite, dest)
    return dest


def quiet(*_):
    pass


def test_the_preset_runs_have_the_llc_of_every_kth_snapshot_and_the_last(tiny_suite):
    for run in schema.list_runs(tiny_suite):
        path = schema.llc_path(tiny_suite / run)
        assert path.exists() == (run in TINY_LLC), run
        if run not in TINY_LLC:
            continue
        manifest = schema.read_manifest(tiny_suite / run)
        cfg = llc_config(manifest)
        curve = schema.read_llc(tiny_suite / run)
        steps = [s.step for s in manifest.snapshots]
        assert [p.step for p in curve.points] == steps[cfg.every - 1 :: cfg.every] + [steps[-1]]
        assert curve.settings["hash"] == cfg.settings_hash() and curve.settings["devinterp"] == "2.0.1"
        for p in curve.points:
            assert math.isfinite(p.mean) and p.std >= 0 and len(p.per_chain) == cfg.chains
            assert p.mean == pytest.approx(sum(p.per_chain) / cfg.chains, abs=1e-5)
            assert [len(chain) for chain in p.loss_trace] == [cfg.burnin + cfg.draws] * cfg.chains
            assert p.tokens_seen == manifest.entry(p.step).tokens_seen and p.init_loss > 0


def test_stored_llc_equals_a_fresh_estimate_on_the_same_contexts(tiny_suite):
    run = tiny_suite / "attn2"
    manifest = schema.read_manifest(run)
    cfg = llc_config(manifest)
    point = schema.read_llc(run).points[-1]
    from training.pipeline.analyze import snapshot_fast

    model = snapshot_fast(run, manifest, manifest.entry(point.step))
    fresh = llc_science.estimate_llc(model, llc_sequences(tiny_suite, manifest, cfg), cfg)
    assert fresh.mean == pytest.approx(point.mean, abs=1e-5)
    assert fresh.init_loss == pytest.approx(point.init_loss, abs=1e-5)


def test_a_pass_estimates_only_what_is_missing_and_new_settings_estimate_again(suite):
    run = suite / "attn1"
    cfg = llc_config(schema.read_manifest(run))
    before = schema.read_llc(run)
    # One estimate lost (an interrupted pass): only it is estimated again, the others kept.
    schema.write_llc(run, dataclasses.replace(before, points=before.points[:2] + before.points[3:]))
    logs = []
    after = analyze_run_llc(run, cfg, log=logs.append)
    assert logs == [logs[0]] and logs[0].startswith("attn1: LLC of 1/1 snapshots")
    assert after == schema.read_llc(run)
    assert [p.step for p in after.points] == [p.step for p in before.points]
    assert after.points[:2] == before.points[:2] and after.points[3:] == before.points[3:]
    assert after.points[2].mean == pytest.approx(before.points[2].mean, abs=1e-6)  # seeded: the same estimate
    mtime = schema.llc_path(run).stat().st_mtime_ns
    analyze_run_llc(run, cfg, log=logs.append)  # nothing left to do: nothing written
    assert len(logs) == 1 and schema.llc_path(run).stat().st_mtime_ns == mtime
    # Which snapshots is not a sampler setting: fewer of them keeps every estimate.
    analyze_run_llc(run, dataclasses.replace(cfg, every=2 * cfg.every), log=logs.append)
    assert len(logs) == 1 and schema.llc_path(run).stat().st_mtime_ns == mtime
    # Another sampler setting: every snapshot is estimated again, with the new settings.
    other = dataclasses.replace(cfg, seed=cfg.seed + 1)
    again = analyze_run_llc(run, other, log=logs.append)
    assert logs[-1].startswith(f"attn1: LLC of {len(before.points)}/{len(before.points)} snapshots")
    assert again.settings["hash"] == other.settings_hash() != cfg.settings_hash()
    assert [p.mean for p in again.points] != [p.mean for p in before.points]


def test_a_failed_write_leaves_the_previous_file_and_a_new_pass_continues(suite, monkeypatch):
    run = suite / "attn2"
    cfg = llc_config(schema.read_manifest(run))
    before = schema.read_llc(run)
    schema.write_llc(run, dataclasses.replace(before, points=before.points[:1]))
    kept = schema.llc_path(run).read_bytes()
    real, writes = schema._write, []

    def full_disk(f, data, path):
        if path.name == schema.LLC:
            writes.append(path)
            if len(writes) == 2:  # the second estimate of the pass
                raise OSError(errno.ENOSPC, "No space left on device")
        real(f, data, path)

    monkeypatch.setattr(schema, "_write", full_disk)
    with pytest.raises(schema.ArtifactError, match="cannot write .*llc.json"):
        analyze_run_llc(run, cfg, log=quiet)
    assert [p.step for p in schema.read_llc(run).points] == [p.step for p in before.points[:2]]
    assert schema.llc_path(run).read_bytes() != kept and not list(run.glob("**/.*.tmp"))
    monkeypatch.setattr(schema, "_write", real)
    analyze_run_llc(run, cfg, log=quiet)
    assert [p.step for p in schema.read_llc(run).points] == [p.step for p in before.points]


def test_settings_come_from_the_manifest_then_the_preset_by_name_then_none(tmp_path):
    manifest = schema.Manifest(
        suite="s", run="r", status="complete", model={}, train={}, analysis={}, tokens_per_step=1, snapshots=[]
    )
    assert llc_config(manifest) == LLCConfig()  # no preset: no runs
    old = dataclasses.replace(manifest, preset="default")  # trained before manifests recorded it
    assert llc_config(old).runs == ("attn2", "attn1")
    recorded = dataclasses.replace(old, llc=dataclasses.asdict(LLCConfig(runs=("attn3",), draws=7)))
    schema.write_manifest(tmp_path, recorded)  # through JSON: the runs come back as a list
    assert json.loads((tmp_path / schema.MANIFEST).read_text())["llc"]["runs"] == ["attn3"]
    assert llc_config(schema.read_manifest(tmp_path)) == LLCConfig(runs=("attn3",), draws=7)
    assert llc_config(recorded, ["llc.runs=a,b", "llc.every=3"]) == LLCConfig(runs=("a", "b"), draws=7, every=3)
    with pytest.raises(ConfigError, match="field 'llc' does not load"):
        llc_config(dataclasses.replace(recorded, llc={"drawz": 3}))


def test_snapshots_are_every_kth_and_the_last_once():
    entries = [schema.SnapshotEntry(s, s, None, None, 0.0, schema.snapshot_name(s), "") for s in range(10)]
    manifest = schema.Manifest(
        suite="s", run="r", status="complete", model={}, train={}, analysis={}, tokens_per_step=1, snapshots=entries
    )
    assert [e.step for e in llc_entries(manifest, 3)] == [2, 5, 8, 9]
    assert [e.step for e in llc_entries(manifest, 5)] == [4, 9]
    assert [e.step for e in llc_entries(manifest, 20)] == [9]


def test_analyze_adds_the_llc_to_a_suite_analysed_before_it_and_touches_nothing_else(suite, capsys):
    for run in TINY_LLC:  # as a suite trained and analysed before the LLC existed
        schema.llc_path(suite / run).unlink()
        manifest = schema.read_manifest(suite / run)
        schema.write_manifest(suite / run, dataclasses.replace(manifest, llc={}))
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(suite.rglob("*")) if p.is_file()}
    assert main(["analyze", str(suite)]) == 0
    err = capsys.readouterr().err
    for run in TINY_LLC:
        assert f"{run}: LLC of 5/5 snapshots" in err and len(schema.read_llc(suite / run).points) == 5
    for path, (data, mtime) in files.items():
        assert path.read_bytes() == data, f"{path.relative_to(suite)} changed"
        if "metrics/snapshots" in str(path) or path.suffix == ".safetensors":  # measured again: rewritten
            assert path.stat().st_mtime_ns == mtime, f"{path.relative_to(suite)} was measured again"
    new = {p for p in suite.rglob("*") if p.is_file()} - set(files)
    assert {p.relative_to(suite).as_posix() for p in new} == {f"{run}/metrics/llc.json" for run in TINY_LLC}


def test_analyze_estimates_another_run_named_on_the_command_line(suite, capsys):
    assert not schema.llc_path(suite / "attn3").exists()
    argv = ["analyze", str(suite), "--runs", "attn3", "--set", "llc.runs=attn3", "--set", "llc.every=20"]
    assert main(argv) == 0
    assert "attn3: LLC of 3/3 snapshots" in capsys.readouterr().err
    assert len(schema.read_llc(suite / "attn3").points) == 3


@pytest.mark.parametrize(
    "setting, message",
    [
        ("llc.runs=attn9", "llc.runs: no run 'attn9'"),
        ("llc.epsilon=fast", "llc.epsilon: expected float, got 'fast'"),
        ("llc.chains=0", "llc.chains must be a positive integer"),
        ("llc.drawz=3", "unknown key 'llc.drawz'"),
    ],
)
def test_bad_llc_settings_are_a_one_line_error(tiny_suite, capsys, setting, message):
    assert main(["analyze", str(tiny_suite), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_train_rejects_an_llc_run_the_preset_does_not_have(tmp_path, capsys):
    assert main(["train", "--preset", "tiny", "--out", str(tmp_path), "--set", "llc.runs=attn2,attn9"]) == 2
    err = capsys.readouterr().err
    assert "llc.runs names no run of preset 'tiny': ['attn9']" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_train_records_the_llc_settings_and_estimates_after_the_run(tmp_path, capsys):
    argv = ["train", "--preset", "tiny", "--runs", "attn1", "--out", str(tmp_path), "--set", "train.steps=30"]
    assert main([*argv, "--set", "llc.every=20", "--set", "llc.draws=4"]) == 0
    run = tmp_path / "tiny" / "attn1"
    manifest = schema.read_manifest(run)
    assert manifest.llc["every"] == 20 and manifest.llc["draws"] == 4 and manifest.llc["runs"] == ["attn2", "attn1"]
    curve = schema.read_llc(run)
    assert [p.step for p in curve.points] == [manifest.snapshots[19].step, manifest.snapshots[-1].step]
    assert all(len(chain) == 2 + 4 for p in curve.points for chain in p.loss_trace)
    assert "attn1: LLC of 2/2 snapshots" in capsys.readouterr().err
