"""Headless Chromium driven over the DevTools protocol, for the browser test.

Streamlit draws pages client-side over a websocket, which `chromium --dump-dom` with a virtual
time budget does not wait for (it captures an empty page), so the test drives the browser with
the DevTools protocol instead, over `websockets` (a Streamlit dependency): load a page, wait until
the script run has finished and the charts have drawn, read the text, take a screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

from websockets.sync.client import connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WIDTH, HEIGHT = 1400, 1800
# What the page reports once Streamlit has rendered: the script run's state, the charts drawn
# (plotly adds .main-svg once a figure is on screen), spinners still turning, error boxes and
# tracebacks, and the main text.
PROBE = """JSON.stringify({
  state: document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state'),
  charts: [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(e => e.querySelector('.main-svg')).length,
  spinners: document.querySelectorAll('[data-testid="stSpinner"]').length,
  errors: document.querySelectorAll('[data-testid="stAlertContentError"], [data-testid="stException"]').length,
  text: document.querySelector('[data-testid="stMain"]')?.innerText ?? ''
})"""


def find_chromium() -> str | None:
    return next(
        (
            p
            for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
            if p and Path(p).exists()
        ),
        None,
    )


class Chromium:
    """One headless Chromium with a fresh profile, and one tab attached over the DevTools protocol."""

    def __init__(self, executable: str, profile: Path, *, timeout_s: float = 30.0):
        self.proc = subprocess.Popen(
            [
                executable,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                f"--window-size={WIDTH},{HEIGHT}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"  # Chromium writes its port and browser path here
        deadline = time.monotonic() + timeout_s
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"Chromium did not open its DevTools port (exit code {self.proc.returncode})")
            time.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        self.stack = ExitStack()  # connect() is a context manager (websockets >= 17 warns when used directly)
        self.ws = self.stack.enter_context(
            connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=timeout_s)
        )
        self.ids = itertools.count(1)
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
            session=True,
        )

    def send(self, method: str, *, session: bool = False, **params) -> dict:
        message = {"id": next(self.ids), "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:  # skip events until the answer to this command
            answer = json.loads(self.ws.recv(timeout=60))
            if answer.get("id") == message["id"]:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True, session=True)["result"].get(
            "value"
        )

    def load(self, url: str, *, min_charts: int, timeout_s: float = 90.0) -> dict:
        """Open `url` and wait until Streamlit is idle, no spinner turns, at least `min_charts`
        charts are drawn and the page has stopped changing; returns the last probe."""
        self.send("Page.navigate", url=url, session=True)
        deadline, last, stable = time.monotonic() + timeout_s, None, 0
        while time.monotonic() < deadline:
            probe = json.loads(self.evaluate(PROBE) or "{}")
            ready = (
                probe.get("state") == "notRunning"
                and probe.get("charts", 0) >= min_charts
                and not probe.get("spinners")
                and probe.get("text")
            )
            stable = stable + 1 if ready and probe == last else 0
            if stable >= 3:  # the same for 1.5 s: plotly and late reruns are done
                return probe
            last = probe
            time.sleep(0.5)
        raise TimeoutError(
            f"{url} did not finish rendering in {timeout_s:.0f} s; last state: {last and {k: v for k, v in last.items() if k != 'text'}}"
        )

    def click(self, x: float, y: float) -> None:
        for event in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=event, x=x, y=y, button="left", clickCount=1, session=True)

    def wait_until(self, expression: str, *, timeout_s: float = 30.0):
        """Poll a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.3)
        raise TimeoutError(f"still false after {timeout_s:.0f} s: {expression}")

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png", session=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            if getattr(self, "stack", None) is not None:
                self.stack.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def main() -> None:
    """Screenshot every page of a running dashboard: for the README, from the `default` suite.

    .venv/bin/python -m tests.dashboard.browser http://localhost:8501 screenshots "suite=default&run=attn2"
    """
    import sys
    import tempfile

    base, out, query = (
        sys.argv[1].rstrip("/"),
        Path(sys.argv[2] if len(sys.argv) > 2 else "screenshots"),
        sys.argv[3] if len(sys.argv) > 3 else "",
    )
    executable = find_chromium()
    if executable is None:
        raise SystemExit("no Chromium found: apt-get install -y chromium")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        browser = Chromium(executable, Path(profile))
        try:
            for page in ("phase_change", "heads", "attention", "trajectories", "tokens", "ablations", "claims"):
                probe = browser.load(f"{base}/{'' if page == 'phase_change' else page}?{query}", min_charts=0)
                browser.screenshot(out / f"{page}.png")
                print(f"{out / page}.png: {probe['charts']} charts, {probe['errors']} errors")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
