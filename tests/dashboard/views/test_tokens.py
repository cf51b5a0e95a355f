"""Tokens page: each token coloured by its loss change across the phase change; the tokens
helped most repeat earlier context (as the service marks them)."""

from dashboard import client
from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import SUITE, WINDOW


def test_loss_change_across_the_window_falls_on_repeated_context(fake):
    at = open_page("tokens")
    assert_clean(at)
    assert (at.selectbox(key="_tok_before").value, at.selectbox(key="_tok_after").value) == WINDOW
    # one request: the window's end, against its start as the baseline (the service computes the change)
    assert {(c[3], c[5]) for c in fake.calls if c[0] == "losses" and c[1] == SUITE} == {(WINDOW[1], WINDOW[0])}
    assert not [c for c in fake.calls if c[0] == "attention"]  # per-token losses come from their own route
    html = at.get("html")[0].proto.body
    assert "rgba(33,102,172,1.000)" in html  # the biggest gain in full blue
    helped = at.dataframe[0].value
    assert helped["repeats earlier context"].all() and round(helped["change"][0], 2) == -2.98  # 3.98 -> 1.0
    assert helped["copy of position"].notna().all()
    repeated, rest = figure(at, "tok_by_repeat")["data"]
    assert max(repeated["y"]) < -2.9 and min(rest["y"]) > -0.1


def test_repeats_are_the_services_not_found_by_the_page(fake, monkeypatch):
    def nothing_repeats(*args, **kwargs):
        answer = fake.losses(*args, **kwargs)
        return {**answer, "repeat_of": [None] * len(answer["loss"])}

    monkeypatch.setattr(client, "losses", nothing_repeats)
    at = open_page("tokens")
    repeated, rest = figure(at, "tok_by_repeat")["data"]
    assert repeated["y"] == [] and repeated["name"] == "repeats earlier context (0)"


def test_run_without_window_compares_first_and_last(fake):
    at = open_page("tokens", {"run": "attn1"})
    assert_clean(at)
    assert "no phase window" in texts(at, "info")[0]
    assert (at.selectbox(key="_tok_before").value, at.selectbox(key="_tok_after").value) == (0, 160)
