"""Stored metrics as tidy data frames (`training.metrics_frame`) and as an xarray Dataset."""

import numpy as np
import pandas as pd
import pytest

from training import metrics_dataset, metrics_frame
from training.core.artifacts import schema
from training.core.artifacts.records import ArrayInfo, Manifest, MetricsIndex

NAN = float("nan")


def hand_built_run(root, run="r"):
    """A run measured at two snapshots, 1 layer x 2 heads: step 0 analysed ("full"), step 10
    measured live only, so its analysis metric (copying) is NaN and has no row."""
    path = root / run
    schema.write_manifest(path, Manifest("s", run, "training", {}, {}, {}, 8, []))
    arrays = {
        "prefix_matching": np.array([[[0.1, 0.2]], [[0.3, 0.9]]], dtype=np.float32),
        "copying": np.array([[[0.5, -0.5]], [[NAN, NAN]]], dtype=np.float32),
        "icl_score": np.array([-0.1, -0.4], dtype=np.float32),
    }
    axes = {"prefix_matching": ["snapshot", "layer", "head"], "copying": ["snapshot", "layer", "head"]}
    for name, a in arrays.items():
        schema.atomic_write_npy(schema.metrics_dir(path) / f"{name}.npy", a)
    index = MetricsIndex(
        run=run,
        steps=[0, 10],
        tokens_seen=[0, 80],
        stages=["full", "live"],
        settings={"icl_late": 5},
        arrays={n: ArrayInfo(f"{n}.npy", list(a.shape), axes.get(n, ["snapshot"])) for n, a in arrays.items()},
        scalars={"heldout_loss": [4.5, 3.25], "train_loss": [None, 3.5], "max_prefix_matching": [0.2, 0.9]},
    )
    schema.write_metrics_index(path, index)
    return path


def test_per_head_frame_has_one_row_per_measured_value(tmp_path):
    frame = metrics_frame(hand_built_run(tmp_path))
    assert list(frame.columns) == ["run", "step", "tokens", "stage", "layer", "head", "metric", "value"]
    rows = [tuple(r) for r in frame.itertuples(index=False)]
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    assert rows == [
        ("r", 0, 0, "full", 0, 0, "prefix_matching", f32(0.1)),
        ("r", 0, 0, "full", 0, 1, "prefix_matching", f32(0.2)),
        ("r", 10, 80, "live", 0, 0, "prefix_matching", f32(0.3)),
        ("r", 10, 80, "live", 0, 1, "prefix_matching", f32(0.9)),
        ("r", 0, 0, "full", 0, 0, "copying", 0.5),
        ("r", 0, 0, "full", 0, 1, "copying", -0.5),
    ]
    assert frame["value"].dtype == np.float32 and frame["step"].dtype == np.int64


def test_curves_frame_holds_the_scalars_and_leaves_out_missing_ones(tmp_path):
    frame = metrics_frame(hand_built_run(tmp_path), kind="curves")
    assert list(frame.columns) == ["run", "step", "tokens", "stage", "metric", "value"]
    got = {(r.metric, r.step): r.value for r in frame.itertuples()}
    assert got == {
        ("icl_score", 0): pytest.approx(-0.1),
        ("icl_score", 10): pytest.approx(-0.4),
        ("heldout_loss", 0): 4.5,
        ("heldout_loss", 10): 3.25,
        ("train_loss", 10): 3.5,  # no training loss before the first step: no row
        ("max_prefix_matching", 0): pytest.approx(0.2),
        ("max_prefix_matching", 10): pytest.approx(0.9),
    }


def test_metrics_keeps_only_the_named_ones_and_an_unknown_name_is_listed(tmp_path):
    run = hand_built_run(tmp_path)
    assert set(metrics_frame(run, metrics=["copying"])["metric"]) == {"copying"}
    with pytest.raises(ValueError, match="'icl_score' is not a heads metric: use one of prefix_matching"):
        metrics_frame(run, metrics=["icl_score"])
    with pytest.raises(ValueError, match="unknown kind 'grid': use one of heads, curves"):
        metrics_frame(run, kind="grid")


def test_a_run_not_measured_yet_is_an_empty_frame_with_the_columns(tmp_path):
    run = tmp_path / "r"
    schema.write_manifest(run, Manifest("s", "r", "training", {}, {}, {}, 8, []))
    frame = metrics_frame(run)
    assert frame.empty and list(frame.columns)[-2:] == ["metric", "value"]


def test_a_folder_that_is_neither_run_nor_suite_is_named(tmp_path):
    with pytest.raises(schema.ArtifactError, match="neither a run folder"):
        metrics_frame(tmp_path)


def test_suite_frame_equals_the_stored_arrays_of_every_run(tiny_suite):
    frame = metrics_frame(tiny_suite)
    assert sorted(frame["run"].unique()) == schema.list_runs(tiny_suite)
    index = schema.read_metrics_index(tiny_suite / "attn2")
    for name in ("prefix_matching", "ablation_pp_delta_icl"):
        stored = schema.read_metric(tiny_suite / "attn2", name)  # (snapshot, layer, head)
        rows = frame[(frame["run"] == "attn2") & (frame["metric"] == name)]
        assert len(rows) == np.count_nonzero(~np.isnan(stored))  # unmeasured ablations: no row
        grid = np.full(stored.shape, np.nan, dtype=np.float32)
        snap = np.searchsorted(index.steps, rows["step"])
        grid[snap, rows["layer"], rows["head"]] = rows["value"]
        np.testing.assert_array_equal(grid, stored)
    steps_tokens = frame.drop_duplicates(["run", "step"]).set_index(["run", "step"])["tokens"]
    assert steps_tokens.loc["attn2"].tolist() == index.tokens_seen


def test_curves_of_a_trained_run_equal_its_index(tiny_suite):
    frame = metrics_frame(tiny_suite / "attn2", kind="curves")
    index = schema.read_metrics_index(tiny_suite / "attn2")
    icl = frame[frame["metric"] == "icl_score"]
    assert icl["step"].tolist() == index.steps
    np.testing.assert_allclose(icl["value"], index.scalars["icl_score"], rtol=1e-6)
    heldout = frame[frame["metric"] == "heldout_loss"]
    manifest = schema.read_manifest(tiny_suite / "attn2")
    assert heldout["value"].tolist() == pytest.approx([manifest.entry(s).heldout_loss for s in heldout["step"]])


def test_dataset_has_named_axes_and_the_stored_values(tiny_suite):
    ds = metrics_dataset(tiny_suite / "attn2")
    index = schema.read_metrics_index(tiny_suite / "attn2")
    stored = schema.read_metric(tiny_suite / "attn2", "prefix_matching")
    step = index.steps[-1]
    assert float(ds["prefix_matching"].sel(step=step, layer=1, head=0)) == float(stored[-1, 1, 0])
    assert ds["loss_by_position"].dims == ("step", "context_index")
    assert ds["composition_k"].dims == ("step", "layer_from", "head_from", "layer_to", "head_to")
    assert ds["tokens"].values.tolist() == index.tokens_seen
    assert ds.attrs["run"] == "attn2" and ds.attrs["icl_late"] == index.settings["icl_late"]
    # the long frame and the dataset agree
    frame = metrics_frame(tiny_suite / "attn2", metrics=["prefix_matching"])
    wide = frame.pivot_table(index="step", columns=["layer", "head"], values="value")
    assert isinstance(wide, pd.DataFrame)
    np.testing.assert_array_equal(wide[(1, 0)].to_numpy(), ds["prefix_matching"].sel(layer=1, head=0).values)


def test_dataset_labels_the_period_and_offset_axes_with_their_stored_values(tiny_suite):
    ds = metrics_dataset(tiny_suite / "attn2")
    index = schema.read_metrics_index(tiny_suite / "attn2")
    periods = index.arrays["prefix_by_period"].coords["period"]
    assert ds["prefix_by_period"].dims == ("step", "layer", "head", "period")
    assert ds["period"].values.tolist() == periods == [2, 6, 12, 25, 31, 32]  # n_ctx 64
    assert ds["offset"].values.tolist() == index.arrays["offset_attention"].coords["offset"] == [1, 2, 16, 31, 32, 47]
    stored = schema.read_metric(tiny_suite / "attn2", "prefix_by_period")
    assert float(ds["prefix_by_period"].sel(step=index.steps[-1], layer=1, head=0, period=31)) == float(
        stored[-1, 1, 0, periods.index(31)]
    )
