"""The dashboard when the service stops mid-session, comes back, or answers too slowly: one clear
message, never a traceback or a hang, and the page works again on its next run, without a reload.

The real client and the real service (`uvicorn` on the tiny suite), with a small HTTP relay
between them that the test can stop (its port then refuses connections, as a stopped service's
does), start again on the same address, or make hold a route's answers until released."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import client
from tests.dashboard.conftest import assert_clean, figure, open_page, texts
from tests.dashboard.fakes import DOWN


class Relay:
    """Forwards every request to `upstream`; `stop()`, `start()` and `hold` (requests whose path
    contains it wait for `released`) stand in for a service that goes away, restarts, or is slow."""

    def __init__(self, upstream: str):
        self.upstream, self.hold, self.released = upstream, "", threading.Event()
        self.server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if relay.hold and relay.hold in self.path:
                    relay.released.wait(timeout=600)
                r = httpx.request(
                    self.command,
                    relay.upstream + self.path,
                    content=body,
                    headers={"content-type": self.headers.get("content-type", "application/json")},
                    timeout=120,
                    trust_env=False,
                )
                try:
                    self.send_response(r.status_code)
                    self.send_header("content-type", r.headers.get("content-type", "application/json"))
                    self.send_header("content-length", str(len(r.content)))
                    self.end_headers()
                    self.wfile.write(r.content)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    pass

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)  # port 0 the first time
        self.server.daemon_threads = True
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def relay(service_url, monkeypatch):
    r = Relay(service_url)
    monkeypatch.setenv("INDUCTIONSCOPE_API", r.url)
    client.clear_cache()
    yield r
    r.stop()
    client.clear_cache()


@pytest.fixture
def attention_page(relay, tiny_suite):
    at = open_page("attention", {"suite": tiny_suite.name, "run": "attn2", "layer": "1", "head": "0"}, timeout=120)
    assert_clean(at)
    assert figure(at, "attn_heatmap")["data"]
    return at


def test_a_service_that_stops_mid_session_is_one_message_and_the_page_recovers(relay, attention_page):
    at = attention_page
    relay.stop()  # the answers the page drew are still cached: it must not quietly show them
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    assert "not reachable" in at.error[0].value and "uvicorn backend.main:app" in at.error[0].value
    assert any("comes back by itself" in c for c in texts(at, "caption"))
    relay.start()  # the service is back on the same address
    at.run()
    assert_clean(at)
    assert figure(at, "attn_heatmap")["data"]


def test_an_answer_slower_than_the_client_timeout_is_a_message_not_a_hang(
    relay, attention_page, monkeypatch, tiny_suite
):
    at = attention_page
    monkeypatch.setattr(client, "POST_TIMEOUT_S", 0.5)
    relay.hold = "/attention"  # its answers wait until released: slower than any timeout
    client.clear_cache()  # so that the page asks again
    at.run()
    assert not relay.released.is_set()  # the page was drawn while the answer was still held
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert message.startswith(
        f"The service at {relay.url} did not answer /suites/{tiny_suite.name}/runs/attn2/snapshots/"
    )
    assert message.endswith("/attention within 0.5 s. It may be busy; try again.")
    relay.hold = ""
    relay.released.set()
    at.button(key="_try_again").click().run()
    assert_clean(at)
    assert figure(at, "attn_heatmap")["data"]


def _lost_service_page():
    """A page whose service was lost long ago (or just now, with `?just=1`): `ui`'s retry, as the
    fragment runs it every RETRY_S s."""
    import time

    import streamlit as st

    from dashboard import ui

    st.session_state["draws"] = st.session_state.get("draws", 0) + 1
    if st.session_state["draws"] == 1:
        st.session_state["_service_lost_at"] = time.monotonic() - (0 if st.query_params.get("just") else ui.RETRY_S)
        ui._lost_service_retry()
    st.write(f"drawn {st.session_state['draws']} times")


@pytest.mark.parametrize("back", [True, False])
def test_a_lost_service_is_asked_again_and_the_page_redraws_once_it_answers(fake, back):
    fake.down = None if back else DOWN
    at = AppTest.from_function(_lost_service_page, default_timeout=60)
    at.run()
    assert not at.exception
    assert ("reachable",) in fake.calls
    if back:  # the whole page again, by itself
        assert at.session_state["draws"] == 2 and at.markdown[-1].value == "drawn 2 times"
    else:
        assert at.session_state["draws"] == 1
        assert any("comes back by itself" in c for c in texts(at, "caption"))


def test_right_after_the_failure_the_retry_does_not_ask_yet(fake):
    at = AppTest.from_function(_lost_service_page, default_timeout=60)
    at.query_params["just"] = "1"
    at.run()
    assert ("reachable",) not in fake.calls and at.session_state["draws"] == 1  # no tight rerun loop


def test_following_training_while_the_service_flickers_does_not_loop(fake, monkeypatch):
    fake.training = "attn2"  # "Follow training" is on
    monkeypatch.setattr(client, "suite_fresh", lambda name: (_ for _ in ()).throw(DOWN))
    at = open_page("phase_change")
    assert at.sidebar.toggle(key="follow").value
    assert_clean(at)  # the status answered, the check for new snapshots did not: the page stands
