"""Phase change page, the local learning coefficient: drawn under the prefix-matching score on
the same tokens-seen axis for the runs the analysis estimated it for, with what it is."""

from dashboard import llc_charts
from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import (
    INDUCTION_PEAK,
    LLC_MEAN,
    LLC_STD,
    SUITE,
    THRESHOLD,
    TOKENS_PER_STEP,
    WINDOW,
    FakeService,
)


def test_llc_is_drawn_under_the_prefix_score_for_the_runs_that_have_it(fake):
    at = open_page("phase_change")
    assert_clean(at)
    fig = figure(at, "llc")
    names = [t["name"] for t in fig["data"]]
    assert names == ["attn2", "attn2 LLC"]  # attn1 has no LLC: not drawn here
    prefix, llc = fig["data"]
    assert prefix["y"][-1] == INDUCTION_PEAK and prefix["yaxis"] == "y" and llc["yaxis"] == "y2"
    assert llc["y"] == LLC_MEAN and llc["error_y"]["array"] == LLC_STD
    assert llc["x"] == [s * TOKENS_PER_STEP for s in (10, 20, 40, 80)]
    layout = fig["layout"]
    assert layout["xaxis"]["matches"] == "x2" and layout["xaxis"]["type"] == layout["xaxis2"]["type"] == "log"
    rects = {(s["x0"], s["x1"]) for s in layout["shapes"] if s["type"] == "rect"}
    assert rects == {(WINDOW[0] * TOKENS_PER_STEP, WINDOW[1] * TOKENS_PER_STEP)}
    assert [s["y0"] for s in layout["shapes"] if s["type"] == "line"] == [THRESHOLD]


def test_llc_caption_says_what_it_is_and_that_it_is_an_estimate(fake):
    at = open_page("phase_change")
    assert "Local learning coefficient" in texts(at, "subheader")
    body = " ".join(texts(at, "markdown"))
    for words in (
        "Hoogland et al. 2024",
        "Lau et al. 2023",
        "**estimate**",
        "± one standard deviation over the chains",
    ):
        assert words in body, words
    assert "nβ 30.0" in body and "2 chains of 3 steps after 1 of burn-in" in body


def test_no_llc_panel_when_no_run_has_one(fake):
    fake.llc_runs = set()
    at = open_page("phase_change")
    assert_clean(at)
    assert "Local learning coefficient" not in texts(at, "subheader")
    assert "llc" not in [e.proto.id.rsplit("-", 1)[-1] for e in at.get("plotly_chart")]
    figure(at, "curves")  # the rest of the page as before


def test_a_diverged_estimate_is_a_gap_not_a_point():
    fake = FakeService()
    metrics = {run: fake.run_metrics(SUITE, run) for run in ("attn2", "attn1")}
    llc = fake.llc(SUITE, "attn2")
    llc = {**llc, "mean": [None, *llc["mean"][1:]], "std": [None, *llc["std"][1:]]}
    fig = llc_charts.llc_beside_prefix(metrics, {"attn2": llc}, {"attn2": TOKENS_PER_STEP, "attn1": TOKENS_PER_STEP})
    trace = fig.data[1]
    assert trace.y[0] is None and trace.error_y.array[0] == 0.0 and list(trace.y[1:]) == LLC_MEAN[1:]
