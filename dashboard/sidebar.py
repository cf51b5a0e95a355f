"""The sidebar, drawn once per run by the entry point: suite, run, checkpoint and head, and
"Follow training". `render()` resolves the shared selection against what the service has (a link
naming a run or step that does not exist falls back to the latest), handles the empty states (no
suites, no runs, no snapshots) and keeps the resolved `Selection` for the page (`selection()`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from dashboard import client, state, ui
from dashboard.api_types import PhaseWindow, RunInfo, SuiteDetail, SuiteStatus

REFRESH_S = 10  # how often "Follow training" asks the service for new snapshots
SELECTION = "_selection"


@dataclass(frozen=True)
class Selection:
    suite: str
    detail: SuiteDetail
    run: RunInfo
    step: int
    layer: int
    head: int
    phase: PhaseWindow | None  # None until the run has measured snapshots
    status: SuiteStatus | None  # what trains now; None if the service could not say

    @property
    def steps(self) -> list[int]:
        return [s["step"] for s in self.run["snapshots"]]

    @property
    def tokens_per_step(self) -> int:
        return ui.tokens_per_step(self.run, self.phase)

    @property
    def head_label(self) -> str:
        return ui.head_label(self.layer, self.head)

    @property
    def n_layers(self) -> int:
        return self.run["model"].get("n_layers", 1)

    @property
    def n_heads(self) -> int:
        return self.run["model"].get("n_heads", 1)

    def tokens_seen(self, step: int) -> int:
        return next((s["tokens_seen"] for s in self.run["snapshots"] if s["step"] == step), step * self.tokens_per_step)

    def pending(self) -> str:
        """What comes next for the chosen run while it lacks its full analysis."""
        return ui.pending(self.suite, self.run["name"], self.status)


def selection() -> Selection:
    """The selection `render()` resolved in this run (pages call this)."""
    return st.session_state[SELECTION]


def _signature(detail: SuiteDetail) -> tuple:
    return tuple(
        (r["name"], r["status"], len(r["snapshots"]), len(r["live_steps"]), len(r["analysed_steps"]))
        for r in detail["runs"]
    )


def _watch(suite: str, seen: tuple) -> None:
    """Runs every REFRESH_S seconds while "Follow training" is on: reruns the app when a run has
    new snapshots or metrics (the checkpoint moves along if it was on the latest one)."""
    try:
        fresh = client.suite_fresh(suite)
    except client.ServiceError as e:
        # Stopped mid-session: redraw the page, which says so and waits for it to come back. Not
        # on the draw that comes with the page (it has just reached the service): no rerun loop.
        if e.unreachable and time.monotonic() - st.session_state.get("_page_drawn_at", 0.0) >= REFRESH_S / 2:
            st.rerun(scope="app")
        return
    st.caption(f"checked for new snapshots at {time.strftime('%H:%M:%S')}")
    if _signature(fresh) != seen:
        client.clear_cache()
        st.rerun(scope="app")


def _status_line(suite: str) -> None:
    try:
        line = ui.training_line(client.status(suite))
    except client.ServiceError:
        return
    if line:
        st.info(line, icon=":material/model_training:")


def training_status(sel: Selection) -> None:
    """One line saying what trains now (nothing when nothing does); kept fresh while following."""
    if st.session_state.get("follow"):
        st.fragment(run_every=REFRESH_S)(_status_line)(sel.suite)
    else:
        _status_line(sel.suite)


def _set_step(step: int) -> None:
    state.update(step=step)


def _step_picker(run: RunInfo, phase: PhaseWindow | None) -> int:
    sb = st.sidebar
    snapshots = run["snapshots"]
    steps = [s["step"] for s in snapshots]
    # On the latest checkpoint when a new one arrives: follow it, unless that checkpoint was
    # chosen for itself (a head-formed notice's button pins its step: `state.PINNED`).
    latest = st.session_state.setdefault("_latest_step", {})  # per run, as of the last run of the app
    seen = latest.get(run["name"])
    pinned = st.session_state.get(state.PINNED) == (run["name"], state.get("step"))
    if not pinned and seen is not None and state.get("step") == seen and steps[-1] != seen:
        state.update(step=steps[-1])
    latest[run["name"]] = steps[-1]
    step = state.resolve("step", steps, steps[-1])
    w = ui.window(phase)
    in_window = (lambda s: w[0] <= s <= w[1]) if w else (lambda s: False)
    tokens = {s["step"]: s["tokens_seen"] for s in snapshots}
    if len(steps) > 1:
        sb.select_slider(
            "Checkpoint",
            steps,
            format_func=lambda s: f"step {s:,} · {ui.fmt_tokens(tokens[s])} tokens" + (" ◆" if in_window(s) else ""),
            key="step",
        )
    else:
        sb.markdown(f"**Checkpoint:** step {step:,} (the only snapshot so far)")
    sb.caption(("◆ " if w else "") + ui.phase_text(phase, run.get("tokens_per_step")))
    if w:
        left, right = sb.columns(2)
        start = max((s for s in steps if s <= w[0]), default=steps[0])
        end = min((s for s in steps if s >= w[1]), default=steps[-1])
        left.button("window start", icon=":material/first_page:", on_click=_set_step, args=(start,), width="stretch")
        right.button("window end", icon=":material/last_page:", on_click=_set_step, args=(end,), width="stretch")
    return state.get("step")


def _busy(detail: SuiteDetail, status: SuiteStatus | None) -> bool:
    """A run trains, or a trained run waits for the analysis that follows its training."""
    runs = (status or {}).get("runs", {})
    waiting = any(
        runs.get(r["name"]) == "complete" and len(r["live_steps"]) > len(r["analysed_steps"]) for r in detail["runs"]
    )
    return bool(ui.training_runs(status)) or waiting


def _follow_toggle(busy: bool) -> bool:
    """On by default while the stack trains or analyses, until the user chooses."""
    if not st.session_state.get("_follow_chosen"):
        st.session_state["follow"] = busy
    return st.sidebar.toggle(
        "Follow training",
        key="follow",
        on_change=lambda: st.session_state.update(_follow_chosen=True),
        help=f"Check every {REFRESH_S} s for new snapshots and metrics of a run that is training.",
    )


def render() -> Selection:
    """Draw the sidebar and keep the selection for the page; stops the page on an empty state."""
    state.start()
    sb = st.sidebar
    with ui.service_errors():
        suites = client.suites()
    ui.need(
        bool(suites),
        "No suites yet in the service's ARTIFACTS_DIR. If the stack has just started, the default suite appears "
        "here as soon as its data is prepared; else train one: "
        "`.venv/bin/python -m training train --preset tiny --suite mytiny` (seconds).",
    )
    names = [s["name"] for s in suites]
    state.resolve("suite", names, names[0])
    sb.selectbox("Suite", names, key="suite")

    with ui.service_errors():
        detail = client.suite(state.get("suite"))
    try:
        status = client.status(detail["name"])  # never cached: also how a lost service shows at once
    except client.ServiceError as e:
        if e.unreachable:  # the answers above may come from the cache: say it is gone, not stale pages
            ui.fail(e)
        status = None  # the pages still draw; they just cannot say what trains
    runs = {r["name"]: r for r in detail["runs"] if r["status"] != "unreadable"}
    ui.need(bool(runs), f"Suite {detail['name']!r} has no readable runs yet.")
    state.resolve("run", list(runs), next(iter(runs)))
    training = ui.training_runs(status)
    sb.selectbox(
        "Run",
        list(runs),
        format_func=lambda r: f"{r} · {runs[r]['description']}" + (" (training)" if r in training else ""),
        key="run",
    )
    run = runs[state.get("run")]
    ui.need(bool(run["snapshots"]), f"Run {run['name']!r} has no snapshots yet: it is still starting up.")
    try:
        phase = client.run_metrics(detail["name"], run["name"])["phase"]
    except client.ServiceError:
        phase = None  # the pages that need the metrics report the error themselves
    step = _step_picker(run, phase)

    model = run["model"]
    heads = [(layer, head) for layer in range(model.get("n_layers", 1)) for head in range(model.get("n_heads", 1))]
    state.resolve("head", heads, (heads[-1][0], 0))  # the last layer: where induction heads live
    sb.selectbox("Head", heads, format_func=lambda h: ui.head_label(*h), key=state.HEAD)

    sb.divider()
    follow = _follow_toggle(_busy(detail, status))
    if sb.button("Refresh now", icon=":material/refresh:", help="Forget cached answers and ask the service again."):
        client.clear_cache()
        st.rerun()
    if follow:
        st.session_state["_page_drawn_at"] = time.monotonic()
        with sb:
            st.fragment(run_every=REFRESH_S)(_watch)(detail["name"], _signature(detail))
    sb.caption(f"Service: {client.api_url()}")
    state.sync_url()
    sel = Selection(detail["name"], detail, run, step, state.get("layer"), state.get("head"), phase, status)
    st.session_state[SELECTION] = sel
    return sel
