"""Trajectories page: the joint PCA, one line per run, windows marked, points selectable."""

from dashboard import ui
from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import STEPS, TOKENS_PER_STEP, WINDOW


def test_every_run_is_a_path_coloured_by_step_with_its_window_drawn_thick(fake):
    at = open_page("trajectories", {"run": "attn1", "step": "40"})
    assert_clean(at)
    fig = figure(at, "pca_chart")
    assert fig["layout"]["xaxis"]["title"]["text"] == "PC1 (61.2% of variance)"
    assert fig["layout"]["yaxis"]["title"]["text"] == "PC2 (20.5% of variance)"
    names = [t["name"] for t in fig["data"]]
    assert names.count("attn2 phase window") == 1 and "attn1 phase window" not in names
    window = fig["data"][names.index("attn2 phase window")]
    assert len(window["x"]) == sum(WINDOW[0] <= s <= WINDOW[1] for s in STEPS)
    points = [t for t in fig["data"] if t.get("customdata")]
    assert points[0]["customdata"][2] == ["attn2", 20, 20 * TOKENS_PER_STEP] and points[0]["marker"]["colorscale"]
    assert fig["data"][-1]["name"] == "selected" and fig["data"][-1]["x"] == [10.0 - 3 * 1]  # attn1 at step 40: index 3


def test_selection_event_names_the_run_and_step():
    event = {
        "selection": {
            "points": [{"x": 1.0, "y": 2.0, "customdata": ["attn1", 40, 4000]}],
            "point_indices": [3],
            "box": [],
            "lasso": [],
        }
    }
    assert ui.chart_point(event)["customdata"][:2] == ["attn1", 40]
    assert ui.chart_point({"selection": {"points": []}}) is None and ui.chart_point(None) is None


def test_suite_without_pca_says_what_is_coming(fake):
    fake.analysed, fake.training = False, "attn2"
    at = open_page("trajectories")
    assert_clean(at)
    assert "no pca table yet" in texts(at, "info")[0]
    assert texts(at, "info")[-1] == "The full analysis of attn2 follows when it finishes training."
