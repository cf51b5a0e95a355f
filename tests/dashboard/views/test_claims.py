"""Claims page: the claims report with its numbers and pass/fail/waiting."""

from dashboard import client
from dashboard.client import ServiceError
from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import INDUCTION_PEAK, THRESHOLD


def test_each_claim_with_its_verdict_and_numbers(fake):
    at = open_page("claims")
    assert_clean(at)
    assert [(m.label, m.value) for m in at.metric] == [
        ("passed", "1"),
        ("failed", "1"),
        ("inconclusive", "0"),
        ("waiting", "1"),
        ("not testable here", "1"),
    ]
    body = " ".join(texts(at, "markdown"))
    assert (
        ":green-badge[:material/check: pass]" in body
        and ":red-badge[:material/close: fail]" in body
        and "removes 41% (needs 50%)" in body
    )
    assert at.json[0].value == '{"peaks": {"attn2": {"score": 0.8312}}}'
    peaks = figure(at, "claims_peaks")
    assert dict(zip(peaks["data"][0]["x"], peaks["data"][0]["y"]))["attn2"] == INDUCTION_PEAK
    assert peaks["layout"]["shapes"][0]["y0"] == THRESHOLD  # the registry's induction threshold


def test_waiting_claim_is_shown_as_waiting_not_failed(fake):
    at = open_page("claims")
    waiting = next(t for t in texts(at, "markdown") if "(g)" in t)
    assert ":orange-badge[:material/hourglass_empty: waiting]" in waiting and "red-badge" not in waiting
    assert "waiting for attn3" in texts(at, "markdown")


def test_suite_without_report_says_what_is_coming(fake, monkeypatch):
    detail = "suite 'fake' has no report table yet: it is written when the first run has been analysed"

    def missing(suite):
        raise ServiceError(f"The service answered 404: {detail}", status=404, detail=detail)

    monkeypatch.setattr(client, "report", missing)
    fake.training = "attn2"
    at = open_page("claims")
    assert_clean(at)
    assert texts(at, "info") == [
        f"Nothing to show yet: {detail}.",
        "The full analysis of attn2 follows when it finishes training.",
    ]
