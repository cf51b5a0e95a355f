"""The spread over seeds: each seed's numbers from hand-built runs, and their spread."""

from __future__ import annotations

import numpy as np
import pytest

from training.core.artifacts.records import PhaseWindow, SeedResult, Spread
from training.pipeline.claims.runs import RunData
from training.pipeline.claims.seeds import (
    induction_step,
    seed_result,
    seed_spread,
    spread,
    waiting_seed,
)

STEPS = np.array([0, 10, 20, 40, 80, 160, 320])
ICL = np.array([0.1, 0.05, 0.0, -0.2, -0.4, -0.5, -0.6])
LOSS = np.array([6.0, 5.0, 4.5, 4.0, 3.8, 3.7, np.nan])  # the last snapshot not measured


def run(name: str, top: list[float], *, phase: PhaseWindow | None = None) -> RunData:
    """A 1-layer, 2-head run: head L0H0's prefix-matching score is `top`, L0H1's 0.05."""
    prefix = np.stack([np.asarray(top), np.full(len(top), 0.05)], 1)[:, None, :]  # (7, 1, 2)
    return RunData(name, STEPS, ICL, prefix, heldout_loss=LOSS, phase=phase)


def test_induction_step_reads_the_smoothed_score_not_a_single_spike():
    # raw: above 0.3 at step 10 (a one-snapshot spike); smoothed over 5 snapshots, first at the
    # last one: (0 + 0.5 + 0.5) / 3 = 0.333 (the window shrinks at the end)
    spiky = run("spiky", [0.0, 0.8, 0.0, 0.0, 0.0, 0.5, 0.5])
    assert induction_step(spiky) == 320
    # smoothed: 0.033, 0.15, 0.28, 0.44: first above 0.3 at snapshot 3, step 40
    assert induction_step(run("rising", [0.0, 0.0, 0.1, 0.5, 0.8, 0.8, 0.8])) == 40
    assert induction_step(run("flat", [0.1] * 7)) is None


def test_seed_result_gives_the_numbers_of_one_seed():
    phase = PhaseWindow(True, "found", start_step=20, end_step=80)
    r = seed_result(
        run("attn2-seed1", [0.0, 0.0, 0.1, 0.5, 0.8, 0.9, 0.8], phase=phase), 7, "icl_wide"
    )
    assert r == SeedResult(
        run="attn2-seed1",
        seed=7,
        status="analysed",
        induction_step=40,
        phase_start=20,
        phase_end=80,
        peak_prefix_matching=0.9,
        final_icl=-0.34,  # (0 - 0.2 - 0.4 - 0.5 - 0.6) / 5
        final_heldout_loss=3.7,  # the last snapshot with a held-out loss
        icl_metric="icl_wide",
    )


def test_a_run_without_a_window_or_losses_has_none_of_those_numbers():
    bare = RunData("attn1", STEPS, np.full(7, np.nan), np.full((7, 1, 1), 0.05))
    r = seed_result(bare, 0, "icl_score")
    assert (r.phase_start, r.phase_end, r.final_icl, r.final_heldout_loss) == (None,) * 4
    assert r.induction_step is None and r.peak_prefix_matching == 0.05


def test_spread_gives_the_standard_deviation_from_three_values():
    assert spread([1.0, 2.0, 4.0]) == Spread(n=3, mean=2.3333, min=1.0, max=4.0, std=1.5275)
    assert spread([1.0, None, 4.0]) == Spread(n=2, mean=2.5, min=1.0, max=4.0, std=None)
    assert spread([None, float("nan")]) == Spread(n=0)


def test_a_waiting_seed_is_listed_but_left_out_of_the_spread():
    seeds = [
        seed_result(run("attn2", [0.0, 0.0, 0.1, 0.5, 0.8, 0.8, 0.8]), 0, "icl_score"),
        seed_result(run("attn2-seed1", [0.0, 0.0, 0.0, 0.1, 0.5, 0.8, 0.8]), 1, "icl_score"),
        waiting_seed("attn2-seed2", 2),
    ]
    s = seed_spread("attn2", seeds)
    assert [r.status for r in s.seeds] == ["analysed", "analysed", "waiting"]
    assert s.seeds[2] == SeedResult("attn2-seed2", 2, "waiting")
    # smoothed: attn2 first above 0.3 at step 40, attn2-seed1 (0.28, 0.44) at step 80
    assert s.spread["induction_step"] == Spread(n=2, mean=60.0, min=40.0, max=80.0)
    assert s.spread["phase_start"] == Spread(n=0)  # neither run has a window
    assert s.spread["final_icl"] == Spread(n=2, mean=-0.34, min=-0.34, max=-0.34)
    assert s.icl_metric == "icl_score"


def test_seeds_on_different_icl_metrics_give_no_icl_spread():
    seeds = [
        seed_result(run("attn2", [0.5] * 7), 0, "icl_score"),
        seed_result(run("attn2-seed1", [0.5] * 7), 1, "icl_wide"),
    ]
    s = seed_spread("attn2", seeds)
    assert s.icl_metric is None and s.spread["final_icl"] == Spread(n=0)
    assert s.spread["peak_prefix_matching"].n == 2


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_analysed_seeds_still_give_a_table(n):
    seeds = [seed_result(run("attn2", [0.5] * 7), 0, "icl_score")][:n] + [waiting_seed("x", 1)]
    s = seed_spread("attn2", seeds)
    assert s.spread["peak_prefix_matching"].n == n and len(s.seeds) == n + 1
