"""Attention page: the pattern with token labels, the token view, two checkpoints side by side,
per-token loss and top predictions."""

from dashboard import state
from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import SUITE, WINDOW
from tests.dashboard.fakes.text import tokenize


def test_pattern_of_the_chosen_head_on_the_default_text(fake):
    at = open_page("attention", {"layer": "1", "head": "1", "step": "80"})
    assert_clean(at)
    tokens = tokenize(state.DEFAULT_TEXT)
    assert ("attention", SUITE, "attn2", 80, state.DEFAULT_TEXT, (1,), (1,)) in fake.calls
    fig = figure(at, "attn_heatmap")
    z = fig["data"][0]["z"]
    assert (
        len(z) == len(tokens) and z[3][:4] == [0.0, 0.0, 0.25, 0.75] and z[3][4] is None
    )  # keys after the query are blank
    assert fig["layout"]["xaxis"]["ticktext"][:2] == ["<|bos|>", "def"] and "↵" in fig["layout"]["xaxis"]["ticktext"]
    assert fig["layout"]["title"]["text"] == "L1H1 at step 80"


def test_token_view_shades_where_the_chosen_token_attends(fake):
    at = open_page("attention")
    at.select_slider(key="_attn_query").set_value(3).run()
    html = at.get("html")[0].proto.body
    assert 'title="2: attention 0.250"' in html and 'title="3: attention 0.750"' in html and "outline" in html


def test_two_checkpoints_default_to_the_phase_window(fake):
    at = open_page("attention")
    assert (at.selectbox(key="_attn_left").value, at.selectbox(key="_attn_right").value) == WINDOW
    assert figure(at, "_attn_left_chart")["layout"]["title"]["text"].endswith(f"step {WINDOW[0]}")
    at.selectbox(key="_attn_left").set_value(10).run()
    assert figure(at, "_attn_left_chart")["layout"]["title"]["text"].endswith("step 10")


def test_per_token_loss_and_top_predictions(fake):
    at = open_page("attention", {"step": "160"})
    bars = figure(at, "attn_loss")["data"][0]
    assert 1.0 in bars["y"] and bars["x"][0] == "1: def"  # repeated pairs are cheap after the window
    table = at.dataframe[0].value
    assert list(table.columns[:4]) == ["position", "token", "next token", "loss"] and table["#1"][0] == "tok0 (0.50)"


def test_edited_text_is_sent_and_kept_across_pages(fake):
    at = open_page("attention")
    at.text_area(key="_text_box").input("a b c a b c").run()
    assert_clean(at)
    assert fake.calls[-1][4] == "a b c a b c"
    assert at.query_params["text"] == "a b c a b c"
    at.switch_page("views/tokens.py").run()
    assert at.text_area(key="_text_box").value == "a b c a b c"


def test_text_longer_than_the_context_is_explained(fake):
    at = open_page("attention")
    at.text_area(key="_text_box").input("word " * 80).run()
    assert not at.exception
    assert "the model's context is 64 tokens" in texts(at, "error")[0]
