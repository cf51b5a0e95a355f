"""The app in a real browser: `uvicorn backend.main:app` and `streamlit run dashboard/app.py` on the
tiny suite, every page loaded in headless Chromium (Debian's `chromium`, installed here when
missing and running as root). Asserts that no error shows and the charts drew; saves a
screenshot of each page to screenshots/<page>.png."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.dashboard.browser import Chromium, find_chromium
from tests.dashboard.conftest import PAGES

SCREENSHOTS = REPO / "screenshots"
MIN_CHARTS = {
    "phase_change": 3,
    "heads": 3,
    "attention": 4,
    "trajectories": 1,
    "tokens": 1,
    "ablations": 2,  # the history and the text; the alignment bars need a phase window (tiny has none)
    "claims": 1,
}


def install_chromium() -> str | None:
    if find_chromium() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        if subprocess.run(install, env=env, capture_output=True, timeout=900, check=False).returncode != 0:
            subprocess.run(
                ["apt-get", "update"], env=env, capture_output=True, timeout=600, check=False
            )  # stale package lists
            subprocess.run(install, env=env, capture_output=True, timeout=900, check=False)
    return find_chromium()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory) -> Chromium:
    executable = install_chromium()
    if executable is None:
        pytest.skip(
            "no Chromium at /usr/bin/chromium, and it cannot be installed here (`apt-get install -y chromium` needs root and apt)"
        )
    browser = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


def url(base: str, page: str, query: str) -> str:
    return f"{base}/{'' if page == 'phase_change' else page}?{query}"


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_its_charts_without_errors(dashboard_url, tiny_suite: Path, chromium, page):
    probe = chromium.load(url(dashboard_url, page, f"suite={tiny_suite.name}&run=attn2"), min_charts=MIN_CHARTS[page])
    SCREENSHOTS.mkdir(exist_ok=True)
    chromium.screenshot(SCREENSHOTS / f"{page}.png")
    assert probe["errors"] == 0
    assert "Traceback" not in probe["text"] and "Error" not in probe["text"]
    assert probe["charts"] >= MIN_CHARTS[page]


def test_clicking_a_cell_of_the_head_grid_selects_that_head(dashboard_url, tiny_suite: Path, chromium):
    chromium.load(url(dashboard_url, "heads", f"suite={tiny_suite.name}&run=attn2&layer=0&head=0"), min_charts=3)
    cells = json.loads(
        chromium.evaluate(
            """JSON.stringify([...document.querySelector('[data-testid="stPlotlyChart"] .scatterlayer .trace').querySelectorAll('.point')]"""
            """.map(p => { const r = p.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }))"""
        )
    )
    assert len(cells) == 4  # 2 layers x 2 heads, in the order L0H0, L0H1, L1H0, L1H1
    chromium.click(*cells[3])
    href = chromium.wait_until("location.href.includes('layer=1') && location.href.includes('head=1') && location.href")
    assert "run=attn2" in href
    chromium.wait_until("""document.querySelector('[data-testid="stMain"]').innerText.includes('L1H1 over training')""")
