"""The plateau rule in the trainer: a run stops where its phase change is over, or is marked
unfinished at its cap (the rule itself on hand-built curves: tests/training/core/analysis/test_trajectory.py)."""

from __future__ import annotations

import numpy as np
import pytest

from training.core.artifacts import schema
from training.core.artifacts.records import PhaseEnd
from training.core.config import ConfigError
from training.pipeline import presets, stop
from training.pipeline.config import apply_overrides
from training.pipeline.schedule import snapshot_steps
from training.pipeline.train import train_suite

SETTINGS = ["data.source=synthetic-repeats", "data.synthetic_tokens=50000", "train.stop=plateau", "train.steps=120"]


def judged_over_from(step: int, seen: list[int]):
    """A stand-in for the rule: "over" from the first snapshot at or past `step`, on the curves
    the trainer has stored (the real judge's input: every measured snapshot so far)."""

    def judge(run_path, cfg):
        index = schema.read_metrics_index(run_path)
        seen.append(index.steps[-1])
        last = index.steps[-1]
        return PhaseEnd(last >= step, last, "test rule", cfg.steps, 10, 40, 0.01 if last >= step else 0.2, 15)

    return judge


def test_a_run_stops_at_the_first_snapshot_where_its_phase_change_is_over(tmp_path, monkeypatch):
    seen: list[int] = []
    monkeypatch.setattr(stop, "judge", judged_over_from(70, seen))
    preset = apply_overrides(presets.load("tiny"), SETTINGS)
    train_suite(preset, tmp_path, "tiny", runs=["attn2"], log=lambda *_: None)
    manifest = schema.read_manifest(tmp_path / "tiny" / "attn2")
    plan = snapshot_steps(preset.train)
    over = min(s for s in plan if s >= 70)
    assert manifest.status == "complete" and manifest.snapshots[-1].step == over
    assert manifest.snapshot_steps == [s for s in plan if s <= over] == [s.step for s in manifest.snapshots]
    assert manifest.phase_end.finished and manifest.phase_end.step == over and manifest.phase_end.cap == 120
    assert len(np.load(tmp_path / "tiny" / "attn2" / "train_loss.npy")) == over  # no step trained past it
    # judged at every snapshot it trained to, then once more for the manifest
    assert seen == [s for s in plan if 0 < s <= over] + [over]


def test_a_run_that_reaches_its_cap_with_the_phase_change_under_way_is_unfinished(tmp_path, monkeypatch):
    monkeypatch.setattr(stop, "judge", judged_over_from(10**9, []))
    preset = apply_overrides(presets.load("tiny"), SETTINGS)
    train_suite(preset, tmp_path, "tiny", runs=["attn2"], log=lambda *_: None)
    manifest = schema.read_manifest(tmp_path / "tiny" / "attn2")
    end = manifest.phase_end
    assert manifest.status == "complete" and manifest.snapshots[-1].step == 120
    assert not end.finished and (end.step, end.cap, end.final_rise) == (120, 120, 0.2)
    assert "still rising +0.200 over its last 15 steps" in stop.describe(end)


def test_the_real_rule_reads_the_live_curves_the_trainer_stored(tmp_path):
    preset = apply_overrides(presets.load("tiny"), SETTINGS)
    train_suite(preset, tmp_path, "tiny", runs=["attn2"], log=lambda *_: None)
    run = tmp_path / "tiny" / "attn2"
    manifest, index = schema.read_manifest(run), schema.read_metrics_index(run)
    # 120 steps of a tiny model form no head: the run goes to its cap, unfinished, and says why
    assert manifest.snapshots[-1].step == 120 and not manifest.phase_end.finished
    assert manifest.phase_end.reason.startswith("no phase window yet")
    assert manifest.phase_end == stop.judge(run, preset.train) and index.stages[-1] == "live"


def test_the_plateau_rule_needs_the_live_metrics_and_a_constant_rate(tmp_path):
    preset = apply_overrides(presets.load("tiny"), SETTINGS)
    with pytest.raises(ConfigError, match="train.stop: plateau reads the live metrics"):
        train_suite(preset, tmp_path, "tiny", runs=["attn2"], live_metrics=False, log=lambda *_: None)
    assert not any(tmp_path.iterdir())  # refused before anything is written
    with pytest.raises(ConfigError, match="train.stop plateau needs train.schedule=constant"):
        apply_overrides(presets.load("tiny"), [*SETTINGS, "train.schedule=cosine"])


def test_a_run_of_its_own_keeps_its_stop_rule_unless_one_is_set_for_all():
    preset = presets.load("default")
    rules = {r.name: preset.run_train(r).stop for r in preset.runs}
    assert rules == {"attn2": "plateau", "attn1": "steps", "smeared1": "steps", "mlp2": "plateau", "attn3": "plateau"}
    every = apply_overrides(preset, ["train.stop=steps"])
    assert {every.run_train(r).stop for r in every.runs} == {"steps"}
