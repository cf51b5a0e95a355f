"""The metric registry: what is stored, with what shape, and how a new metric reaches the API."""

import shutil

import numpy as np
import pytest
import torch

from training.core.analysis import loss, registry, scores, shortcuts
from training.core.analysis.registry import Metric, Probe, ProbeInputs
from training.core.artifacts import schema
from training.core.config import ModelConfig
from training.core.model import Transformer, next_token_loss


def tiny_probe(n_layers: int = 2) -> Probe:
    torch.manual_seed(0)
    model = Transformer(ModelConfig(n_layers=n_layers, d_model=16, n_heads=2, d_head=8, n_ctx=32, d_vocab=50))
    g = torch.Generator().manual_seed(1)
    random = torch.randint(1, 50, (3, 7), generator=g)
    inputs = ProbeInputs(
        eval_tokens=torch.randint(0, 50, (4, 32), generator=g),
        prefix_tokens=torch.cat([torch.zeros(3, 1, dtype=torch.long), random.repeat(1, 4)], dim=1),
        icl_late=30,
        icl_early=3,
        icl_width=1,
        prefix_random=7,
        prefix_repeats=4,
        composition_baseline_samples=5,
        pca_tokens=((torch.randint(0, 50, (2, 32), generator=g), torch.tensor([[3], [9]])),),
        icl_tokens=torch.randint(0, 50, (70, 32), generator=g),  # > ICL_CHUNK: more than one chunk
        period_tokens=shortcuts.period_sweep(
            np.ones(50), 32, n_sequences=2, max_copies=4, exclude_fraction=0.1, bos_token=0, seed=0
        ),
        attention_offsets=shortcuts.sweep_offsets(32),
    )
    return Probe(model, inputs)


def test_every_registered_metric_has_the_shape_its_axes_declare():
    probe = tiny_probe()
    out = registry.measure(probe, ["live", "analysis", "ablation"])
    sizes = {"layer": 2, "head": 2, "layer_from": 2, "head_from": 2, "layer_to": 2, "head_to": 2}
    sizes |= {"context_index": 31, "token": 2, "example": 4, "icl_example": 70}
    sizes |= {"period": len(shortcuts.sweep_periods(32)), "offset": len(shortcuts.sweep_offsets(32))}
    assert set(out) == set(registry.REGISTRY)
    for metric in registry.METRICS:
        assert tuple(out[metric.name].shape) == tuple(sizes[a] for a in metric.axes), metric.name
        assert metric.meaning and metric.section and metric.label


def test_per_head_values_stay_in_their_declared_range():
    out = registry.measure(tiny_probe(), ["live", "analysis"])
    for metric in registry.METRICS:
        values = out[metric.name][~out[metric.name].isnan()] if metric.name in out else torch.zeros(0)
        if len(values) and metric.low is not None:
            assert values.min() >= metric.low - 1e-6, metric.name
        if len(values) and metric.high is not None:
            assert values.max() <= metric.high + 1e-6, metric.name


def test_metrics_along_an_axis_give_their_coordinates():
    coords = registry.coordinates(tiny_probe().inputs)
    assert coords == {
        "prefix_by_period": {"period": [2, 3, 6, 12, 15, 16]},
        "offset_attention": {"offset": [1, 2, 8, 15, 16, 23]},
    }
    for name, by_axis in coords.items():  # every axis after (layer, head) has its values
        assert list(by_axis) == list(registry.REGISTRY[name].axes[2:])


def test_the_sweeps_agree_with_prefix_matching_and_previous_token_on_a_real_model():
    """At the prefix-matching sequences' own period the period sweep is that score; at offset 1
    the offset profile is the previous-token score (same functions, same forward passes)."""
    torch.manual_seed(0)
    model = Transformer(ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, n_ctx=256, d_vocab=200))
    counts = np.ones(200)
    sweep = shortcuts.period_sweep(counts, 256, n_sequences=3, max_copies=4, exclude_fraction=0.1, bos_token=0, seed=0)
    prefix = scores.prefix_matching_sequences(counts, n_sequences=3, bos_token=0, seed=0)
    inputs = ProbeInputs(
        eval_tokens=torch.randint(0, 200, (2, 256), generator=torch.Generator().manual_seed(1)),
        prefix_tokens=prefix,
        icl_late=250,
        icl_early=25,
        icl_width=4,
        prefix_random=25,
        prefix_repeats=4,
        period_tokens=sweep,
        attention_offsets=shortcuts.sweep_offsets(256),
    )
    probe = Probe(model, inputs)
    out = {
        name: registry.REGISTRY[name].compute(probe)
        for name in registry.LIVE + ("prefix_by_period", "offset_attention")
    }
    assert out["prefix_by_period"].shape == (2, 2, 7) and out["offset_attention"].shape == (2, 2, 6)
    assert torch.allclose(out["prefix_by_period"][..., 2], out["prefix_matching"], atol=1e-6)  # period 25
    assert torch.allclose(out["offset_attention"][..., 0], out["previous_token"], atol=1e-6)  # offset 1


def test_a_head_that_attends_by_position_peaks_at_one_period_and_one_offset():
    """A 1-layer model built by hand whose only head attends to q - 31 from its positions alone
    (n_ctx 64: the half-context shortcut), and to itself before there is one: its period sweep
    scores at period 32 only, its offset profile at offset 31 only."""
    n = 64
    cfg = ModelConfig(n_layers=1, d_model=n, n_heads=1, d_head=n, n_ctx=n, d_vocab=50, positional="shortformer",
                      layernorm=False)  # fmt: skip
    model = Transformer(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.pos_embed.W_pos.copy_(torch.eye(n))  # positions enter the queries and keys only
        model.blocks[0].attn.W_K[0].copy_(torch.eye(n))
        query = torch.arange(n)
        model.blocks[0].attn.W_Q[0, query, (query - 31).where(query >= 31, query)] = 200.0  # key q - 31, else q
    g = torch.Generator().manual_seed(0)
    inputs = ProbeInputs(
        eval_tokens=torch.randint(0, 50, (3, n), generator=g),
        prefix_tokens=torch.zeros(1, 1 + 15 * 4, dtype=torch.long),
        icl_late=60,
        icl_early=6,
        icl_width=1,
        prefix_random=15,
        prefix_repeats=4,
        period_tokens=shortcuts.period_sweep(
            np.ones(50), n, n_sequences=2, max_copies=4, exclude_fraction=0.1, bos_token=0, seed=0
        ),
        attention_offsets=shortcuts.sweep_offsets(n),
    )
    probe = Probe(model, inputs)
    by_period = dict(zip(shortcuts.sweep_periods(n), registry.REGISTRY["prefix_by_period"].compute(probe)[0, 0]))
    by_offset = dict(zip(shortcuts.sweep_offsets(n), registry.REGISTRY["offset_attention"].compute(probe)[0, 0]))
    assert by_period[32] > 0.99 and max(v for p, v in by_period.items() if p != 32) < 0.01
    assert by_offset[31] > 0.99 and max(v for k, v in by_offset.items() if k != 31) < 0.01


def test_icl_score_is_the_mean_of_the_per_example_scores():
    out = registry.measure(tiny_probe(), ["live"])
    assert out["icl_score"].item() == pytest.approx(out["icl_by_example"].mean().item(), abs=1e-6)


def test_the_wide_icl_score_is_the_icl_score_of_its_own_contexts():
    # the same definition as `icl_score` (full forward pass, every index unembedded), on the
    # wide set of contexts: only which indices are unembedded differs
    probe = tiny_probe()
    out = registry.measure(probe, ["analysis"])
    i = probe.inputs
    full = next_token_loss(probe.fast(i.icl_tokens), i.icl_tokens)
    expected = loss.icl_by_example(full, late=i.icl_late, early=i.icl_early, width=i.icl_width)
    assert torch.allclose(out["icl_wide_by_example"], expected, atol=1e-5)
    assert out["icl_wide"].item() == pytest.approx(expected.mean().item(), abs=1e-6)


def test_live_stage_needs_no_hooked_model():
    probe = tiny_probe()
    registry.measure(probe, ["live"])
    assert probe._hooked is None  # the trainer's cost: one plain forward pass per token set


def test_unmeasured_ablations_are_nan():
    out = registry.measure(tiny_probe(1), ["ablation"], ablate=False)
    assert all(torch.isnan(out[m.name]).all() for m in registry.METRICS if m.stage == "ablation")


def test_best_heads_skips_unmeasured_snapshots():
    grids = np.array([[[0.1, 0.7], [0.2, 0.3]], [[np.nan, np.nan], [np.nan, np.nan]]])
    assert registry.best_heads(grids) == ([0.7, None], [[0, 1], None])


@pytest.fixture
def extra_metric(monkeypatch):
    """A new per-head metric added to the registry the way a contributor would: a function and
    one entry, nothing else."""
    metric = Metric(
        "first_token",
        registry.PER_HEAD,
        "attention to the first token",
        0.0,
        1.0,
        "mean attention from held-out tokens to position 0",
        "Elhage et al. 2021, attention sinks",
        "live",
        lambda p: torch.stack([pat[..., 0].mean(dim=(0, 2)) for pat in p.eval_patterns]),
    )
    monkeypatch.setattr(registry, "METRICS", (*registry.METRICS, metric))
    monkeypatch.setitem(registry.REGISTRY, metric.name, metric)
    return metric


def test_a_new_registered_metric_is_stored_and_reaches_the_api(tiny_suite, tmp_path, extra_metric):
    from fastapi.testclient import TestClient

    from backend.core.config import Settings
    from backend.main import create_app
    from training.pipeline.analyze import analysis_config, analyze_run

    suite = tmp_path / "artifacts" / "tiny"
    shutil.copytree(tiny_suite, suite)
    run = suite / "attn2"
    before = schema.read_metric(run, "copying")
    logs = []
    # Snapshots already analysed get the new metric, and only it, on the next analysis pass.
    analyze_run(run, analysis_config(schema.read_manifest(run)), log=logs.append)
    assert logs[-1].startswith(f"attn2: analysed {len(before)}/{len(before)}")
    assert np.array_equal(schema.read_metric(run, "copying"), before, equal_nan=True)
    with TestClient(create_app(Settings(artifacts_dir=suite.parent, torch_threads=0))) as client:
        names = [m["name"] for m in client.get("/registry").json()["metrics"]]
        body = client.get("/suites/tiny/runs/attn2/metrics").json()
        heads = client.get("/suites/tiny/runs/attn2/snapshots/latest/heads").json()
        csv = client.get("/suites/tiny/runs/attn2/metrics?format=csv").text
    assert "first_token" in names
    assert csv.count(",first_token,") == len(body["steps"]) * 2 * 2  # and the CSV table has it
    grids = np.array(body["head_metrics"]["first_token"], dtype=float)
    assert grids.shape == (len(body["steps"]), 2, 2) and (grids > 0).all()
    assert body["best_heads"]["first_token"]["heads"][-1].startswith("L")
    assert heads["heads"][0]["scores"]["first_token"] == pytest.approx(grids[-1, 0, 0])
