"""Phase change page: every run's curves on shared log axes, windows shaded, loss by position."""

from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import HELDOUT, ICL, INDUCTION_PEAK, TOKENS_PER_STEP, WINDOW


def test_curves_of_every_run_carry_the_services_values(fake):
    at = open_page("phase_change")
    assert_clean(at)
    fig = figure(at, "curves")
    by_name = {}
    for trace in fig["data"]:
        by_name.setdefault(trace["name"], []).append(trace)
    assert {"attn2", "attn1", "attn2 held-out", "attn1 held-out"} <= set(by_name)
    assert by_name["attn2 held-out"][0]["y"] == HELDOUT["attn2"]
    icl, max_prefix = by_name["attn2"][1], by_name["attn2"][2]
    assert icl["y"] == ICL["attn2"] and max_prefix["y"][-1] == INDUCTION_PEAK
    assert icl["x"][0] is None and icl["x"][1] == 10 * TOKENS_PER_STEP  # step 0 has no place on a log axis
    assert fig["layout"]["xaxis"]["type"] == "log"


def test_phase_window_is_shaded_in_tokens_seen_and_stated(fake):
    at = open_page("phase_change")
    shapes = figure(at, "curves")["layout"]["shapes"]
    assert {(s["x0"], s["x1"]) for s in shapes} == {
        (WINDOW[0] * TOKENS_PER_STEP, WINDOW[1] * TOKENS_PER_STEP)
    }  # attn1 has none
    body = " ".join(texts(at, "markdown"))
    assert (
        "phase window: steps 20–80" in body and "no phase window: max prefix-matching score never exceeds 0.3" in body
    )


def test_suite_data_is_stated(fake):
    at = open_page("phase_change")
    caption = texts(at, "caption")[0]
    assert "stdlib" in caption and "repeat_fraction 0.25" in caption and "vocabulary 384" in caption


def test_loss_by_position_heatmap_and_curves_show_the_selected_run(fake):
    at = open_page("phase_change", {"run": "attn2"})
    heatmap = figure(at, "lbp_heatmap")
    assert heatmap["data"][0]["z"][-1][-1] == round(6.0 - 0.5 - 0.2 * 7, 4)
    assert [s["y0"] for s in heatmap["layout"]["shapes"]] == [2, 4]  # window start and end rows
    curves = figure(at, "lbp_curves")
    assert [t["name"] for t in curves["data"]] == ["index 1", "index 4", "index 6", "index 7"]


def test_unanalysed_suite_shows_the_loss_and_says_how_to_analyse(fake):
    fake.analysed = False
    at = open_page("phase_change")
    assert_clean(at)
    assert "No run of this suite is analysed yet" in texts(at, "info")[0]
    assert "python -m training analyze" in texts(at, "info")[-1]
    assert figure(at, "curves")["data"][1]["y"] == HELDOUT["attn2"]
