"""The analysis pipeline: stacked metrics, live metrics, incremental passes, suite tables, claims report."""

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from training.core import hooked
from training.core.analysis import registry, scores, shortcuts
from training.core.analysis.registry import Probe
from training.core.artifacts import schema
from training.pipeline import presets
from training.pipeline.analyze import (
    analysis_config,
    analyze_run,
    pca_token_set,
    run_inputs,
    stack_run_metrics,
)
from training.pipeline.analyze_suite import analyze_suite
from training.pipeline.cli import main
from training.pipeline.config import apply_overrides
from training.pipeline.live import live_metrics
from training.pipeline.train import train_suite

PER_HEAD = [
    "prefix_matching",
    "previous_token",
    "duplicate_token",
    "copying",
    "copying_ov",
    "eigenvalue_positivity",
    "logit_attribution",
    "ablation_mean_delta_loss",
    "ablation_mean_delta_icl",
    "ablation_pp_delta_loss",
    "ablation_pp_delta_icl",
]


def test_every_snapshot_of_every_run_is_analysed_with_its_settings(tiny_suite):
    for run in schema.list_runs(tiny_suite):
        manifest = schema.read_manifest(tiny_suite / run)
        index = schema.read_metrics_index(tiny_suite / run)
        n, layers, heads = len(manifest.snapshots), manifest.model["n_layers"], manifest.model["n_heads"]
        assert index.steps == [s.step for s in manifest.snapshots] and index.complete
        for name in PER_HEAD:
            assert schema.read_metric(tiny_suite / run, name).shape == (n, layers, heads)
        assert schema.read_metric(tiny_suite / run, "composition_k").shape == (n, layers, heads, layers, heads)
        assert schema.read_metric(tiny_suite / run, "loss_by_position").shape == (n, manifest.model["n_ctx"] - 1)
        assert schema.read_metric(tiny_suite / run, "per_token_loss").shape == (n, 256)
        settings = index.settings
        assert settings["pca_tokens"] == 256 and settings["icl_late"] > settings["icl_early"] >= 0
        assert set(index.arrays) == {m.name for m in registry.METRICS}  # the registry is what is stored
        ablated = ~np.isnan(schema.read_metric(tiny_suite / run, "ablation_mean_delta_icl")).all(axis=(1, 2))
        assert ablated[::4].all() and not ablated[1:4].any() and ablated[-1]  # ablation_every=4, and the last


def test_stored_prefix_matching_equals_a_fresh_computation(tiny_suite):
    run = tiny_suite / "attn2"
    index = schema.read_metrics_index(run)
    step = index.steps[-1]
    inputs = run_inputs(tiny_suite, 64, analysis_config(schema.read_manifest(run)))
    model = hooked.load_hooked(run, step)  # the HookedTransformer agrees with the training model
    fresh = scores.prefix_matching_scores(model, inputs.prefix_tokens, n_random=inputs.prefix_random)
    assert np.allclose(schema.read_metric(run, "prefix_matching")[-1], fresh.numpy(), atol=1e-5)
    assert index.scalars["max_prefix_matching"][-1] == pytest.approx(float(fresh.max()), abs=1e-5)


def test_live_metrics_equal_the_analysis_values_at_the_same_snapshot(tiny_suite, tmp_path):
    """What the trainer stored at every snapshot (stage "live", read before anything else is
    done to the run) equals the analysis's measurement of that snapshot: its weights read back
    from disk, its inputs built from the suite, its registry. A trainer measuring other weights
    (before the step, a stale copy), other inputs or another mode fails here."""
    suite = tmp_path / "tiny"
    shutil.copytree(tiny_suite, suite, ignore=shutil.ignore_patterns("attn*", "smeared*", "mlp*"))
    preset = apply_overrides(presets.load("tiny"), ["train.steps=12"])
    train_suite(preset, tmp_path, "tiny", runs=["attn2"], log=lambda *_: None)  # the suite's data is reused
    run = suite / "attn2"
    manifest = schema.read_manifest(run)
    cfg = analysis_config(manifest)
    stored = {}
    for entry in manifest.snapshots:
        stage, stored[entry.step] = schema.read_snapshot_metrics(
            schema.metrics_snapshot_path(run, entry.step), cfg.settings_hash()
        )
        assert stage == "live", (entry.step, stage)  # the trainer's own values, untouched
    inputs = run_inputs(suite, manifest.model["n_ctx"], cfg)
    assert len(stored) == len(manifest.snapshots) > 10
    for entry in manifest.snapshots:
        fresh = registry.measure(Probe(schema.load_models(run, manifest, entry, hooked=False).fast, inputs), ["live"])
        assert set(stored[entry.step]) == set(fresh) == set(registry.LIVE)
        for name, value in fresh.items():
            np.testing.assert_allclose(
                stored[entry.step][name].numpy(),
                value.numpy(),
                atol=1e-6,
                rtol=0,
                err_msg=f"{name} at step {entry.step}",
            )
    assert set(registry.LIVE) >= {"prefix_matching", "previous_token", "icl_score", "loss_by_position"}


def _copy_of_attn1(tiny_suite, tmp_path):
    """attn1 of a copy of the tiny suite: (its path, manifest, analysis settings, analysis inputs)."""
    suite = tmp_path / "tiny"
    shutil.copytree(tiny_suite, suite)
    run = suite / "attn1"
    manifest = schema.read_manifest(run)
    cfg = analysis_config(manifest)
    return run, manifest, cfg, run_inputs(suite, 64, cfg)


def test_a_snapshot_measured_live_is_completed_by_the_analysis_and_served_before(tiny_suite, tmp_path):
    run, manifest, cfg, inputs = _copy_of_attn1(tiny_suite, tmp_path)
    full = schema.read_metric(run, "copying")
    # As the trainer leaves it: the last two snapshots measured live only.
    for entry in manifest.snapshots[-2:]:
        fast = schema.load_models(run, manifest, entry, hooked=False).fast
        schema.write_snapshot_metrics(run, entry.step, live_metrics(fast, inputs), cfg.settings_hash(), "live")
    index = stack_run_metrics(run, manifest, cfg, inputs)
    assert index.stages[-2:] == ["live", "live"] and not index.complete
    assert np.isnan(schema.read_metric(run, "copying", index)[-2:]).all()
    assert not np.isnan(schema.read_metric(run, "prefix_matching", index)[-2:]).any()
    logs = []
    index = analyze_run(run, cfg, log=logs.append)
    assert index.complete and logs[0].startswith("attn1: analysed 2/2")
    assert np.allclose(schema.read_metric(run, "copying", index), full, equal_nan=True)


def test_analysis_is_incremental_and_picks_up_new_snapshots(tiny_suite, tmp_path):
    suite = tmp_path / "tiny"
    shutil.copytree(tiny_suite, suite)
    run = suite / "attn1"
    before = schema.read_metric(run, "prefix_matching")
    manifest = schema.read_manifest(run)
    cfg = analysis_config(manifest)
    # A run "still training": the manifest lists fewer snapshots, two metric files are missing.
    latest = manifest.snapshots[-1]
    schema.write_manifest(run, dataclasses.replace(manifest, snapshots=manifest.snapshots[:-1], status="training"))
    for s in manifest.snapshots[5:7] + [latest]:
        schema.metrics_snapshot_path(run, s.step).unlink()
    logs = []
    analyze_run(run, cfg, log=logs.append)
    assert logs == ["attn1: analysed 2/2 snapshots" + logs[0][len("attn1: analysed 2/2 snapshots") :]]
    assert len(schema.read_metrics_index(run).steps) == len(manifest.snapshots) - 1
    schema.write_manifest(run, manifest)  # the next snapshot arrives
    logs.clear()
    analyze_run(run, cfg, log=logs.append)
    assert len(logs) == 1 and logs[0].startswith("attn1: analysed 1/1")
    assert np.allclose(schema.read_metric(run, "prefix_matching"), before, equal_nan=True)
    analyze_run(run, cfg, log=logs.append)
    assert len(logs) == 1  # nothing left to do


SHORTCUTS = ("prefix_by_period", "offset_attention")


def without(run, names) -> None:
    """Leave the named metrics out of every snapshot file of a run and of its stacked arrays:
    the run as an analysis before they existed left it."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    for path in sorted((schema.metrics_dir(run) / "snapshots").glob("step_*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            meta = {k: v for k, v in f.metadata().items() if k != "coords"}
        kept = {k: v for k, v in load_file(str(path)).items() if k not in names}
        schema.atomic_write_safetensors(path, kept, meta)
    index = schema.read_metrics_index(run)
    for name in names:
        (schema.metrics_dir(run) / index.arrays[name].file).unlink()
    arrays = {k: v for k, v in index.arrays.items() if k not in names}
    schema.write_metrics_index(run, dataclasses.replace(index, arrays=arrays))


def only_measuring(monkeypatch, names) -> None:
    """Every other metric of the registry raises if it is computed."""

    def refuse(probe, name):
        raise AssertionError(f"{name} was measured again")

    metrics = tuple(
        m if m.name in names else dataclasses.replace(m, compute=lambda p, n=m.name: refuse(p, n))
        for m in registry.METRICS
    )
    monkeypatch.setattr(registry, "METRICS", metrics)


def snapshot_files(run) -> dict:
    from safetensors.torch import load_file

    paths = sorted((schema.metrics_dir(run) / "snapshots").glob("step_*.safetensors"))
    return {p.name: load_file(str(p)) for p in paths}


def test_analyze_adds_the_shortcut_metrics_to_a_suite_analysed_before_them(tiny_suite, tmp_path, monkeypatch):
    """`python -m training analyze` on a suite analysed before the two metrics existed measures
    them, and nothing else, at every snapshot, and stores their periods and offsets."""
    suite = tmp_path / "tiny"
    shutil.copytree(tiny_suite, suite)
    run = suite / "smeared1"
    without(run, SHORTCUTS)
    before_files = snapshot_files(run)
    before = {name: schema.read_metric(run, name) for name in schema.read_metrics_index(run).arrays}
    only_measuring(monkeypatch, SHORTCUTS)
    assert main(["analyze", str(suite), "--runs", "smeared1"]) == 0
    index = schema.read_metrics_index(run)
    n = len(index.steps)
    for name, array in before.items():  # every other metric untouched, in the arrays and the files
        assert np.array_equal(schema.read_metric(run, name, index), array, equal_nan=True), name
    for file, tensors in snapshot_files(run).items():
        assert set(tensors) == set(before_files[file]) | set(SHORTCUTS)
        assert all(np.array_equal(tensors[k], v, equal_nan=True) for k, v in before_files[file].items()), file
    assert index.arrays["prefix_by_period"].coords == {"period": [2, 6, 12, 25, 31, 32]}
    assert index.arrays["offset_attention"].coords == {"offset": [1, 2, 16, 31, 32, 47]}
    assert index.arrays["prefix_by_period"].axes == ["snapshot", "layer", "head", "period"]
    assert schema.read_metric(run, "prefix_by_period", index).shape == (n, 1, 2, 6)
    assert not np.isnan(schema.read_metric(run, "offset_attention", index)).any()
    logs = []
    analyze_run(run, analysis_config(schema.read_manifest(run)), log=logs.append)
    assert logs == []  # nothing left to measure


def test_a_metric_stored_with_other_offsets_is_measured_again_and_only_it(tiny_suite, tmp_path, monkeypatch):
    """The periods and offsets are code constants, not settings: changing them re-measures the
    metric they belong to (its stored coordinates no longer match), and nothing else."""
    suite = tmp_path / "tiny"
    shutil.copytree(tiny_suite, suite)
    run = suite / "attn1"
    before = schema.read_metric(run, "prefix_by_period")
    monkeypatch.setattr(shortcuts, "sweep_offsets", lambda n_ctx: (1, n_ctx // 2 - 1))
    only_measuring(monkeypatch, ["offset_attention"])
    logs = []
    index = analyze_run(run, analysis_config(schema.read_manifest(run)), log=logs.append)
    assert logs[-1].startswith(f"attn1: analysed {len(index.steps)}/{len(index.steps)}")
    assert index.arrays["offset_attention"].coords == {"offset": [1, 31]}
    offsets = schema.read_metric(run, "offset_attention", index)
    assert offsets.shape == (len(index.steps), 1, 2, 2) and not np.isnan(offsets).any()
    assert np.array_equal(schema.read_metric(run, "prefix_by_period", index), before)


def test_a_metric_whose_definition_changed_is_measured_again_and_only_it(tiny_suite, tmp_path, monkeypatch):
    """Raising a metric's `version` (a new definition under the same name, as `copying` 2) makes
    the analysis measure it again at every snapshot, record the version, and keep the rest."""
    from safetensors import safe_open

    suite = tmp_path / "tiny"
    shutil.copytree(tiny_suite, suite)
    run = suite / "attn2"
    before = {name: schema.read_metric(run, name) for name in schema.read_metrics_index(run).arrays}
    assert registry.versions() == {"copying": 2}
    redefined = tuple(
        dataclasses.replace(m, version=3, compute=lambda p: torch.full((p.fast.cfg.n_layers, p.fast.cfg.n_heads), 0.25))
        if m.name == "copying"
        else m
        for m in registry.METRICS
    )
    monkeypatch.setattr(registry, "METRICS", redefined)
    only_measuring(monkeypatch, ["copying"])
    index = analyze_run(run, analysis_config(schema.read_manifest(run)), log=lambda _: None)
    assert (schema.read_metric(run, "copying", index) == 0.25).all()
    for name, array in before.items():
        if name != "copying":
            assert np.array_equal(schema.read_metric(run, name, index), array, equal_nan=True), name
    for path in (schema.metrics_dir(run) / "snapshots").glob("step_*.safetensors"):
        with safe_open(str(path), framework="pt") as f:
            assert f.metadata()["versions"] == '{"copying": 3}'
    logs = []
    analyze_run(run, analysis_config(schema.read_manifest(run)), log=logs.append)
    assert logs == []  # measured under version 3 now: nothing left to do


@pytest.mark.parametrize("name", ["attn2", "smeared1"])
def test_stored_shortcut_metrics_equal_a_fresh_computation_with_transformer_lens(tiny_suite, name):
    """The analysis (the training model's patterns) and TransformerLens (the hooked model, smeared
    keys as a hook) give the same period and offset profiles."""
    run = tiny_suite / name
    index = schema.read_metrics_index(run)
    inputs = run_inputs(tiny_suite, 64, analysis_config(schema.read_manifest(run)))
    model = hooked.load_hooked(run, index.steps[-1])
    by_period = torch.stack(
        [
            torch.stack([shortcuts.period_prefix_score(pat, p) for pat in scores.attention_patterns(model, x)])
            for p, x in inputs.period_tokens
        ],
        dim=-1,
    )
    eval_patterns = scores.attention_patterns(model, inputs.eval_tokens)
    by_offset = torch.stack([shortcuts.offset_attention(pat, inputs.attention_offsets) for pat in eval_patterns])
    assert np.allclose(schema.read_metric(run, "prefix_by_period", index)[-1], by_period.numpy(), atol=1e-5)
    assert np.allclose(schema.read_metric(run, "offset_attention", index)[-1], by_offset.numpy(), atol=1e-5)
    assert [p for p, _ in inputs.period_tokens] == index.arrays["prefix_by_period"].coords["period"]


def test_suite_tables_cover_every_run(tiny_suite):
    pca = schema.read_analysis(tiny_suite, "pca")
    phase = {run: schema.to_json(w) for run, w in schema.read_phases(tiny_suite).items()}
    assert set(pca["runs"]) == set(phase) == set(schema.list_runs(tiny_suite))
    assert len(pca["explained_variance"]) == pca["components"] and 0 < sum(pca["explained_variance"]) <= 1 + 1e-6
    for _run, table in pca["runs"].items():
        assert len(table["coords"]) == len(table["steps"]) and len(table["coords"][0]) == pca["components"]
    assert all(p["found"] is False and p["reason"] for p in phase.values())  # 150 steps: no phase change


def test_claims_report_lists_every_claim_with_numbers(tiny_suite):
    report = schema.to_json(schema.read_report(tiny_suite))
    assert [c["id"] for c in report["claims"]] == list("abcdefg")
    assert all(c["status"] in ("pass", "fail", "inconclusive", "n/a") and c["details"] for c in report["claims"])
    a = report["claims"][0]
    assert a["status"] == "fail" and set(a["numbers"]["peaks"]) == {"attn1", "attn2", "attn3", "mlp2"}
    md = (schema.analysis_dir(tiny_suite) / "report.md").read_text()
    assert md.count("| **") == 7 and "attn2" in md


def test_analyze_cli_rejects_bad_settings_and_missing_suites(tiny_suite, tmp_path, capsys):
    assert main(["analyze", str(tiny_suite), "--set", "analysis.pca_tokens=two"]) == 2
    assert "analysis.pca_tokens: expected int" in capsys.readouterr().err
    assert main(["analyze", str(tiny_suite), "--set", "train.lr=1"]) == 2
    assert main(["analyze", str(tmp_path / "nosuite")]) == 2
    assert "not a suite folder" in capsys.readouterr().err


def test_two_layer_model_forms_an_induction_head_on_synthetic_repeats_and_one_layer_does_not(tmp_path):
    """Issue 3's end-to-end check: under a minute of training on `synthetic-repeats`."""
    from training.pipeline.config import apply_overrides

    preset = apply_overrides(
        presets.load("tiny"),
        [
            "data.source=synthetic-repeats",
            "data.synthetic_vocab=32",
            "data.synthetic_tokens=400000",
            "train.steps=1200",
            "train.batch_size=32",
            "train.lr=3e-3",
            "analysis.ablations=false",
        ],
    )
    suite = train_suite(preset, tmp_path, "syn", runs=["attn1", "attn2"], log=lambda *_: None)
    analyze_suite(suite)
    two = schema.read_metrics_index(suite / "attn2").scalars["max_prefix_matching"]
    one = schema.read_metrics_index(suite / "attn1").scalars["max_prefix_matching"]
    assert max(two) > 0.5 and two[0] < 0.1
    assert max(one) < 0.2
    head = schema.read_metrics_index(suite / "attn2").scalars["max_prefix_head"][-1]
    assert head[0] == 1  # the induction head is in the second layer


@pytest.mark.parametrize("positional", ["standard", "rotary"])
def test_one_token_per_context_is_scored_on_its_own_unpadded_prefix(positional):
    # Issue 12: each context starts at position 0, as when it is run alone; nothing in front.
    import torch

    from training.core.config import ModelConfig
    from training.core.model import Transformer, next_token_loss

    torch.manual_seed(0)
    model = Transformer(
        ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, n_ctx=32, d_vocab=50, positional=positional)
    )
    heldout = np.random.default_rng(1).integers(1, 50, size=2000)
    chunks = pca_token_set(heldout, n_ctx=32, n_tokens=40, seed=3, per_context=1)
    assert sum(len(x) for x, _ in chunks) == 40
    with torch.no_grad():
        for x, idx in chunks:
            batched = next_token_loss(model(x), x).gather(1, idx)[:, 0]
            for row, i, loss in zip(x, idx[:, 0], batched):
                alone = row[: int(i) + 2][None]  # the context up to its scored token, nothing else
                assert not (alone == 0).any()  # no BOS filler inside what is scored
                torch.testing.assert_close(loss, next_token_loss(model(alone), alone)[0, -1], atol=1e-5, rtol=1e-5)


def test_ablations_are_denser_inside_the_phase_window_than_outside_it():
    from training.pipeline.analyze import ablates
    from training.pipeline.config import AnalysisConfig

    cfg = AnalysisConfig(ablation_every=6, ablation_every_in_window=2)
    steps = list(range(0, 3000, 100))  # snapshot i at step 100 i; the window 1,000-2,000
    chosen = [i for i, s in enumerate(steps) if ablates(cfg, i, s, (1000, 2000), last=i == len(steps) - 1)]
    assert chosen == [0, 6, 10, 12, 14, 16, 18, 20, 24, 29]
    no_window = [i for i, s in enumerate(steps) if ablates(cfg, i, s, None, last=False)]
    assert no_window == [0, 6, 12, 18, 24]
    same = AnalysisConfig(ablation_every=3)  # without its own setting the window is ablated as elsewhere
    assert [i for i in range(12) if ablates(same, i, 100 * i, (0, 2000), last=False)] == [0, 3, 6, 9]
    assert not ablates(AnalysisConfig(ablations=False), 0, 0, None, last=True)


def test_the_analysis_takes_the_wide_icl_scores_first_contexts_from_the_trainers_live_ones(tiny_suite, tmp_path):
    """The live ICL contexts are the first of the wide score's: the analysis reads their stored
    values instead of measuring them again (marked here, so a recomputation would show)."""
    run, manifest, cfg, inputs = _copy_of_attn1(tiny_suite, tmp_path)
    full = schema.read_metric(run, "icl_wide_by_example")
    entry = manifest.snapshots[-1]
    live = live_metrics(schema.load_models(run, manifest, entry, hooked=False).fast, inputs)
    n_live = len(live["icl_live_by_example"])
    np.testing.assert_allclose(live["icl_live_by_example"].numpy(), full[-1, :n_live], atol=1e-6)
    live["icl_live_by_example"] = live["icl_live_by_example"] + 1.0  # the mark
    schema.write_snapshot_metrics(run, entry.step, live, cfg.settings_hash(), "live")
    index = analyze_run(run, cfg, log=lambda *_: None)
    wide = schema.read_metric(run, "icl_wide_by_example", index)[-1]
    assert 0 < n_live < len(wide)
    np.testing.assert_array_equal(wide[:n_live], live["icl_live_by_example"].numpy())
    np.testing.assert_allclose(wide[n_live:], full[-1, n_live:], atol=1e-6)  # the rest measured
