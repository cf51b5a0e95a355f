"""GET …/runs/{run}/metrics?format=csv: the tidy frames of `training.metrics_frame` as text/csv."""

import io
import shutil

import numpy as np
import pandas as pd

from training import metrics_frame
from training.core.artifacts import schema


def read_csv(response) -> pd.DataFrame:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return pd.read_csv(io.StringIO(response.text))


def test_csv_heads_equal_the_per_head_frame(client, suite, tiny_suite):
    got = read_csv(client.get(f"/suites/{suite}/runs/attn2/metrics", params={"format": "csv"}))
    want = metrics_frame(tiny_suite / "attn2")
    assert list(got.columns) == ["run", "step", "tokens", "stage", "layer", "head", "metric", "value"]
    assert got.drop(columns="value").astype(str).equals(want.drop(columns="value").astype(str))
    # float32 values printed shortest-first read back as the same float32 numbers
    np.testing.assert_array_equal(got["value"].to_numpy(np.float32), want["value"].to_numpy())


def test_csv_curves_hold_the_icl_score_of_every_snapshot(client, suite, tiny_suite):
    got = read_csv(client.get(f"/suites/{suite}/runs/attn1/metrics?format=csv&kind=curves"))
    index = schema.read_metrics_index(tiny_suite / "attn1")
    icl = got[got["metric"] == "icl_score"]
    assert icl["step"].tolist() == index.steps and icl["tokens"].tolist() == index.tokens_seen
    np.testing.assert_allclose(icl["value"], index.scalars["icl_score"], rtol=1e-6)
    assert set(got["metric"]) == {
        "eval_loss",
        "icl_score",
        "icl_wide",
        "heldout_loss",
        "train_loss",
        "max_prefix_matching",
    }


def test_json_stays_the_default(client, suite):
    response = client.get(f"/suites/{suite}/runs/attn2/metrics", params={"kind": "curves"})
    assert response.headers["content-type"] == "application/json"
    assert "head_metrics" in response.json()


def test_a_bad_format_or_kind_is_a_422_naming_it(client, suite):
    for query, name in (("format=xlsx", "query.format"), ("format=csv&kind=grid", "query.kind")):
        response = client.get(f"/suites/{suite}/runs/attn2/metrics?{query}")
        assert response.status_code == 422
        assert response.json()["detail"].startswith(f"{name}: Input should be")


def test_csv_of_an_unknown_run_is_a_404(client, suite):
    response = client.get(f"/suites/{suite}/runs/nope/metrics?format=csv")
    assert response.status_code == 404 and "no run named 'nope'" in response.json()["detail"]


def test_csv_of_a_run_not_measured_yet_is_the_header_alone(copy_client, suite_copy):
    shutil.rmtree(schema.metrics_dir(suite_copy / "attn1"))
    response = copy_client.get(f"/suites/{suite_copy.name}/runs/attn1/metrics?format=csv&kind=curves")
    assert response.status_code == 200 and response.text == "run,step,tokens,stage,metric,value\n"
