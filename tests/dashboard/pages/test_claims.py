"""Claims page: the claims report with its numbers and pass/fail."""

from dashboard.client import ServiceError
from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import INDUCTION_PEAK


def test_each_claim_with_its_verdict_and_numbers(fake):
    at = open_page("claims")
    assert_clean(at)
    assert [m.value for m in at.metric] == ["1", "1", "1"]
    body = " ".join(texts(at, "markdown"))
    assert (
        ":green-badge[:material/check: pass]" in body
        and ":red-badge[:material/close: fail]" in body
        and "removes 41% (needs 50%)" in body
    )
    assert at.json[0].value == '{"peaks": {"attn2": {"score": 0.8312}}}'
    peaks = figure(at, "claims_peaks")["data"][0]
    assert dict(zip(peaks["x"], peaks["y"]))["attn2"] == INDUCTION_PEAK


def test_suite_without_report_says_how_to_write_one(fake, monkeypatch):
    detail = "suite 'fake' has no report table yet: run `python -m training analyze` (and `report`)"

    def missing(suite):
        raise ServiceError(f"The service answered 404: {detail}", status=404, detail=detail)

    from dashboard import client

    monkeypatch.setattr(client, "report", missing)
    at = open_page("claims")
    assert_clean(at)
    assert texts(at, "info")[-1] == f"Nothing to show yet: {detail}."
