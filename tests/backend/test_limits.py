"""Bounded work per request: a body size cap (413) and a cap on computations in flight (429)."""

import asyncio

from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.main import create_app
from tests.backend.helpers import url


def test_a_body_over_max_body_bytes_is_a_413_naming_the_setting(tiny_suite):
    app = create_app(Settings(artifacts_dir=tiny_suite.parent, torch_threads=0, max_body_bytes=4096))
    with TestClient(app) as client:
        r = client.post(url(tiny_suite.name, route="attention"), json={"text": "x = 1\n" * 2000})
        assert r.status_code == 413 and "MAX_BODY_BYTES" in r.json()["detail"]
        assert client.post(url(tiny_suite.name, route="attention"), json={"text": "x = 1\n"}).status_code == 200


def test_a_computation_that_finds_no_free_slot_in_time_is_a_429(tiny_suite):
    app = create_app(Settings(artifacts_dir=tiny_suite.parent, torch_threads=0, queue_timeout_s=0.05))
    with TestClient(app) as client:
        app.state.compute_slots = asyncio.Semaphore(0)  # every slot taken by someone else
        r = client.post(url(tiny_suite.name, route="prefix-matching"), json={})
        assert r.status_code == 429 and "MAX_INFLIGHT" in r.json()["detail"]
        assert client.get(f"/suites/{tiny_suite.name}/runs/attn2/metrics").status_code == 200  # reads never wait
        app.state.compute_slots = asyncio.Semaphore(1)
        assert client.post(url(tiny_suite.name, route="prefix-matching"), json={}).status_code == 200
