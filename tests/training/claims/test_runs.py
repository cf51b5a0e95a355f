"""What the claims read about a run: the rise window and the peak head."""

from __future__ import annotations

import dataclasses

from training.core.artifacts.records import PhaseWindow

from .conftest import END, START, STEPS


def test_rise_gives_the_snapshots_of_the_phase_window_even_when_icl_does_not_follow(make_run):
    run = make_run("attn2")
    assert run.rise() == (START, END)
    unfollowed = PhaseWindow(False, "ICL does not follow", int(STEPS[START]), int(STEPS[END]))
    assert dataclasses.replace(run, phase=unfollowed).rise() == (START, END)
    assert make_run("attn2", induction=False).rise() is None


def test_rise_takes_the_nearest_snapshots_when_the_phase_table_is_stale(make_run):
    stale = PhaseWindow(True, "older steps", int(STEPS[START]) + 1, int(STEPS[END]) - 1)
    assert dataclasses.replace(make_run("attn2"), phase=stale).rise() == (START, END)


def test_peak_names_the_head_and_step_of_the_highest_prefix_matching_score(make_run):
    run = make_run("attn2")
    run.prefix[20, 1, 0] = 0.99
    assert run.peak() == {"score": 0.99, "step": int(STEPS[20]), "head": "L1H0"}
