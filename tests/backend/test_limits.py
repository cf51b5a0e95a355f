"""Bounded work per request: a body size cap (413), a cap on computations in flight (429), and
caps on the tokens and heads one request covers (422 naming the field and the setting)."""

import threading
import time

import pytest
from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.main import create_app
from backend.services import interventions
from tests.backend.helpers import url


def test_a_body_over_max_body_bytes_is_a_413_naming_the_setting(tiny_suite):
    app = create_app(Settings(artifacts_dir=tiny_suite.parent, torch_threads=0, max_body_bytes=4096))
    with TestClient(app) as client:
        r = client.post(url(tiny_suite.name, route="attention"), json={"text": "x = 1\n" * 2000})
        assert r.status_code == 413 and "MAX_BODY_BYTES" in r.json()["detail"]
        assert client.post(url(tiny_suite.name, route="attention"), json={"text": "x = 1\n"}).status_code == 200


def test_a_computation_beyond_max_inflight_waits_queue_timeout_s_then_is_a_429(tiny_suite, monkeypatch):
    """With MAX_INFLIGHT=1 and one computation held in its slot, the next computation waits
    QUEUE_TIMEOUT_S (timed) and is a 429; once the first finishes, its slot is free again."""
    timeout_s = 0.5
    settings = Settings(artifacts_dir=tiny_suite.parent, torch_threads=0, max_inflight=1, queue_timeout_s=timeout_s)
    app = create_app(settings)
    entered, release = threading.Event(), threading.Event()
    compute = interventions.prefix_matching

    def held(*args):  # the computation, kept in its slot until the test lets it go
        entered.set()
        assert release.wait(120), "the test never released the held computation"
        return compute(*args)

    monkeypatch.setattr(interventions, "prefix_matching", held)
    prefix = url(tiny_suite.name, route="prefix-matching")
    with TestClient(app) as client:
        first = {}
        holder = threading.Thread(target=lambda: first.update(answer=client.post(prefix, json={})))
        holder.start()
        try:
            assert entered.wait(120), "the first computation never started"
            t0 = time.monotonic()
            r = client.post(url(tiny_suite.name, route="losses"), json={"text": "x = 1"})  # a computation too
            waited = time.monotonic() - t0
            assert r.status_code == 429 and "MAX_INFLIGHT" in r.json()["detail"], r.text
            assert waited >= timeout_s, f"answered 429 after {waited:.3f} s, before QUEUE_TIMEOUT_S={timeout_s}"
            assert client.get(f"/suites/{tiny_suite.name}/runs/attn2/metrics").status_code == 200  # reads never wait
        finally:
            release.set()
            holder.join(120)
        assert first["answer"].status_code == 200
        # The held slot was given back, and each later computation gives its own back: in turn, they
        # all run (a slot kept would make the second of these wait, then 429).
        for route, body in [("prefix-matching", {}), ("losses", {"text": "x = 1"}), ("prefix-matching", {})]:
            assert client.post(url(tiny_suite.name, route=route), json=body).status_code == 200, route


# The tiny suite's attn2 has 2 layers x 2 heads, attn1 1 x 2; its models' context is 64 tokens.
CAPS = {"max_heads": 3, "max_ablation_heads": 2, "max_text_tokens": 8}
SHORT = "x = 1"  # BOS + 3 tokens
LONG = "x = 1\n" * 10  # far more than 8 tokens, far fewer than 64


@pytest.fixture(scope="module")
def capped(tiny_suite):
    app = create_app(Settings(artifacts_dir=tiny_suite.parent, torch_threads=0, **CAPS))
    with TestClient(app) as client:
        yield lambda route, body, run="attn2": client.post(url(tiny_suite.name, run=run, route=route), json=body)


def test_the_caps_are_settings_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("MAX_HEADS", "7")
    monkeypatch.setenv("MAX_ABLATION_HEADS", "5")
    settings = Settings()
    assert (settings.max_heads, settings.max_ablation_heads) == (7, 5)


def test_attention_over_max_heads_is_a_422_naming_the_fields_and_the_setting(capped):
    r = capped("attention", {"text": SHORT})  # default: all 4 heads
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "'layers' and 'heads' select 4 heads (every chosen head of every chosen layer; default: all of the "
        "model's 4); the service returns at most 3 per request (MAX_HEADS): choose fewer"
    )
    r = capped("attention", {"text": SHORT, "layers": [0, 1], "heads": [1]})
    assert r.status_code == 200 and [p["label"] for p in r.json()["patterns"]] == ["L0H1", "L1H1"]
    assert capped("attention", {"text": SHORT}, run="attn1").status_code == 200  # 2 heads in all


def test_logit_attribution_over_max_heads_is_a_422(capped):
    r = capped("logit-attribution", {"text": SHORT})
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "the model has 4 heads and this answer covers all of them; the service returns at most 3 per request "
        "(MAX_HEADS)"
    )
    r = capped("logit-attribution", {"text": SHORT}, run="attn1")
    assert r.status_code == 200 and len(r.json()["contributions"][0][0]) == 2


def test_ablation_over_max_ablation_heads_is_a_422(capped):
    r = capped("ablation", {"heads": [[0, 0], [0, 1], [1, 0]], "text": SHORT})
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "'heads' lists 3 distinct heads; an ablation removes at most 2 together (MAX_ABLATION_HEADS)"
    )
    r = capped("ablation", {"heads": [[1, 0], [1, 0], [1, 1]], "text": SHORT})  # a repeat counts once
    assert r.status_code == 200 and r.json()["heads"] == ["L1H0", "L1H1"]


@pytest.mark.parametrize("route", ["attention", "losses", "ablation", "logit-attribution"])
def test_max_text_tokens_caps_every_route_that_takes_a_text(capped, route):
    extra = {"heads": [[0, 0]]} if route == "ablation" else {"layers": [0]} if route == "attention" else {}
    run = "attn1" if route == "logit-attribution" else "attn2"  # within MAX_HEADS
    for body in ({"text": LONG}, {"tokens": [1] * 9}):
        r = capped(route, {**body, **extra}, run=run)
        assert r.status_code == 422, (route, body)
        assert "MAX_TEXT_TOKENS" in r.json()["detail"] and "at most 8" in r.json()["detail"]
    assert capped(route, {"text": SHORT, **extra}, run=run).status_code == 200
