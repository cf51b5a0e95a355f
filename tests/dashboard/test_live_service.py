"""The dashboard against the real service (`uvicorn backend.main:app` on the tiny suite): every
page renders with the service's own numbers."""

from pathlib import Path

import httpx
import numpy as np
import pytest

from dashboard import client
from tests.dashboard.conftest import PAGES, assert_clean, figure, open_page


@pytest.fixture
def live(service_url, monkeypatch):
    monkeypatch.setenv("INDUCTIONSCOPE_API", service_url)
    client.clear_cache()
    yield service_url
    client.clear_cache()


def test_every_page_renders_the_services_values(live, tiny_suite: Path):
    suite = tiny_suite.name
    metrics = httpx.get(f"{live}/suites/{suite}/runs/attn2/metrics", params={"max_points": 400}, trust_env=False).json()
    at = open_page("phase_change", {"suite": suite, "run": "attn2", "layer": "1", "head": "0"}, timeout=120)
    assert_clean(at)
    curves = figure(at, "curves")["data"]
    held_out = next(t for t in curves if t["name"] == "attn2 held-out")
    assert held_out["y"] == metrics["snapshots"]["heldout_loss"]
    attn2 = [t for t in curves if t["name"] == "attn2"]
    assert attn2[2]["y"] == metrics["best_heads"]["prefix_matching"]["values"]
    z = figure(at, "lbp_heatmap")["data"][0]["z"]  # rounded to 4 decimals for the browser
    assert np.allclose(
        np.array(z, dtype=float), np.array(metrics["loss_by_position"], dtype=float), atol=5e-5, equal_nan=True
    )
    for page in PAGES[1:]:
        at.switch_page(f"views/{page}.py").run()
        assert_clean(at)
        assert at.get("plotly_chart"), page
        if page == "heads":
            cells = figure(at, "head_grid")["data"][0]
            assert dict(zip(map(tuple, cells["customdata"]), cells["marker"]["color"]))[(1, 0)] == pytest.approx(
                metrics["head_metrics"]["prefix_matching"][-1][1][0]
            )
            heads = httpx.get(f"{live}/suites/{suite}/runs/attn2/snapshots/latest/heads", trust_env=False).json()
            assert set(heads["profiles"]) == {"prefix_by_period", "offset_attention"}
            for name, profile in heads["profiles"].items():  # the chosen head L1H0, drawn last
                assert figure(at, f"profile_{name}")["data"][-1]["y"] == profile["values"][1][0]
        if page == "attention":
            z = figure(at, "attn_heatmap")["data"][0]["z"]
            # packed weights are within 7.7e-6 each and drawn rounded to 4 decimals (5e-5), so a row of
            # q + 1 of them sums to 1 within (q + 1) * 5.8e-5
            assert all(
                sum(v for v in row if v is not None) == pytest.approx(1.0, abs=(q + 1) * 5.8e-5)
                for q, row in enumerate(z)
            )
        if page == "tokens":
            repeated, rest = figure(at, "tok_by_repeat")["data"]
            assert repeated["name"] != "repeats earlier context (0)"  # the default text is typed twice


def test_the_client_unpacks_packed_patterns_to_the_json_ones(live, tiny_suite: Path):
    suite, text = tiny_suite.name, "def f(x):\n    return x + x\n" * 3
    ours = client.attention(suite, "attn2", "latest", text, layers=[1])
    url = f"{live}/suites/{suite}/runs/attn2/snapshots/latest/attention"
    plain = httpx.post(url, json={"text": text, "layers": [1]}, trust_env=False).json()
    assert [p["label"] for p in ours["patterns"]] == [p["label"] for p in plain["patterns"]] == ["L1H0", "L1H1"]
    for packed, json_rows in zip(ours["patterns"], plain["patterns"]):
        assert [len(r) for r in packed["pattern"]] == [len(r) for r in json_rows["pattern"]]
        for a, b in zip(packed["pattern"], json_rows["pattern"]):
            np.testing.assert_allclose(a, b, atol=7.7e-6 + 1e-6)  # quantisation + the JSON's 6 decimals
