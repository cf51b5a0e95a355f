"""Small helpers every page shares: names on screen, the phase window, and error handling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st

from dashboard.api_types import PhaseWindow, RunInfo
from dashboard.client import ServiceError

T = TypeVar("T")


def analyze_hint(suite: str) -> str:
    return f"Analyse it with `.venv/bin/python -m training analyze artifacts/{suite}` (the suite folder under the service's ARTIFACTS_DIR)."


def head_label(layer: int, head: int) -> str:
    """A head as it is named on screen everywhere (and by the service): L1H3."""
    return f"L{layer}H{head}"


def fmt_tokens(n: float | None) -> str:
    """1234567 -> '1.2M'."""
    if n is None:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


@contextmanager
def service_errors() -> Iterator[None]:
    """Show a failed service call as one `st.error` and stop the page, never as a traceback.

    A 404 (a snapshot not analysed yet, no report yet) is an empty state rather than a fault: it
    is shown as `st.info` with the service's own hint (it names the command to run)."""
    try:
        yield
    except ServiceError as e:
        if e.status == 404:
            st.info(f"Nothing to show yet: {e.detail}.")
        else:
            st.error(e.message)
        st.stop()


def unless_missing(call: Callable[..., T], *args, **kwargs) -> T | None:
    """`call(*args, **kwargs)`, or None after an `st.info` when the service has nothing there yet
    (404: a snapshot not analysed, no report); any other failure stops the page with `st.error`."""
    try:
        return call(*args, **kwargs)
    except ServiceError as e:
        if e.status != 404:
            st.error(e.message)
            st.stop()
        st.info(f"Nothing to show yet: {e.detail}.")
        return None


def chart_point(event: dict | None) -> dict | None:
    """The first point of a plotly selection event (`st.plotly_chart(..., on_select=...)`), if any."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    return points[0] if points else None


def window(phase: PhaseWindow | None) -> tuple[int, int] | None:
    """The phase window as (start step, end step), or None when there is none."""
    if not phase or not phase.get("found") or phase.get("start_step") is None or phase.get("end_step") is None:
        return None
    return phase["start_step"], phase["end_step"]


def phase_text(phase: PhaseWindow | None, tokens_per_step: int | None) -> str:
    """One line describing a run's phase window, or why there is none."""
    w = window(phase)
    if w is None:
        reason = (phase or {}).get("reason") or "not analysed yet"
        return f"no phase window: {reason}"
    tps = tokens_per_step or (phase or {}).get("tokens_per_step")
    span = f" ({fmt_tokens(w[0] * tps)}–{fmt_tokens(w[1] * tps)} tokens)" if tps else ""
    return f"phase window: steps {w[0]:,}–{w[1]:,}{span}"


def before_after_steps(steps: list[int], phase: PhaseWindow | None) -> tuple[int, int]:
    """Default checkpoints to compare: the phase window's ends, else the first and last step."""
    w = window(phase)
    if w is not None and w[0] in steps and w[1] in steps:
        return w
    return steps[0], steps[-1]


def tokens_per_step(run: RunInfo, phase: PhaseWindow | None = None) -> int:
    return run.get("tokens_per_step") or (phase or {}).get("tokens_per_step") or 1


def need(condition: bool, message: str) -> None:
    """An empty state: show `message` and stop the page unless `condition` holds."""
    if not condition:
        st.info(message)
        st.stop()


def cosine(a: list[float | None], b: list[float | None]) -> float | None:
    """Cosine similarity over the positions where both vectors have a value; None if either is zero."""
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    dot = sum(x * y for x, y in pairs)
    na, nb = sum(x * x for x, _ in pairs) ** 0.5, sum(y * y for _, y in pairs) ** 0.5
    return dot / (na * nb) if na > 0 and nb > 0 else None
