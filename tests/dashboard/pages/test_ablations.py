"""Ablations page: each head's effect on the ICL score over training, and the ablation vectors
against the before-and-after vector."""

import pytest

from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import WINDOW


def test_effect_of_each_head_over_training_at_the_ablated_checkpoints(fake):
    at = open_page("ablations")
    assert_clean(at)
    fig = figure(at, "abl_history")
    l1h1 = next(t for t in fig["data"] if t["name"] == "L1H1")
    assert l1h1["y"] == [0.01, 0.01, 0.4321]  # measured at every other snapshot only
    assert fig["layout"]["shapes"][0]["x0"] == WINDOW[0] * 100


def test_only_the_induction_head_undoes_the_phase_change(fake):
    at = open_page("ablations", {"layer": "1", "head": "1"})
    ablations = [c for c in fake.calls if c[0] == "ablation"]
    assert {c[3] for c in ablations} == {WINDOW[1]} and len(ablations) == 4 and ablations[0][5] == "mean"
    bars = figure(at, "abl_alignment")["data"][0]
    alignment = dict(zip(bars["x"], bars["y"]))
    assert alignment["L1H1"] == pytest.approx(1.0) and max(v for k, v in alignment.items() if k != "L1H1") < 0.2
    vectors = figure(at, "abl_vectors")["data"]
    assert [v["name"] for v in vectors] == ["reversed before-and-after", "L1H1 ablated"]


def test_run_without_window_says_which_checkpoints_it_compares(fake):
    at = open_page("ablations", {"run": "attn1"})
    assert_clean(at)
    assert "comparing its first checkpoint (step 0) with its last (step 160)" in texts(at, "info")[-1]


def test_unanalysed_run_still_compares_ablations_on_the_text(fake):
    fake.analysed = False
    at = open_page("ablations")
    assert_clean(at)
    assert "is not analysed yet" in texts(at, "info")[0] and "training analyze artifacts/fake" in texts(at, "info")[0]
    assert len(figure(at, "abl_alignment")["data"][0]["x"]) == 4
