"""Ablations page: each head's effect on the ICL score over training (pattern-preserving by
default), the stored alignment with the before-and-after vector, and the chosen head removed on
a text."""

from dashboard import state
from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import ALIGNMENT, PROJECTION, SUITE, WINDOW


def test_effect_of_each_head_over_training_at_the_ablated_checkpoints(fake):
    at = open_page("ablations")
    assert_clean(at)
    assert at.radio(key="_abl_mode").value == "pattern-preserving"
    fig = figure(at, "abl_history")
    l1h1 = next(t for t in fig["data"] if t["name"] == "L1H1")
    assert l1h1["y"] == [0.01, 0.01, 0.4321]  # measured at every other snapshot only
    assert fig["layout"]["shapes"][0]["x0"] == WINDOW[0] * 100


def test_projection_is_the_stored_table_and_no_head_is_ablated_one_by_one(fake):
    at = open_page("ablations", {"layer": "1", "head": "1"})
    fig = figure(at, "abl_alignment")
    bars = fig["data"][0]
    assert dict(zip(bars["x"], bars["y"])) == {"L0H0": 0.02, "L0H1": -0.01, "L1H0": 0.06, "L1H1": PROJECTION}
    assert "projection" in fig["layout"]["yaxis"]["title"]["text"]
    caption = next(c for c in texts(at, "caption") if c.startswith("Before:"))
    assert caption.startswith("Before: step 20; after: step 80; mean loss change -0.765 nats; pattern-preserving")
    assert "Removing the induction heads together (L1H1) undoes 85% of the change (cosine +0.94)." in caption
    assert [c for c in fake.calls if c[0] == "attention"] == []  # no per-token loss through the attention route
    ablations = [c for c in fake.calls if c[0] == "ablation"]
    assert ablations == [("ablation", SUITE, "attn2", WINDOW[1], ((1, 1),), "pattern_preserving", state.DEFAULT_TEXT)]


def test_an_older_table_without_projections_shows_the_cosines(fake):
    fake.old_before_after = True
    at = open_page("ablations", {"layer": "1", "head": "1"})
    assert_clean(at)
    bars = figure(at, "abl_alignment")["data"][0]
    assert dict(zip(bars["x"], bars["y"])) == {"L0H0": 0.05, "L0H1": -0.02, "L1H0": 0.11, "L1H1": ALIGNMENT}
    assert "Before: step 20; after: step 80; mean loss change -0.765 nats; mean ablation." in texts(at, "caption")


def test_chosen_head_removed_on_the_text_brings_the_loss_back(fake):
    at = open_page("ablations", {"layer": "1", "head": "1"})
    before, after, removed = figure(at, "abl_vectors")["data"]
    assert [before["name"], after["name"], removed["name"]] == ["step 20", "step 80", "step 80, L1H1 removed"]
    assert 1.0 in after["y"] and removed["y"] == before["y"]  # the fake's L1H1 undoes the phase change


def test_run_without_window_says_which_checkpoints_it_compares(fake):
    at = open_page("ablations", {"run": "attn1"})
    assert_clean(at)
    info = texts(at, "info")
    assert "has no before-and-after comparison: no phase window" in info[0]
    assert info[-1] == "Comparing the first checkpoint (step 0) with the last (step 160)."


def test_run_in_training_says_what_is_coming(fake):
    fake.training = "attn2"
    at = open_page("ablations")
    assert_clean(at)
    shown = " ".join(texts(at, "info"))
    assert "The full analysis of attn2 follows when it finishes training." in shown
    assert "python -m training" not in shown
    assert len(figure(at, "abl_vectors")["data"]) == 3  # the text still runs on any snapshot


def test_run_analysed_without_ablations_says_why_they_are_missing(fake):
    fake.ablations = False
    at = open_page("ablations")
    assert_clean(at)
    assert (
        "is analysed without ablations (off by default for imported models above 5 M parameters" in texts(at, "info")[0]
    )
