"""Helpers shared by the pages: names on screen, the phase window, vectors, selection events."""

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


def test_time_left_on_screen():
    assert [ui.fmt_duration(s) for s in (0, 59.6, 95, 3600, 7300, None)] == [
        "0 s",
        "1 min 00 s",
        "1 min 35 s",
        "1 h 00 min",
        "2 h 01 min",
        "?",
    ]


TRAINING = {
    "run": "attn2",
    "step": 1200,
    "steps": 5000,
    "tokens_per_s": 12345.0,
    "elapsed_s": 60.0,
    "eta_s": 190.0,
    "updated_s_ago": 1.0,
    "best_head": "L1H0",
    "best_score": 0.4213,
}


def test_status_line_names_the_run_its_progress_and_best_head():
    status = {"suite": "s", "training": [TRAINING], "runs": {"attn2": "training"}}
    assert ui.training_line(status) == (
        "Training **attn2**: step 1,200 of 5,000 · 12.3k tokens/s · 3 min 10 s left · best head L1H0 (prefix matching 0.421)"
    )
    early = {**TRAINING, "best_head": None, "best_score": None}
    assert ui.training_line({**status, "training": [early]}).endswith("3 min 10 s left")
    assert ui.training_line({**status, "training": []}) is None and ui.training_line(None) is None


def test_status_line_of_a_run_under_the_plateau_rule_gives_its_cap_and_time_as_at_most():
    capped = {**TRAINING, "stop": "plateau"}
    assert ui.training_line({"suite": "s", "training": [capped], "runs": {}}).startswith(
        "Training **attn2**: step 1,200 of at most 5,000 (until its phase change is over) · 12.3k tokens/s "
        "· at most 3 min 10 s left ·"
    )


def test_what_comes_next_is_said_not_asked_for_while_the_stack_trains():
    training = {"suite": "s", "training": [TRAINING], "runs": {"attn1": "complete", "attn2": "training"}}
    assert ui.pending("s", "attn2", training) == "The full analysis of attn2 follows when it finishes training."
    assert ui.pending("s", "attn3", training) == (
        "The stack is training attn2 now; the full analysis of attn3 follows in its turn."
    )
    assert "python -m training" not in ui.pending("s", "attn2", training) + ui.pending("s", "attn3", training)
    idle = {"suite": "s", "training": [], "runs": {"attn2": "interrupted", "attn1": "complete"}}
    assert "interrupted" in ui.pending("s", "attn2", idle)
    assert "python -m training analyze artifacts/s" in ui.pending("s", "attn1", idle)


def test_registry_entries_as_help_and_colour_range():
    copying = {
        "name": "copying",
        "axes": ["layer", "head"],
        "label": "copying",
        "low": -1.0,
        "high": 1.0,
        "meaning": "how much the OV circuit copies",
        "section": "Model analysis table",
        "stage": "analysis",
        "per_head": True,
    }
    assert (
        ui.metric_help(copying)
        == "how much the OV circuit copies (Model analysis table; measured by the full analysis)"
    )
    assert ui.metric_range(copying) == (-1.0, 1.0) and ui.metric_range({**copying, "high": None}) is None


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


def test_repeats_in_words_say_whether_their_offset_is_fixed():
    assert ui.repeat_text({"repeat_fraction": 0.25, "repeat_layout": "random"}).startswith(
        "repeat_fraction 0.25 (training contexts that repeat a stretch of their own text at a random offset"
    )
    assert "always the same offset" in ui.repeat_text({"repeat_fraction": 0.25})  # suites from before the layout
    assert ui.repeat_text({}) == "repeat_fraction 0 (no training context repeats its text)"


def test_joint_ablation_in_words():
    row = {"induction_heads": [[1, 1], [1, 3]], "induction_projection": 0.8456, "induction_alignment": -0.5}
    row["projection"] = [[0.0]]
    assert (
        ui.joint_ablation_text(row)
        == "Removing the induction heads together (L1H1, L1H3) undoes 85% of the change (cosine -0.50)."
    )
    assert ui.joint_ablation_text({**row, "induction_heads": []}).startswith("No induction head")
    assert ui.joint_ablation_text({"induction_heads": [], "projection": None}) == ""  # an older table


def test_how_a_run_ended_under_the_plateau_rule_in_words():
    end = {"finished": True, "step": 14_600, "cap": 20_000, "final_rise": 0.004, "stretch_steps": 3184}
    assert ui.stop_text({"phase_end": end}) == "training stopped at step 14,600, its phase change over"
    cut = {**end, "finished": False, "step": 24_000, "cap": 24_000, "final_rise": 0.061, "stretch_steps": 7750}
    assert ui.stop_text({"phase_end": cut}) == (
        "**unfinished**: stopped at its cap of 24,000 steps with its phase change under way, its max "
        "prefix-matching score still rising +0.061 over its last 7,750 steps; the claims do not judge it"
    )
    training = {"stop": "plateau", "phase_end": None, "progress": {"steps": 24_000}}
    assert ui.stop_text(training) == "trains until its phase change is over, at most 24,000 steps"
    assert ui.stop_text({"stop": "steps", "phase_end": None, "progress": {"steps": 13_000}}) == ""


def test_live_only_curves_say_whether_the_run_still_trains_or_waits_for_its_analysis():
    assert ui.live_text({"live": True, "status": "training"}, "s") == "live curves, still training"
    trained = ui.live_text({"live": True, "status": "complete"}, "mine")  # a watched run whose Trainer ended
    assert trained.startswith("live curves: trained, the full analysis not run yet") and "artifacts/mine" in trained
    assert ui.live_text({"live": False, "status": "complete"}, "s") == ""
