"""Small helpers every page shares: names on screen, the phase window, what trains and what comes
next, and error handling. Text only: every number comes from the service."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import streamlit as st

from dashboard import client
from dashboard.api_types import MetricInfo, PhaseWindow, RunInfo, RunMetricsResponse, SuiteStatus, TrainingStatus
from dashboard.client import ServiceError

T = TypeVar("T")


def training_runs(status: SuiteStatus | None) -> list[str]:
    return [t["run"] for t in (status or {}).get("training", [])]


def pending(suite: str, run: str, status: SuiteStatus | None) -> str:
    """What comes next for a run whose full analysis is missing. While the stack trains, it says
    what is coming, never a command to run: the trainer analyses each run right after training it."""
    training = training_runs(status)
    if run in training:
        return f"The full analysis of {run} follows when it finishes training."
    if training:
        return f"The stack is training {', '.join(training)} now; the full analysis of {run} follows in its turn."
    if (status or {}).get("runs", {}).get(run) == "interrupted":
        return (
            f"Training of {run} was interrupted; resuming the suite's training (`--resume`) finishes and analyses it."
        )
    return (
        f"The full analysis of {run} follows its training (the trainer analyses each run as soon as it is trained). "
        f"A suite trained with `--no-analyze` is analysed with `.venv/bin/python -m training analyze artifacts/{suite}`."
    )


def fmt_duration(seconds: float | None) -> str:
    """95 -> '1 min 35 s'; 7300 -> '2 h 01 min'."""
    if seconds is None:
        return "?"
    s = max(int(round(seconds)), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _training_text(t: TrainingStatus) -> str:
    score = "?" if t["best_score"] is None else f"{t['best_score']:.3f}"
    best = "" if t["best_head"] is None else f" · best head {t['best_head']} (prefix matching {score})"
    if t.get("stop") == "plateau":  # the cap, not the end: the run stops once its phase change is over
        of, left = f"at most {t['steps']:,} (until its phase change is over)", f"at most {fmt_duration(t['eta_s'])}"
    else:
        of, left = f"{t['steps']:,}", fmt_duration(t["eta_s"])
    return (
        f"Training **{t['run']}**: step {t['step']:,} of {of} · {fmt_tokens(t['tokens_per_s'])} tokens/s "
        f"· {left} left{best}"
    )


def training_line(status: SuiteStatus | None) -> str | None:
    """One line on what trains now (run, step, speed, time left, best head so far); None if nothing does."""
    training = (status or {}).get("training", [])
    return "; ".join(_training_text(t) for t in training) or None


def metric_help(m: MetricInfo) -> str:
    """A registry entry as help text: its meaning, where the paper defines it, when it is measured."""
    when = {
        "live": "measured by the trainer at every snapshot",
        "analysis": "measured by the full analysis",
        "ablation": "measured by the full analysis at every n-th snapshot",
    }[m["stage"]]
    return f"{m['meaning']} ({m['section']}; {when})"


def metric_range(m: MetricInfo) -> tuple[float, float] | None:
    """The registry's value range, for a colour scale that is the same at every checkpoint."""
    return (m["low"], m["high"]) if m["low"] is not None and m["high"] is not None else None


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


RETRY_S = 5  # how often a page that lost the service asks whether it is back


def _lost_service_retry() -> None:
    """Drawn under the error while the service is unreachable, and rerun every RETRY_S s on its
    own (a fragment): once `/health` answers, the whole page is drawn again, no reload needed.
    Not on the first draw, right after the failure: a service that answers `/health` but drops
    one route's connection would otherwise rerun the page in a tight loop."""
    lost_at = st.session_state.get("_service_lost_at", 0.0)
    if time.monotonic() - lost_at >= RETRY_S / 2 and client.reachable():
        st.rerun(scope="app")
    st.caption(
        f"Asking again every {RETRY_S} s (last at {time.strftime('%H:%M:%S')}): the page comes back by itself "
        "when the service answers."
    )


def fail(e: ServiceError) -> NoReturn:
    """Show a failed service call as one `st.error` and stop the page, never as a traceback.
    A service that is down or restarting is asked again every RETRY_S s and the page redraws by
    itself when it is back; one too slow to answer (or busy, 429) gets a "Try again" button."""
    st.error(e.message)
    if e.unreachable:
        st.session_state["_service_lost_at"] = time.monotonic()
        st.fragment(run_every=RETRY_S)(_lost_service_retry)()
    elif e.status in (None, 429):
        st.button("Try again", icon=":material/refresh:", key="_try_again")  # a click reruns the page
    st.stop()


@contextmanager
def service_errors() -> Iterator[None]:
    """Run service calls; a failure stops the page with `fail`'s message (never a traceback).

    A 404 (a snapshot not measured yet, no report yet) is an empty state rather than a fault: it
    is shown as `st.info` with the service's own explanation."""
    try:
        yield
    except ServiceError as e:
        if e.status == 404:
            st.info(f"Nothing to show yet: {e.detail}.")
            st.stop()
        fail(e)


def unless_missing(call: Callable[..., T], *args, **kwargs) -> T | None:
    """`call(*args, **kwargs)`, or None after an `st.info` when the service has nothing there yet
    (404: a snapshot not measured, no report); any other failure stops the page (`fail`)."""
    try:
        return call(*args, **kwargs)
    except ServiceError as e:
        if e.status != 404:
            fail(e)
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
        reason = (phase or {}).get("reason") or "no metrics yet"
        return f"no phase window: {reason}"
    tps = tokens_per_step or (phase or {}).get("tokens_per_step")
    span = f" ({fmt_tokens(w[0] * tps)}–{fmt_tokens(w[1] * tps)} tokens)" if tps else ""
    return f"phase window: steps {w[0]:,}–{w[1]:,}{span}"


def live_text(m: RunMetricsResponse, suite: str) -> str:
    """What a run's live-only curves mean: still training, or trained and not yet analysed (a
    run followed from its own training loop, or trained with `--no-analyze`); "" once analysed."""
    if not m["live"]:
        return ""
    if m.get("status") == "training":
        return "live curves, still training"
    return (
        "live curves: trained, the full analysis not run yet "
        f"(`.venv/bin/python -m training analyze artifacts/{suite}`)"
    )


def stop_text(m: RunMetricsResponse) -> str:
    """How a run's training ended (or will end) under the plateau rule, from the service's
    `stop` and `phase_end`; "" for a run trained for a fixed number of steps."""
    end = m.get("phase_end")
    if end:
        if end["finished"]:
            return f"training stopped at step {end['step']:,}, its phase change over"
        rise = end.get("final_rise")
        still = (
            f", its max prefix-matching score still rising {rise:+.3f} over its last {end['stretch_steps']:,} steps"
            if rise is not None
            else ""
        )
        return f"**unfinished**: stopped at its cap of {end['cap']:,} steps with its phase change under way{still}; the claims do not judge it"
    progress = m.get("progress")
    if m.get("stop") == "plateau" and progress:
        return f"trains until its phase change is over, at most {progress['steps']:,} steps"
    return ""


def before_after_steps(steps: list[int], phase: PhaseWindow | None) -> tuple[int, int]:
    """Default checkpoints to compare: the phase window's ends, else the first and last step."""
    w = window(phase)
    if w is not None and w[0] in steps and w[1] in steps:
        return w
    return steps[0], steps[-1]


def repeat_text(config: dict) -> str:
    """What a suite's data config says about repeated training contexts."""
    share = config.get("repeat_fraction", 0)
    if not share:
        return "repeat_fraction 0 (no training context repeats its text)"
    if config.get("repeat_layout", "half") == "random":
        what = "training contexts that repeat a stretch of their own text at a random offset"
    else:
        what = "training contexts whose second half repeats the first: always the same offset"
    return f"repeat_fraction {share} ({what}; held-out text is never altered)"


def joint_ablation_text(ba: dict) -> str:
    """A sentence on the induction heads' joint ablation in a before-and-after table row."""
    heads = ", ".join(head_label(layer, head) for layer, head in ba.get("induction_heads") or [])
    share = ba.get("induction_projection")
    if not heads or share is None:
        return "No induction head at the window's end to remove together." if ba.get("projection") is not None else ""
    cosine = ba.get("induction_alignment")
    return (
        f"Removing the induction heads together ({heads}) undoes {share:.0%} of the change"
        + ("" if cosine is None else f" (cosine {cosine:+.2f})")
        + "."
    )


def tokens_per_step(run: RunInfo, phase: PhaseWindow | None = None) -> int:
    return run.get("tokens_per_step") or (phase or {}).get("tokens_per_step") or 1


def need(condition: bool, message: str) -> None:
    """An empty state: show `message` and stop the page unless `condition` holds."""
    if not condition:
        st.info(message)
        st.stop()
