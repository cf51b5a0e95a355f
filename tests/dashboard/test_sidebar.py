"""The shared selection: the sidebar's pickers, drawn once by the entry point, read from and written
to the URL, kept across pages, resolved against what the service has; the empty states and
"Follow training"."""

import pytest

from dashboard import client
from tests.dashboard.conftest import PAGES, assert_clean, figure, open_page, texts
from tests.dashboard.fakes import DOWN, SUITE, WINDOW


def chosen(at) -> tuple:
    """What the sidebar's pickers show: suite, run, checkpoint, (layer, head)."""
    sb = at.sidebar
    return (
        sb.selectbox(key="suite").value,
        sb.selectbox(key="run").value,
        sb.select_slider(key="step").value,
        sb.selectbox(key="head").value,
    )


def test_selection_is_read_from_the_link(fake):
    at = open_page("heads", {"suite": SUITE, "run": "attn1", "step": "40", "layer": "0", "head": "1"})
    assert_clean(at)
    assert chosen(at) == (SUITE, "attn1", 40, (0, 1))
    assert at.sidebar.selectbox(key="run").value == "attn1"
    assert at.sidebar.select_slider(key="step").value == 40
    assert ("heads", SUITE, "attn1", 40) in fake.calls


def test_selection_is_written_to_the_link(fake):
    at = open_page("phase_change")
    at.sidebar.select_slider(key="step").set_value(40).run()
    at.sidebar.selectbox(key="head").set_value((1, 0)).run()
    assert_clean(at)
    assert at.query_params["suite"] == SUITE and at.query_params["run"] == "attn2"
    assert (at.query_params["step"], at.query_params["layer"], at.query_params["head"]) == ("40", "1", "0")


def test_selection_is_the_same_on_every_page(fake):
    at = open_page("heads", {"step": "40", "layer": "0", "head": "1"})
    at.sidebar.selectbox(key="run").set_value("attn1").run()
    at.switch_page("views/attention.py").run()
    assert_clean(at)
    assert chosen(at) == (SUITE, "attn1", 40, (0, 1))
    assert figure(at, "attn_heatmap")["layout"]["title"]["text"] == "L0H1 at step 40"
    assert ("attention", SUITE, "attn1", 40, fake.calls[-1][4], (0,), (1,)) in fake.calls


def test_the_pickers_are_drawn_once_whatever_the_page(fake):
    at = open_page("phase_change")
    for page in PAGES[1:]:
        at.switch_page(f"views/{page}.py").run()
        assert [w.key for w in at.sidebar.selectbox] == ["suite", "run", "head"], page
        assert [w.key for w in at.sidebar.select_slider] == ["step"], page


def test_link_naming_unknown_things_falls_back_to_the_latest(fake):
    at = open_page("phase_change", {"suite": "gone", "run": "nope", "step": "99999", "layer": "7", "head": "x"})
    assert_clean(at)
    assert chosen(at) == (SUITE, "attn2", 160, (1, 0))  # the last layer, where induction heads form


def test_checkpoint_slider_shows_tokens_seen_and_marks_the_phase_window(fake):
    at = open_page("phase_change")
    slider = at.sidebar.select_slider(key="step")
    assert "step 40 · 4k tokens ◆" in slider.options and "step 160 · 16k tokens" in slider.options
    assert "phase window: steps 20–80 (2k–8k tokens)" in " ".join(texts(at.sidebar, "caption"))
    at.sidebar.button[0].click().run()  # "window start"
    assert at.sidebar.select_slider(key="step").value == WINDOW[0]


def test_no_suites_says_how_to_train_one(fake):
    fake.suite_names = []
    at = open_page("phase_change")
    assert_clean(at)
    assert "python -m training train" in texts(at, "info")[0]
    assert not at.get("plotly_chart")


def test_run_with_one_snapshot_is_an_empty_state(fake):
    fake.steps = [0]
    at = open_page("phase_change")
    assert_clean(at)
    assert "the only snapshot so far" in " ".join(texts(at.sidebar, "markdown"))
    assert "Only one measured snapshot" in texts(at, "info")[-1]
    for page in ("tokens", "ablations"):
        at.switch_page(f"views/{page}.py").run()
        assert_clean(at)
        assert "only one snapshot" in " ".join(texts(at, "info"))


@pytest.mark.parametrize("page", PAGES)
def test_service_down_shows_what_to_do_not_a_traceback(fake, page):
    at = open_page(page)
    fake.down = DOWN
    at.run()
    assert not at.exception
    assert texts(at, "error") == [DOWN.message]
    assert "uvicorn backend.main:app" in at.error[0].value


def test_follow_training_picks_up_a_new_snapshot(fake, monkeypatch):
    at = open_page("phase_change")
    assert at.sidebar.select_slider(key="step").value == 160

    def trainer_wrote_a_snapshot(name):
        if 320 not in fake.steps:
            fake.steps.append(320)
        return fake.suite(name)

    monkeypatch.setattr(client, "suite_fresh", trainer_wrote_a_snapshot)
    at.sidebar.toggle(key="follow").set_value(True).run()
    assert_clean(at)
    assert at.sidebar.select_slider(key="step").value == 320  # it was on the latest, so it follows
    assert "checked for new snapshots" in " ".join(texts(at.sidebar, "caption"))
    at.switch_page("views/heads.py").run()
    assert at.sidebar.toggle(key="follow").value  # still on after changing pages


def test_follow_training_is_on_while_a_run_trains_until_turned_off(fake):
    fake.training = "attn2"
    at = open_page("phase_change")
    assert at.sidebar.toggle(key="follow").value
    assert "attn2 · 2-layer attention-only (training)" in at.sidebar.selectbox(key="run").options
    at.sidebar.toggle(key="follow").set_value(False).run()
    at.switch_page("views/heads.py").run()
    assert not at.sidebar.toggle(key="follow").value  # the user's choice stands


def test_follow_training_stays_on_while_a_trained_run_awaits_its_analysis(fake):
    fake.analysed = False  # trained, live metrics only: the analysis that follows has not landed yet
    at = open_page("phase_change")
    assert at.sidebar.toggle(key="follow").value
