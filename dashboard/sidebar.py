"""The sidebar every page draws first: suite, run, checkpoint and head, and the refresh toggle.

`render()` resolves the shared selection against what the service has (a link naming a run or
step that does not exist falls back to the latest), draws the widgets, handles the empty states
(no suites, no runs, no snapshots) and returns the resolved `Selection`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from dashboard import client, state, ui
from dashboard.api_types import PhaseWindow, RunInfo, SuiteDetail

REFRESH_S = 10  # how often "Follow training" asks the service for new snapshots


@dataclass(frozen=True)
class Selection:
    suite: str
    detail: SuiteDetail
    run: RunInfo
    step: int
    layer: int
    head: int
    phase: PhaseWindow | None  # None until the run is analysed

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


def _signature(detail: SuiteDetail) -> tuple:
    return tuple((r["name"], len(r["snapshots"]), len(r["analysed_steps"])) for r in detail["runs"])


def _watch(suite: str, seen: tuple, latest_step: int) -> None:
    """Runs every REFRESH_S seconds while "Follow training" is on: reruns the app when a run has
    new snapshots or metrics, moving the checkpoint along if it was on the latest one."""
    try:
        fresh = client.suite_fresh(suite)
    except client.ServiceError:
        return  # the page itself reports the service being down
    st.caption(f"checked for new snapshots at {time.strftime('%H:%M:%S')}")
    if _signature(fresh) != seen:
        if state.get("step") == latest_step:
            state.update(step=None)  # follow the newest snapshot
        client.clear_cache()
        st.rerun(scope="app")


def _set_step(step: int) -> None:
    state.update(step=step)


def _resolve(field: str, options: list, fallback):
    if state.get(field) not in options:
        state.update(**{field: fallback})
    return state.get(field)


def _head_options(run: RunInfo) -> list[tuple[int, int]]:
    model = run["model"]
    return [(layer, head) for layer in range(model.get("n_layers", 1)) for head in range(model.get("n_heads", 1))]


def _set_head() -> None:
    layer, head = st.session_state["_widget_head_pair"]
    state.update(layer=layer, head=head)


def render() -> Selection:
    """Draw the sidebar and return the selection; stops the page on an empty state."""
    sb = st.sidebar
    with ui.service_errors():
        suites = client.suites()
    ui.need(
        bool(suites),
        "No suites yet in the service's ARTIFACTS_DIR. Train one: "
        "`.venv/bin/python -m training train --preset tiny --suite mytiny` (seconds) or `make up`.",
    )
    names = [s["name"] for s in suites]
    _resolve("suite", names, names[0])
    sb.selectbox("Suite", names, **state.bind("suite"))

    with ui.service_errors():
        detail = client.suite(state.get("suite"))
    runs = {r["name"]: r for r in detail["runs"] if r["status"] != "unreadable"}
    ui.need(bool(runs), f"Suite {detail['name']!r} has no readable runs yet.")
    _resolve("run", list(runs), next(iter(runs)))
    sb.selectbox(
        "Run",
        list(runs),
        format_func=lambda r: (
            f"{r} · {runs[r]['description']}" + (" (training)" if runs[r]["status"] == "training" else "")
        ),
        **state.bind("run"),
    )
    run = runs[state.get("run")]

    snapshots = run["snapshots"]
    ui.need(bool(snapshots), f"Run {run['name']!r} has no snapshots yet: it is still starting up.")
    try:
        phase = client.run_metrics(detail["name"], run["name"])["phase"]
    except client.ServiceError:
        phase = None  # the pages that need the metrics report the error themselves
    steps = [s["step"] for s in snapshots]
    step = _resolve("step", steps, steps[-1])
    w = ui.window(phase)
    in_window = (lambda s: w[0] <= s <= w[1]) if w else (lambda s: False)
    tokens = {s["step"]: s["tokens_seen"] for s in snapshots}
    if len(steps) > 1:
        sb.select_slider(
            "Checkpoint",
            steps,
            format_func=lambda s: f"step {s:,} · {ui.fmt_tokens(tokens[s])} tokens" + (" ◆" if in_window(s) else ""),
            **state.bind("step"),
        )
    else:
        sb.markdown(f"**Checkpoint:** step {step:,} (the only snapshot so far)")
    sb.caption(("◆ " if w else "") + ui.phase_text(phase, run.get("tokens_per_step")))
    if w:
        left, right = sb.columns(2)
        left.button(
            "window start",
            icon=":material/first_page:",
            on_click=_set_step,
            args=(max((s for s in steps if s <= w[0]), default=steps[0]),),
            width="stretch",
        )
        right.button(
            "window end",
            icon=":material/last_page:",
            on_click=_set_step,
            args=(min((s for s in steps if s >= w[1]), default=steps[-1]),),
            width="stretch",
        )

    heads = _head_options(run)
    if (state.get("layer"), state.get("head")) not in heads:
        state.update(layer=heads[-1][0], head=0)  # the last layer: where induction heads live
    st.session_state["_widget_head_pair"] = (state.get("layer"), state.get("head"))
    sb.selectbox("Head", heads, format_func=lambda h: ui.head_label(*h), key="_widget_head_pair", on_change=_set_head)

    sb.divider()
    # the toggle is a new widget on each page: keep its value outside it, as `state.bind` does
    st.session_state["_follow"] = st.session_state.get("follow_training", False)
    follow = sb.toggle(
        "Follow training",
        key="_follow",
        on_change=lambda: st.session_state.update(follow_training=st.session_state["_follow"]),
        help=f"Check every {REFRESH_S} s for new snapshots and metrics of a run that is training.",
    )
    if sb.button("Refresh now", icon=":material/refresh:", help="Forget cached answers and ask the service again."):
        client.clear_cache()
        st.rerun()
    if follow:
        with sb:
            st.fragment(run_every=REFRESH_S)(_watch)(detail["name"], _signature(detail), steps[-1])
    sb.caption(f"Service: {client.api_url()}")
    state.sync_url()
    return Selection(detail["name"], detail, run, state.get("step"), state.get("layer"), state.get("head"), phase)
