"""Heads page: the layer x head grid of a registry metric, the chosen head over training, prefix
matching vs copying."""

from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import INDUCTION_COPYING, INDUCTION_PEAK, REGISTRY, STEPS


def cells(at) -> dict[tuple[int, int], float | None]:
    grid = figure(at, "head_grid")["data"][0]
    return dict(zip(map(tuple, grid["customdata"]), grid["marker"]["color"]))


def test_grid_shows_the_chosen_score_of_every_head_at_the_checkpoint(fake):
    at = open_page("heads", {"layer": "1", "head": "1"})
    assert_clean(at)
    grid = figure(at, "head_grid")
    assert cells(at)[(1, 1)] == INDUCTION_PEAK and len(cells(at)) == 4
    marker = grid["data"][0]["marker"]
    assert (marker["cmin"], marker["cmax"]) == (0.0, 1.0)  # the registry's range: comparable across checkpoints
    assert (grid["data"][1]["x"], grid["data"][1]["y"]) == ([1], [1])  # the selected head is outlined
    at.selectbox(key="_heads_score").set_value("copying").run()
    assert cells(at)[(1, 1)] == INDUCTION_COPYING
    assert "what copying measures (Model analysis table; measured by the full analysis)" in texts(at, "caption")


def test_score_picker_is_the_registrys_per_head_metrics(fake):
    at = open_page("heads")
    picker = at.selectbox(key="_heads_score")
    assert picker.options == [m["label"] for m in REGISTRY if m["per_head"]]
    at.selectbox(key="_heads_score").set_value("ablation_pp_delta_icl").run()
    assert "cmin" not in figure(at, "head_grid")["data"][0]["marker"]  # unbounded: no fixed range


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
    names = [t["name"] for t in history["data"]]
    assert names == ["prefix matching", "previous token", "duplicate token", "copying", "OV eigenvalue positivity"]
    assert history["data"][0]["y"][-1] == INDUCTION_PEAK
    scatter = figure(at, "pm_vs_copying")
    assert [f["name"] for f in scatter["frames"]] == [str(s) for s in STEPS]
    assert scatter["layout"]["sliders"][0]["active"] == STEPS.index(40)
    last = scatter["frames"][-1]["data"][0]
    assert (last["x"][-1], last["y"][-1], last["text"][-1]) == (INDUCTION_COPYING, INDUCTION_PEAK, "L1H1")


def test_run_in_training_colours_its_live_scores(fake):
    fake.training = "attn2"
    at = open_page("heads", {"layer": "1", "head": "1", "step": "80"})
    assert_clean(at)
    assert cells(at)[(1, 1)] == round(INDUCTION_PEAK * 4 / 5, 4)
    assert [t["name"] for t in figure(at, "head_history")["data"]] == [
        "prefix matching",
        "previous token",
        "duplicate token",
    ]
    assert "The full analysis of attn2 follows when it finishes training." in " ".join(texts(at, "info"))
    at.selectbox(key="_heads_score").set_value("copying").run()
    assert set(cells(at).values()) == {None}
    assert texts(at, "info")[0] == (
        "Step 80 has only the live metrics so far. The full analysis of attn2 follows when it finishes training."
    )


def test_unmeasured_checkpoint_measures_prefix_matching_on_demand(fake):
    fake.missing_heads = {40}
    at = open_page("heads", {"step": "40", "layer": "1", "head": "1"})
    assert_clean(at)
    assert "has no metrics yet" in texts(at, "info")[0]
    assert ("prefix_matching", "fake", "attn2", 40) in fake.calls
    assert cells(at)[(1, 1)] == round(INDUCTION_PEAK * 3 / 5, 4)
    figure(at, "head_history")
