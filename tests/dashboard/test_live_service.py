"""The dashboard against the real service (`uvicorn backend.main:app` on the tiny suite): every
page renders with the service's own numbers."""

from pathlib import Path

import httpx
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
    assert figure(at, "lbp_heatmap")["data"][0]["z"] == metrics["loss_by_position"]
    for page in PAGES[1:]:
        at.switch_page(f"views/{page}.py").run()
        assert_clean(at)
        assert at.get("plotly_chart"), page
        if page == "heads":
            cells = figure(at, "head_grid")["data"][0]
            assert dict(zip(map(tuple, cells["customdata"]), cells["marker"]["color"]))[(1, 0)] == pytest.approx(
                metrics["head_metrics"]["prefix_matching"][-1][1][0]
            )
        if page == "attention":
            z = figure(at, "attn_heatmap")["data"][0]["z"]
            assert all(sum(v for v in row if v is not None) == pytest.approx(1.0, abs=1e-4) for row in z)
        if page == "tokens":
            repeated, rest = figure(at, "tok_by_repeat")["data"]
            assert repeated["name"] != "repeats earlier context (0)"  # the default text is typed twice
