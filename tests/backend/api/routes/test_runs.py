"""GET …/runs/{run}/metrics and …/snapshots/{step}/heads."""

import dataclasses
import math

import numpy as np
import pytest

from tests.backend.helpers import manifest, url
from training.core.analysis import loss, registry
from training.core.artifacts import schema
from training.core.artifacts.records import ArrayInfo


@pytest.fixture(scope="module")
def metrics(client, suite):
    return client.get(f"/suites/{suite}/runs/attn2/metrics").json()


def test_read_metrics_lengths_match_the_manifest(metrics, tiny_suite):
    m = manifest(tiny_suite, "attn2")
    steps = [s.step for s in m.snapshots]
    assert metrics["snapshots"]["steps"] == steps == metrics["steps"]
    assert metrics["snapshots"]["heldout_loss"] == [s.heldout_loss for s in m.snapshots]
    assert len(metrics["train_loss"]["values"]) == m.train["steps"] and metrics["train_loss"]["bucket"] == 1
    assert metrics["analysed"] and not metrics["live"] and set(metrics["stages"]) == {"full"}
    n_layers, n_heads = m.model["n_layers"], m.model["n_heads"]
    for name in ("icl_score", "eval_loss", "loss_by_position"):
        assert len(metrics[name]) == len(steps), name
    per_head = [x.name for x in registry.METRICS if x.per_head]
    assert sorted(metrics["head_metrics"]) == sorted(per_head) == sorted(metrics["best_heads"])
    for name in per_head:
        assert np.shape(metrics["head_metrics"][name]) == (len(steps), n_layers, n_heads), name
    assert np.shape(metrics["loss_by_position"]) == (len(steps), m.model["n_ctx"] - 1)
    assert np.shape(metrics["composition"]["k"]) == (len(steps), n_layers, n_heads, n_layers, n_heads)


def test_read_metrics_values_equal_the_stored_arrays(metrics, tiny_suite):
    run_path = tiny_suite / "attn2"
    stored = schema.read_metric(run_path, "prefix_matching")
    np.testing.assert_allclose(metrics["head_metrics"]["prefix_matching"], stored, rtol=1e-6)
    np.testing.assert_allclose(metrics["train_loss"]["values"], np.load(run_path / "train_loss.npy"), rtol=1e-6)
    assert metrics["phase"] == schema.to_json(schema.read_phases(tiny_suite)["attn2"])
    best = metrics["best_heads"]["prefix_matching"]
    np.testing.assert_allclose(best["values"], stored.reshape(len(stored), -1).max(1), rtol=1e-6)
    i = int(np.argmax(stored[-1]))
    assert best["heads"][-1] == f"L{i // stored.shape[2]}H{i % stored.shape[2]}"


def test_read_metrics_turns_unmeasured_values_into_null(metrics, tiny_suite):
    k = metrics["composition"]["k"][0]
    assert k[1][0][0][0] is None and k[0][0][1][0] is not None  # only earlier -> later layers
    every = manifest(tiny_suite, "attn2").analysis["ablation_every"]
    ablated = metrics["head_metrics"]["ablation_mean_delta_loss"]
    assert every > 1, "the tiny preset skips ablations at some snapshots"
    assert all(v is not None for row in ablated[0] for v in row)  # measured at snapshot 0 ...
    assert all(v is None for row in ablated[1] for v in row)  # ... not at snapshot 1
    assert metrics["best_heads"]["ablation_mean_delta_loss"]["values"][1] is None


def test_registry_lists_every_stored_metric_with_its_meaning(client):
    body = client.get("/registry").json()
    assert [m["name"] for m in body["metrics"]] == [m.name for m in registry.METRICS]
    pm = next(m for m in body["metrics"] if m["name"] == "prefix_matching")
    assert pm["per_head"] and pm["stage"] == "live" and (pm["low"], pm["high"]) == (0.0, 1.0) and pm["section"]
    assert body["induction_threshold"] == 0.3


def test_read_metrics_downsamples_the_training_loss(client, suite, metrics):
    body = client.get(f"/suites/{suite}/runs/attn2/metrics", params={"max_points": 10}).json()["train_loss"]
    full = metrics["train_loss"]["values"]
    assert len(body["values"]) <= 10 and body["bucket"] == math.ceil(len(full) / 10)
    assert body["values"][0] == pytest.approx(np.mean(full[: body["bucket"]]))
    assert body["steps"][0] == pytest.approx(np.mean(range(1, body["bucket"] + 1)))
    assert client.get(f"/suites/{suite}/runs/attn2/metrics", params={"max_points": 1}).status_code == 422


def test_read_metrics_run_not_found_names_the_run(client, suite):
    r = client.get(f"/suites/{suite}/runs/nosuch/metrics")
    assert r.status_code == 404 and "'nosuch'" in r.json()["detail"]
    r = client.get("/suites/nosuch/runs/attn2/metrics")
    assert r.status_code == 404 and "'nosuch'" in r.json()["detail"]


def test_read_heads_gives_every_score_of_every_head(client, suite, metrics):
    i = 0  # snapshot 0 has ablations too
    step = metrics["steps"][i]
    body = client.get(url(suite, step=step, route="heads")).json()
    assert body["step"] == step and [h["label"] for h in body["heads"]] == ["L0H0", "L0H1", "L1H0", "L1H1"]
    assert body["stage"] == "full"
    for h in body["heads"]:
        assert set(h["scores"]) == set(metrics["head_metrics"])
        for name, value in h["scores"].items():
            assert value == pytest.approx(metrics["head_metrics"][name][i][h["layer"]][h["head"]]), name
    assert body["composition_k"] == metrics["composition"]["k"][i]


def test_read_heads_latest_is_the_last_snapshot(client, suite, metrics):
    assert client.get(url(suite, route="heads")).json()["step"] == metrics["steps"][-1]


def test_read_heads_step_not_found_names_the_step(client, suite):
    r = client.get(url(suite, step=7777, route="heads"))
    assert r.status_code == 404 and "7777" in r.json()["detail"]
    assert client.get(url(suite, step="last", route="heads")).status_code == 422


def test_read_heads_gives_the_period_sweep_and_the_offsets_with_their_values(client, suite, tiny_suite, metrics):
    index = schema.read_metrics_index(tiny_suite / "attn2")
    body = client.get(url(suite, step=metrics["steps"][-1], route="heads")).json()
    along = {m.name: m.along for m in registry.METRICS if m.along}
    assert along == {"prefix_by_period": "period", "offset_attention": "offset"}
    assert set(body["profiles"]) == set(along)
    for name, axis in along.items():
        profile = body["profiles"][name]
        assert profile["axis"] == axis and profile["coords"] == index.arrays[name].coords[axis]
        stored = schema.read_metric(tiny_suite / "attn2", name, index)[-1]  # (layer, head, coordinate)
        np.testing.assert_allclose(profile["values"], stored, rtol=1e-6)
    assert body["profiles"]["prefix_by_period"]["coords"] == [2, 6, 12, 25, 31, 32]  # n_ctx 64
    assert all(name not in h["scores"] for h in body["heads"] for name in along)  # not a single number


def test_read_heads_with_a_profile_missing_its_values_is_a_503_naming_them(copy_client, suite_copy):
    run = suite_copy / "attn2"
    index = schema.read_metrics_index(run)
    info = index.arrays["offset_attention"]
    arrays = {**index.arrays, "offset_attention": ArrayInfo(info.file, info.shape, info.axes)}  # no coords
    schema.write_metrics_index(run, dataclasses.replace(index, arrays=arrays))
    r = copy_client.get(url(suite_copy.name, route="heads"))
    assert r.status_code == 503
    assert r.json()["detail"] == (
        "metrics index of tiny/attn2 does not give the 6 offset values of offset_attention: analyse the run again"
    )


def test_read_metrics_draws_the_wide_icl_score_with_its_interval_once_analysed(metrics, tiny_suite):
    run_path = tiny_suite / "attn2"
    icl = metrics["icl"]
    wide = schema.read_metric(run_path, "icl_wide_by_example")  # [snapshot, context]
    assert icl["metric"] == "icl_wide" and icl["contexts"] == wide.shape[1] and "full analysis" in icl["label"]
    assert icl["values"] == metrics["icl_wide"]
    low, high = loss.mean_interval(wide)
    np.testing.assert_allclose(icl["low"], low, rtol=1e-6)
    np.testing.assert_allclose(icl["high"], high, rtol=1e-6)
    assert all(lo < v < hi for lo, v, hi in zip(icl["low"], icl["values"], icl["high"]))
    # the trainer's live score: the first LIVE_ICL_SEQUENCES of the same contexts, within the wide interval
    n = min(registry.LIVE_ICL_SEQUENCES, wide.shape[1])
    np.testing.assert_allclose(metrics["icl_live"], wide[:, :n].mean(1), rtol=1e-4, atol=1e-6)


def test_read_metrics_says_where_the_best_head_first_passes_the_threshold(copy_client, suite_copy):
    run_path = suite_copy / "attn2"
    prefix = schema.read_metric(run_path, "prefix_matching").copy()
    prefix = np.minimum(prefix, 0.2)
    prefix[5:, 1, 0] = 0.45  # L1H0 passes 0.3 at the 6th measured snapshot
    prefix[7:, 0, 1] = 0.9  # and another head later: still L1H0's moment
    index = schema.read_metrics_index(run_path)

    def store(grids: np.ndarray) -> None:  # as the trainer does: the array, then the index last
        schema.atomic_write_npy(schema.metrics_dir(run_path) / "prefix_matching.npy", grids)
        schema.write_metrics_index(run_path, index)

    store(prefix)
    formed = copy_client.get(f"/suites/{suite_copy.name}/runs/attn2/metrics").json()["formed"]
    assert (
        formed["step"] == index.steps[5] and formed["label"] == "L1H0" and (formed["layer"], formed["head"]) == (1, 0)
    )
    assert formed["score"] == pytest.approx(0.45) and formed["threshold"] == registry.INDUCTION_THRESHOLD
    store(np.minimum(prefix, 0.2))
    assert copy_client.get(f"/suites/{suite_copy.name}/runs/attn2/metrics").json()["formed"] is None
