"""GET …/runs/{run}/metrics and …/snapshots/{step}/heads."""

import math

import numpy as np
import pytest

from tests.backend.helpers import manifest, url
from training import schema


@pytest.fixture(scope="module")
def metrics(client, suite):
    return client.get(f"/suites/{suite}/runs/attn2/metrics").json()


def test_read_metrics_lengths_match_the_manifest(metrics, tiny_suite):
    m = manifest(tiny_suite, "attn2")
    steps = [s["step"] for s in m["snapshots"]]
    assert metrics["snapshots"]["steps"] == steps == metrics["steps"]
    assert metrics["snapshots"]["heldout_loss"] == [s["heldout_loss"] for s in m["snapshots"]]
    assert len(metrics["train_loss"]["values"]) == m["train"]["steps"] and metrics["train_loss"]["bucket"] == 1
    n_layers, n_heads = m["model"]["n_layers"], m["model"]["n_heads"]
    for name in (
        "icl_score",
        "eval_loss",
        "loss_by_position",
        "prefix_matching",
        "previous_token",
        "duplicate_token",
        "copying",
        "eigenvalue_positivity",
        "logit_attribution",
    ):
        assert len(metrics[name]) == len(steps), name
    assert np.shape(metrics["prefix_matching"]) == (len(steps), n_layers, n_heads)
    assert np.shape(metrics["loss_by_position"]) == (len(steps), m["model"]["n_ctx"] - 1)
    assert np.shape(metrics["composition"]["k"]) == (len(steps), n_layers, n_heads, n_layers, n_heads)


def test_read_metrics_values_equal_the_stored_arrays(metrics, tiny_suite):
    run_path = tiny_suite / "attn2"
    np.testing.assert_allclose(metrics["prefix_matching"], schema.read_metric(run_path, "prefix_matching"), rtol=1e-6)
    np.testing.assert_allclose(metrics["train_loss"]["values"], np.load(run_path / "train_loss.npy"), rtol=1e-6)
    assert metrics["phase"] == schema.read_analysis(tiny_suite, "phase")["attn2"]


def test_read_metrics_turns_unmeasured_values_into_null(metrics, tiny_suite):
    k = metrics["composition"]["k"][0]
    assert k[1][0][0][0] is None and k[0][0][1][0] is not None  # only earlier -> later layers
    every = manifest(tiny_suite, "attn2")["analysis"]["ablation_every"]
    ablated = metrics["ablation"]["mean_delta_loss"]
    assert every > 1, "the tiny preset skips ablations at some snapshots"
    assert all(v is not None for row in ablated[0] for v in row)  # measured at snapshot 0 ...
    assert all(v is None for row in ablated[1] for v in row)  # ... not at snapshot 1


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
    for h in body["heads"]:
        for name in ("prefix_matching", "previous_token", "copying", "logit_attribution"):
            assert h[name] == pytest.approx(metrics[name][i][h["layer"]][h["head"]])
        assert h["ablation_mean_delta_loss"] == pytest.approx(
            metrics["ablation"]["mean_delta_loss"][i][h["layer"]][h["head"]]
        )
    assert body["composition_k"] == metrics["composition"]["k"][i]


def test_read_heads_latest_is_the_last_snapshot(client, suite, metrics):
    assert client.get(url(suite, route="heads")).json()["step"] == metrics["steps"][-1]


def test_read_heads_step_not_found_names_the_step(client, suite):
    r = client.get(url(suite, step=7777, route="heads"))
    assert r.status_code == 404 and "7777" in r.json()["detail"]
    assert client.get(url(suite, step="last", route="heads")).status_code == 422
