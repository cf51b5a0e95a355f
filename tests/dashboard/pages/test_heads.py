"""Heads page: the layer x head grid, the chosen head over training, prefix matching vs copying."""

from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import INDUCTION_COPYING, INDUCTION_PEAK, STEPS


def test_grid_shows_the_chosen_score_of_every_head_at_the_checkpoint(fake):
    at = open_page("heads", {"layer": "1", "head": "1"})
    assert_clean(at)
    grid = figure(at, "head_grid")
    cells = dict(zip(map(tuple, grid["data"][0]["customdata"]), grid["data"][0]["marker"]["color"]))
    assert cells[(1, 1)] == INDUCTION_PEAK and len(cells) == 4
    assert (grid["data"][0]["marker"]["cmin"], grid["data"][0]["marker"]["cmax"]) == (0.0, 1.0)  # comparable across checkpoints
    assert (grid["data"][1]["x"], grid["data"][1]["y"]) == ([1], [1])  # the selected head is outlined
    at.selectbox(key="_heads_score").set_value("copying").run()
    cells = dict(
        zip(
            map(tuple, figure(at, "head_grid")["data"][0]["customdata"]),
            figure(at, "head_grid")["data"][0]["marker"]["color"],
        )
    )
    assert cells[(1, 1)] == INDUCTION_COPYING


def test_grid_is_drawn_for_plotly_point_selection(fake):
    at = open_page("heads")
    grid = figure(at, "head_grid")
    assert grid["data"][0]["type"] == "scatter" and grid["layout"]["clickmode"] == "event+select"
    chart = next(e for e in at.get("plotly_chart") if e.proto.id.endswith("-head_grid"))
    assert list(chart.proto.selection_mode)  # on_select is set: clicks come back as selection events


def test_chosen_head_over_training_and_the_paper_scatter(fake):
    at = open_page("heads", {"layer": "1", "head": "1", "step": "40"})
    history = figure(at, "head_history")
    assert history["layout"]["title"]["text"] == "L1H1 over training"
    assert history["data"][0]["name"] == "prefix matching" and history["data"][0]["y"][-1] == INDUCTION_PEAK
    scatter = figure(at, "pm_vs_copying")
    assert [f["name"] for f in scatter["frames"]] == [str(s) for s in STEPS]
    assert scatter["layout"]["sliders"][0]["active"] == STEPS.index(40)
    last = scatter["frames"][-1]["data"][0]
    assert (last["x"][-1], last["y"][-1], last["text"][-1]) == (INDUCTION_COPYING, INDUCTION_PEAK, "L1H1")


def test_unanalysed_checkpoint_measures_prefix_matching_on_demand(fake):
    fake.missing_heads = {40}
    at = open_page("heads", {"step": "40", "layer": "1", "head": "1"})
    assert_clean(at)
    assert "has not been analysed yet" in texts(at, "info")[0]
    assert ("prefix_matching", "fake", "attn2", 40) in fake.calls
    cells = figure(at, "head_grid")["data"][0]
    assert dict(zip(map(tuple, cells["customdata"]), cells["marker"]["color"]))[(1, 1)] == round(
        INDUCTION_PEAK * 3 / 5, 4
    )
    figure(at, "head_history")
