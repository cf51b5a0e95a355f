"""The selection every page shares — suite, run, step, head, text, and the Phase change page's
x axis (`view`) — and its mirror in the URL's query parameters, so a view can be shared as a link.

The sidebar's pickers are drawn once per run by the entry point (`dashboard/app.py`), whatever
the page, so their own `st.session_state` keys are the selection and survive page switches.
Code that changes the selection (a click on a chart, a button) calls `update` from a widget
callback, which runs before the pickers are drawn. The text is edited in a text box on several
pages; a widget that is not drawn loses its state, so the text is kept under a key of its own, and
so is the view (its picker is drawn on one page only). A view not chosen yet stays None: the page
opens on its default (`dashboard.charts.VIEWS`).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

# session-state key of each field: the sidebar's pickers ("head" holds (layer, head)) and the text
KEYS = {"suite": "suite", "run": "run", "step": "step", "text": "text", "view": "view"}
HEAD = "head"
URL_FIELDS = ("suite", "run", "step", "layer", "head", "text", "view")
TEXT_BOX = "_text_box"
VIEW_BOX = "_view_box"
PINNED = "_pinned_step"  # (run, step) the sidebar keeps when newer snapshots arrive

# A short passage typed twice: on its second copy an induction head attends from each token to
# the token after its first occurrence, and the loss drops. It fits a 64-token context (`tiny`).
DEFAULT_TEXT = "def mean(xs):\n    return sum(xs) / len(xs)\n\ndef mean(xs):\n    return sum(xs) / len(xs)\n"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # a mangled link falls back to the default for that field


def start() -> None:
    """On a session's first run, take the selection from the URL."""
    if st.session_state.get("_started"):
        return
    st.session_state["_started"] = True
    params = st.query_params
    for field in ("suite", "run", "text", "view"):
        if params.get(field) is not None:
            st.session_state[KEYS[field]] = params.get(field)
    if _int(params.get("step")) is not None:
        st.session_state["step"] = _int(params.get("step"))
    layer, head = _int(params.get("layer")), _int(params.get("head"))
    if layer is not None and head is not None:
        st.session_state[HEAD] = (layer, head)


def get(field: str) -> Any:
    if field in ("layer", "head"):
        pair = st.session_state.get(HEAD)
        return None if pair is None else pair[0 if field == "layer" else 1]
    return st.session_state.get(KEYS[field])


def text() -> str:
    return get("text") or DEFAULT_TEXT


def update(**changes: Any) -> None:
    """Change fields of the selection (from a callback, or before the picker is drawn)."""
    unknown = set(changes) - set(URL_FIELDS)
    if unknown:
        raise ValueError(f"unknown selection fields: {sorted(unknown)}")
    if "layer" in changes or "head" in changes:
        st.session_state[HEAD] = (changes.pop("layer", get("layer")), changes.pop("head", get("head")))
    for field, value in changes.items():
        st.session_state[KEYS[field]] = value
    sync_url()


def resolve(field: str, options: list, fallback: Any) -> Any:
    """The field's value if the service has it, else `fallback` (a link to a run that is gone)."""
    key = HEAD if field == "head" else KEYS[field]
    if st.session_state.get(key) not in options:
        st.session_state[key] = fallback
    return st.session_state[key]


def sync_url() -> None:
    params = {f: get(f) for f in URL_FIELDS}
    params = {f: str(v) for f, v in params.items() if v is not None and not (f == "text" and v == DEFAULT_TEXT)}
    if {k: st.query_params.get(k) for k in st.query_params} != params:
        st.query_params.from_dict(params)


def _text_changed() -> None:
    update(text=st.session_state[TEXT_BOX])


def text_area(label: str, **kwargs: Any) -> str:
    """A text box showing the shared text; an edit changes it on every page. Returns the text."""
    st.session_state[TEXT_BOX] = text()
    st.text_area(label, key=TEXT_BOX, on_change=_text_changed, **kwargs)
    return text()


def _view_changed() -> None:
    update(view=st.session_state[VIEW_BOX])


def view_picker(label: str, options: dict[str, str], default: str, **kwargs: Any) -> str:
    """A picker of the page's view (`options`: value -> label) that keeps the choice in the
    selection and the URL; `default` until one is chosen (or when a link names an unknown
    view). Returns the view to draw."""
    chosen = get("view")
    view = chosen if chosen in options else default
    st.session_state[VIEW_BOX] = view
    st.segmented_control(label, list(options), format_func=options.get, key=VIEW_BOX, on_change=_view_changed, **kwargs)
    return view
