"""Helpers shared by the pages: names on screen, the phase window, vectors, selection events."""

import pytest

from dashboard import head_charts, token_charts, ui

WINDOW = {"found": True, "reason": "", "start_step": 20, "end_step": 80, "tokens_per_step": 100}
NONE = {
    "found": False,
    "reason": "max prefix-matching score never exceeds 0.3 (peak 0.06)",
    "start_step": None,
    "end_step": None,
}


def test_heads_and_token_counts_on_screen():
    assert ui.head_label(1, 3) == "L1H3"
    assert [ui.fmt_tokens(n) for n in (0, 512, 76800, 2_500_000, None)] == ["0", "512", "76.8k", "2.5M", "?"]
    assert token_charts.show_token("\n    x\t") == "↵    x→" and token_charts.show_token("") == "∅"


def test_phase_window_in_words_and_as_default_checkpoints():
    assert ui.window(WINDOW) == (20, 80) and ui.window(NONE) is None and ui.window(None) is None
    assert ui.phase_text(WINDOW, 100) == "phase window: steps 20–80 (2k–8k tokens)"
    assert ui.phase_text(NONE, 100) == "no phase window: max prefix-matching score never exceeds 0.3 (peak 0.06)"
    assert ui.before_after_steps([0, 20, 40, 80, 160], WINDOW) == (20, 80)
    assert ui.before_after_steps([0, 40, 160], NONE) == (0, 160)


def test_cosine_skips_missing_values():
    assert ui.cosine([1.0, None, 2.0], [2.0, 5.0, 4.0]) == pytest.approx(1.0)
    assert ui.cosine([1.0, 0.0], [0.0, 1.0]) == 0.0
    assert ui.cosine([0.0, 0.0], [1.0, 1.0]) is None


def test_first_point_of_a_selection_event():
    event = {
        "selection": {"points": [{"x": 1, "y": 0, "customdata": [0, 1]}], "point_indices": [1], "box": [], "lasso": []}
    }
    assert ui.chart_point(event) == {"x": 1, "y": 0, "customdata": [0, 1]}
    assert ui.chart_point({"selection": {"points": []}}) is None and ui.chart_point(None) is None


def test_head_grid_puts_head_on_x_and_layer_on_y():
    fig = head_charts.head_grid([[0.1, None], [0.3, 0.9]], title="score", selected=(1, 0))
    cells = fig.data[0]
    assert list(cells.x) == [0, 1, 0, 1] and list(cells.y) == [0, 0, 1, 1]
    assert [list(c) for c in cells.customdata] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert list(cells.text) == ["0.100", "—", "0.300", "0.900"]
    assert (fig.data[1].x[0], fig.data[1].y[0]) == (0, 1)
