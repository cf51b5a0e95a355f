"""The moment a head forms: while the page follows training, a notice when a run's best head
first passes the induction threshold (which head, at which step; the service's `formed`), with
buttons that open the Attention page on that head at that checkpoint and the Heads page.

A notice is kept in the session from the draw that first sees the crossing until the user
dismisses it: later refreshes draw the same notice (never a second one), and a dismissed one
does not come back. Only crossings seen while following a run that trains are announced; a suite
opened after the fact shows its heads on the charts, not as news.
"""

from __future__ import annotations

import streamlit as st

from dashboard import state, ui
from dashboard.api_types import HeadFormed, RunMetricsResponse, SuiteStatus

SEEN = "_formed_seen"  # notice key -> (suite, run, formed), in the order they were first seen
DISMISSED = "_formed_dismissed"  # notice keys the user closed
GOTO = "_goto"  # the page a notice's button asked for; the entry point switches to it


def notice_key(suite: str, run: str, formed: HeadFormed) -> str:
    return f"{suite}/{run}/{formed['step']}/{formed['label']}"


def collect(
    suite: str, metrics: dict[str, RunMetricsResponse], status: SuiteStatus | None, following: bool
) -> list[tuple[str, str, HeadFormed]]:
    """The notices to draw: crossings seen before in this session and not dismissed, plus any
    run that trains now (per `status`) and has crossed, when the page follows training."""
    seen: dict[str, tuple[str, str, HeadFormed]] = st.session_state.setdefault(SEEN, {})
    dismissed: set[str] = st.session_state.setdefault(DISMISSED, set())
    # what trains now: the service's status (fresh progress), else the manifests' word for it
    training = (
        set(ui.training_runs(status))
        if status is not None
        else {run for run, m in metrics.items() if m.get("status") == "training"}
    )
    if following:
        for run, m in metrics.items():
            formed = m.get("formed")
            if formed and run in training:
                seen.setdefault(notice_key(suite, run, formed), (suite, run, formed))
    return [(s, run, f) for key, (s, run, f) in seen.items() if key not in dismissed]


def _dismiss(key: str) -> None:
    st.session_state.setdefault(DISMISSED, set()).add(key)


def _open(page: str, suite: str, run: str, formed: HeadFormed) -> None:
    """A button's callback: select the head at the crossing's checkpoint, then go to `page`."""
    state.update(suite=suite, run=run, step=formed["step"], layer=formed["layer"], head=formed["head"])
    st.session_state[state.PINNED] = (run, formed["step"])  # stays there when newer snapshots arrive
    st.session_state[GOTO] = page


def text(run: str, formed: HeadFormed) -> str:
    return (
        f"**An induction head formed in {run}**: {formed['label']}'s prefix-matching score passed "
        f"{formed['threshold']:g} ({formed['score']:.3f}) at step {formed['step']:,} "
        f"({ui.fmt_tokens(formed['tokens_seen'])} tokens seen)."
    )


def draw(notices: list[tuple[str, str, HeadFormed]]) -> None:
    """One notice per crossing, each with its links and a dismiss button."""
    for suite, run, formed in notices:
        key = notice_key(suite, run, formed)
        with st.container(border=True, key=f"formed-{key.replace('/', '-')}"):
            st.success(text(run, formed), icon=":material/celebration:")
            attention, heads, close = st.columns(3)
            args = (suite, run, formed)
            attention.button(
                f"Attention of {formed['label']} at step {formed['step']:,}",
                key=f"{key}/attention",
                icon=":material/visibility:",
                on_click=_open,
                args=("attention", *args),
                help="Its attention pattern on the shared text at this checkpoint: the induction stripe.",
            )
            heads.button(
                "Every head's scores (Heads page)",
                key=f"{key}/heads",
                icon=":material/grid_view:",
                on_click=_open,
                args=("heads", *args),
            )
            close.button("Dismiss", key=f"{key}/dismiss", icon=":material/close:", on_click=_dismiss, args=(key,))
