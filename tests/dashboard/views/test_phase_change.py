"""Phase change page: every run's curves on shared tokens axes (the phase window's view, a linear
or the paper's log axis, kept in the URL), windows shaded, the ICL score with its interval, loss
by position; while a run trains, its live curves, one status line, and a notice when a head forms."""

from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import (
    HELDOUT,
    ICL,
    ICL_HALF_WIDTH,
    ICL_WIDE,
    INDUCTION_PEAK,
    REPLICATE,
    THRESHOLD,
    TOKENS_PER_STEP,
    WINDOW,
)


def by_name(fig: dict) -> dict[str, list[dict]]:
    traces: dict[str, list[dict]] = {}
    for trace in fig["data"]:
        traces.setdefault(trace["name"], []).append(trace)
    return traces


def test_curves_of_every_run_carry_the_services_values(fake):
    at = open_page("phase_change")
    assert_clean(at)
    fig = figure(at, "curves")
    traces = by_name(fig)
    assert {"attn2", "attn1", "attn2 held-out", "attn1 held-out"} <= set(traces)
    assert traces["attn2 held-out"][0]["y"] == HELDOUT["attn2"]
    icl, max_prefix = traces["attn2"][1], traces["attn2"][2]
    assert icl["y"] == ICL_WIDE["attn2"] and max_prefix["y"][-1] == INDUCTION_PEAK  # analysed: the wide ICL
    assert max_prefix["text"][-1] == "L1H1"  # the service's best head, not a max taken here
    assert icl["x"][0] is None and icl["x"][1] == 10 * TOKENS_PER_STEP  # step 0 has no place on a log axis


def test_phase_window_is_shaded_in_tokens_seen_and_stated(fake):
    at = open_page("phase_change")
    shapes = figure(at, "curves")["layout"]["shapes"]
    windows = {(s["x0"], s["x1"]) for s in shapes if s["type"] == "rect"}
    assert windows == {(WINDOW[0] * TOKENS_PER_STEP, WINDOW[1] * TOKENS_PER_STEP)}  # attn1 has none
    assert [s["y0"] for s in shapes if s["type"] == "line"] == [THRESHOLD]  # the induction threshold
    body = " ".join(texts(at, "markdown"))
    assert (
        "phase window: steps 20–80" in body and "no phase window: max prefix-matching score never exceeds 0.3" in body
    )


def test_suite_data_is_stated(fake):
    at = open_page("phase_change")
    caption = texts(at, "caption")[0]
    assert "stdlib" in caption and "repeat_fraction 0.25" in caption and "vocabulary 384" in caption
    assert "at a random offset" in caption


def test_loss_by_position_heatmap_and_curves_show_the_selected_run(fake):
    at = open_page("phase_change", {"run": "attn2"})
    heatmap = figure(at, "lbp_heatmap")
    assert heatmap["data"][0]["z"][-1][-1] == round(6.0 - 0.5 - 0.2 * 7, 4)
    assert [s["y0"] for s in heatmap["layout"]["shapes"]] == [2, 4]  # window start and end rows
    # each row's label once, as a y category, not once per cell (that was most of the page's JSON)
    assert heatmap["data"][0]["y"][0].startswith("step ") and "customdata" not in heatmap["data"][0]
    curves = figure(at, "lbp_curves")
    assert [t["name"] for t in curves["data"]] == ["index 1", "index 4", "index 6", "index 7"]


def test_run_in_training_draws_its_live_curves_under_one_status_line(fake):
    fake.training = "attn2"
    at = open_page("phase_change")
    assert_clean(at)
    status = texts(at, "info")
    assert len(status) == 1
    assert status[0] == (
        "Training **attn2**: step 120 of 500 · 12.3k tokens/s · 3 min 10 s left · best head L1H1 (prefix matching 0.831)"
    )
    traces = by_name(figure(at, "curves"))
    icl, max_prefix = traces["attn2"][1], traces["attn2"][2]
    assert icl["y"] == ICL["attn2"] and max_prefix["y"][-1] == INDUCTION_PEAK  # live metrics, as they arrive
    shapes = figure(at, "curves")["layout"]["shapes"]
    assert (WINDOW[0] * TOKENS_PER_STEP, WINDOW[1] * TOKENS_PER_STEP) in {(s["x0"], s["x1"]) for s in shapes}
    assert "(live curves, still training)" in " ".join(texts(at, "markdown"))
    figure(at, "lbp_heatmap")  # loss by position is a live metric too
    assert at.sidebar.toggle(key="follow").value  # following by default while a run trains
    shown = " ".join(e.value for kind in ("info", "markdown", "caption", "error", "warning") for e in getattr(at, kind))
    assert "python -m training" not in shown


def test_no_status_line_when_nothing_trains(fake):
    at = open_page("phase_change")
    assert not [t for t in texts(at, "info") if t.startswith("Training")]
    assert not at.sidebar.toggle(key="follow").value


def test_unmeasured_suite_shows_the_loss(fake):
    fake.measured = False
    at = open_page("phase_change")
    assert_clean(at)
    assert "No snapshot of this suite is measured yet" in texts(at, "info")[0]
    assert "No snapshot of attn2 is measured yet" in texts(at, "info")[-1]
    assert figure(at, "curves")["data"][1]["y"] == HELDOUT["attn2"]


def test_the_run_table_shows_where_positions_enter(fake):
    # one of the `default` suite's two departures from the paper: positions in layer 0 only
    at = open_page("phase_change")
    table = at.dataframe[0].value
    assert list(table["qk_pos_layers"]) == [1] * len(table)
    assert "repeat_fraction" in " ".join(texts(at, "caption"))


def test_seed_replicates_are_drawn_thin_in_their_runs_colour_with_the_reports_spread(fake):
    fake.add_replicate()
    at = open_page("phase_change")
    assert_clean(at)
    traces = by_name(figure(at, "curves"))
    icl, max_prefix = traces[REPLICATE]  # no loss curves for a replicate: ICL and prefix matching
    assert icl["y"] == ICL_WIDE[REPLICATE] and max_prefix["y"][-1] == INDUCTION_PEAK
    run_icl = traces["attn2"][1]
    assert icl["line"]["color"] == run_icl["line"]["color"] != traces["attn1"][1]["line"]["color"]
    assert icl["line"]["width"] == 1 and icl["opacity"] < 1 and "opacity" not in run_icl
    assert icl["legendgroup"] == max_prefix["legendgroup"] == "attn2"
    assert [s.value for s in at.subheader][:1] == ["Seeds"]
    table = at.dataframe[1].value  # after the runs table
    assert list(table["seed"]) == [
        "attn2 (seed 0)",
        "attn2-seed1 (seed 1)",
        "attn2-seed2 (seed 2): waiting",
        *("n", "mean", "min", "max", "std"),
    ]
    window_end = list(table["phase window end"])
    assert window_end[:2] == [80, 160] and window_end[3:7] == [2, 120, 80, 160]  # the report's, not computed here
    assert table["final ICL score"].iloc[1] == round(sum(ICL[REPLICATE][-5:]) / 5, 4)


def test_no_seeds_section_without_replicates(fake):
    at = open_page("phase_change")
    assert "Seeds" not in [s.value for s in at.subheader]
    assert not [c for c in fake.calls if c[0] == "report"]
    assert all(t.get("opacity") is None for t in figure(at, "curves")["data"])


def test_the_page_opens_centred_on_the_selected_runs_window_and_keeps_the_log_axis_a_click_away(fake):
    at = open_page("phase_change")
    assert_clean(at)
    layout = figure(at, "curves")["layout"]
    # attn2's window, steps 20-80, with half its width on either side (clipped at 0 tokens)
    assert layout["xaxis"]["type"] == "linear" and layout["xaxis"]["range"] == [0, 110 * TOKENS_PER_STEP]
    x0, x1 = WINDOW[0] * TOKENS_PER_STEP, WINDOW[1] * TOKENS_PER_STEP
    assert (x1 - x0) / (110 * TOKENS_PER_STEP) >= 1 / 3  # the window has room
    assert layout["yaxis3"]["range"][1] >= INDUCTION_PEAK * 3 / 5  # fitted to the points shown (step 80: 0.665)
    assert "centred on attn2's phase window" in " ".join(texts(at, "caption"))
    picker = at.segmented_control[0]
    assert picker.value == "window" and "view" not in at.query_params  # a default, not a choice yet
    picker.set_value("log").run()
    assert figure(at, "curves")["layout"]["xaxis"]["type"] == "log"
    assert at.query_params["view"] == ["log"] or at.query_params["view"] == "log"  # kept in the URL


def test_a_link_with_a_view_opens_on_it(fake):
    for view, kind in (("log", "log"), ("linear", "linear")):
        at = open_page("phase_change", {"view": view})
        assert_clean(at)
        layout = figure(at, "curves")["layout"]
        assert layout["xaxis"]["type"] == kind and at.segmented_control[0].value == view
    at = open_page("phase_change", {"view": "sideways"})  # a mangled link: the default
    assert figure(at, "curves")["layout"]["xaxis"]["type"] == "linear" and at.segmented_control[0].value == "window"


def test_without_a_window_the_page_opens_on_a_linear_axis(fake):
    fake.steps = fake.steps[:4]  # the fake's window appears at the 5th snapshot
    at = open_page("phase_change")
    assert_clean(at)
    layout = figure(at, "curves")["layout"]
    assert layout["xaxis"]["type"] == "linear" and layout["xaxis"]["range"][0] == 0
    assert "all of training on a linear tokens axis" in " ".join(texts(at, "caption"))


def test_the_icl_score_is_drawn_with_its_interval_and_the_page_says_which_score_it_is(fake):
    at = open_page("phase_change")
    traces = by_name(figure(at, "curves"))
    high, low = traces["attn2 ICL 95% high"][0], traces["attn2 ICL 95% low"][0]
    assert high["y"] == [round(v + ICL_HALF_WIDTH, 4) for v in ICL_WIDE["attn2"]]
    assert low["y"] == [round(v - ICL_HALF_WIDTH, 4) for v in ICL_WIDE["attn2"]] and low["fill"] == "tonexty"
    body = " ".join(texts(at, "markdown"))
    assert "tokens) · drawn: ICL score on 512 held-out contexts, from the full analysis" in body
    fake.training = "attn2"
    at = open_page("phase_change")
    assert "drawn: ICL score on 128 held-out contexts, from the trainer's live score" in " ".join(texts(at, "markdown"))
