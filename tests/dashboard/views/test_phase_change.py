"""Phase change page: every run's curves on shared log axes, windows shaded, loss by position;
while a run trains, its live curves and one status line."""

from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import (
    HELDOUT,
    ICL,
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
    assert fig["layout"]["xaxis"]["type"] == "log"


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
