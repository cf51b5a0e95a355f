"""The client: one function per route, answers cached, every failure one `ServiceError` with a
message for the page. Against a small local HTTP server standing in for the service."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest

from dashboard import client
from tests.dashboard.conftest import free_port


class Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, dict | None]]] = []

    def log_message(self, *args):  # keep the test output quiet
        pass

    def _answer(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.requests.append(("GET", self.path, None))
        if self.path == "/suites":
            self._answer(200, json.dumps({"suites": [{"name": "tiny", "runs": ["attn1"], "analysed": True}]}))
        elif self.path.startswith("/suites/tiny/runs/attn1/metrics"):
            self._answer(200, json.dumps({"run": "attn1", "path": self.path}))
        elif self.path == "/suites/not-json":
            self._answer(502, "<html>bad gateway</html>", "text/html")
        else:
            self._answer(404, json.dumps({"detail": "no suite named 'missing'", "errors": None}))

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.requests.append(("POST", self.path, body))
        if self.path.endswith("/attention"):  # a two-token answer, its pattern packed
            packed = base64.b64encode(np.array([65535, 16384, 49151], dtype="<u2").tobytes()).decode()
            head = {"layer": 1, "head": 0, "label": "L1H0", "pattern": None, "packed": packed}
            self._answer(200, json.dumps({"tokens": ["a", "b"], "patterns": [head]}))
            return
        self._answer(200, json.dumps({"echo": body}))


@pytest.fixture
def service(monkeypatch):
    Handler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("INDUCTIONSCOPE_API", f"http://127.0.0.1:{server.server_port}/")
    client.clear_cache()
    yield Handler.requests
    server.shutdown()
    server.server_close()
    client.clear_cache()


def test_answers_come_back_as_json_and_are_cached(service):
    assert client.suites() == [{"name": "tiny", "runs": ["attn1"], "analysed": True}]
    assert client.suites() == client.suites()
    assert [r[1] for r in service] == ["/suites"]
    client.clear_cache()
    client.suites()
    assert len(service) == 2


def test_query_parameters_and_post_bodies(service):
    assert client.run_metrics("tiny", "attn1", max_points=50)["path"].endswith("?max_points=50")
    attention = client.attention("tiny", "attn1", 40, "a b a b", layers=[1], heads=[0])
    pattern = attention["patterns"][0]["pattern"]  # unpacked: row q holds keys 0..q
    assert pattern[0] == [1.0] and np.allclose(pattern[1], [16384 / 65535, 49151 / 65535])
    client.ablation("tiny", "attn1", 40, [(1, 0)], mode="pattern_preserving")
    posts = [r for r in service if r[0] == "POST"]
    assert posts[0] == (
        "POST",
        "/suites/tiny/runs/attn1/snapshots/40/attention",
        {"text": "a b a b", "layers": [1], "heads": [0], "encoding": "packed"},
    )
    assert posts[1] == (
        "POST",
        "/suites/tiny/runs/attn1/snapshots/40/ablation",
        {"heads": [[1, 0]], "mode": "pattern_preserving"},
    )  # no text: held-out contexts


def test_a_packed_pattern_of_the_wrong_size_is_a_service_error():
    packed = base64.b64encode(np.zeros(4, dtype="<u2").tobytes()).decode()
    with pytest.raises(client.ServiceError, match="4 weights for 2 tokens"):
        client.unpack_pattern(packed, 2)


def test_error_status_carries_the_services_detail(service):
    with pytest.raises(client.ServiceError) as e:
        client.suite("missing")
    assert (e.value.status, e.value.detail) == (404, "no suite named 'missing'")
    assert e.value.message == "The service answered 404: no suite named 'missing'"


def test_an_answer_that_is_not_json_names_the_likely_cause(service):
    with pytest.raises(
        client.ServiceError, match="answered 502 with something other than JSON: is INDUCTIONSCOPE_API pointing"
    ):
        client.suite("not-json")


def test_unreachable_service_says_how_to_start_it(monkeypatch):
    monkeypatch.setenv("INDUCTIONSCOPE_API", f"http://127.0.0.1:{free_port()}")
    client.clear_cache()
    with pytest.raises(client.ServiceError) as e:
        client.suites()
    assert e.value.status is None
    assert (
        "not reachable" in e.value.message
        and "uvicorn backend.main:app" in e.value.message
        and "INDUCTIONSCOPE_API" in e.value.message
    )


def test_address_defaults_to_localhost_8000(monkeypatch):
    monkeypatch.delenv("INDUCTIONSCOPE_API", raising=False)
    assert client.api_url() == "http://localhost:8000"
