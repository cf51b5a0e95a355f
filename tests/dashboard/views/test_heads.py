"""Heads page: the layer x head grid of a registry metric, the chosen head over training, prefix
matching vs copying."""

from dashboard import ui
from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import (
    INDUCTION_BY_PERIOD,
    INDUCTION_COPYING,
    INDUCTION_PEAK,
    OFFSETS,
    PERIODS,
    REGISTRY,
    SHORTCUT_PEAK,
    STEPS,
)


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
    copying = next(m for m in REGISTRY if m["name"] == "copying")
    assert ui.metric_help(copying) in texts(at, "caption")  # the registry's meaning, section and stage
    assert ui.metric_help(copying).endswith("; measured by the full analysis)")


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
    assert names == [  # the registry's bounded per-head scores but the ablations
        "prefix matching",
        "previous token",
        "duplicate token",
        "copying",
        "copying (OV weights)",
        "OV eigenvalue positivity",
    ]
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


def selected(at, name: str) -> dict:
    """The chosen head's trace of a profile chart (drawn last, over the other heads in grey)."""
    return figure(at, f"profile_{name}")["data"][-1]


def test_chosen_head_shows_its_period_sweep_and_offsets_with_the_shortcut_caption(fake):
    at = open_page("heads", {"layer": "1", "head": "1", "step": "160"})
    assert_clean(at)
    by_period = figure(at, "profile_prefix_by_period")
    assert by_period["layout"]["xaxis"]["type"] == "category"  # 127 and 128 stay apart
    assert by_period["layout"]["xaxis"]["title"]["text"] == "repeat period P (target: q − P + 1)"
    assert by_period["layout"]["yaxis"]["title"]["text"] == "prefix matching by repeat period"
    assert (selected(at, "prefix_by_period")["x"], selected(at, "prefix_by_period")["y"]) == (
        [str(p) for p in PERIODS],
        INDUCTION_BY_PERIOD,
    )
    assert [t["name"] for t in by_period["data"]] == ["L0H0", "L0H1", "L1H0", "L1H1"]  # the others, then L1H1
    assert selected(at, "offset_attention")["x"] == [str(k) for k in OFFSETS]
    captions = " ".join(texts(at, "caption"))
    assert "A positional shortcut peaks at one period and one offset" in captions
    assert "an induction head is high at every period" in captions
    assert (
        ui.metric_help(next(m for m in REGISTRY if m["name"] == "prefix_by_period")) in captions
    )  # the registry's help


def test_a_positional_head_peaks_at_one_period_and_one_offset(fake):
    at = open_page("heads", {"layer": "0", "head": "1", "step": "160"})
    assert_clean(at)
    by_period, by_offset = selected(at, "prefix_by_period"), selected(at, "offset_attention")
    assert dict(zip(by_period["x"], by_period["y"])) == {"2": 0.0, "3": 0.0, "4": SHORTCUT_PEAK}
    assert dict(zip(by_offset["x"], by_offset["y"])) == {"1": 0.0, "2": 0.0, "3": SHORTCUT_PEAK, "4": 0.0, "5": 0.0}


def test_profiles_of_a_run_in_training_wait_for_the_full_analysis(fake):
    fake.training = "attn2"
    at = open_page("heads", {"layer": "1", "head": "1", "step": "80"})
    assert_clean(at)
    assert not [e for e in at.get("plotly_chart") if "profile_" in e.proto.id]
    assert (
        "The period sweep and the offsets are measured by the full analysis. "
        "The full analysis of attn2 follows when it finishes training." in texts(at, "info")
    )


def test_a_run_analysed_before_the_profiles_existed_says_how_to_add_them(fake):
    fake.profiled = False
    at = open_page("heads", {"layer": "1", "head": "1", "step": "160"})
    assert_clean(at)
    assert any(
        t.startswith("attn2 was analysed before the period sweep and the offsets existed")
        and "python -m training analyze artifacts/fake" in t
        for t in texts(at, "info")
    )
    figure(at, "head_grid")  # the rest of the page is drawn
