"""The selection every page shares — suite, run, step, layer, head, text — kept in
`st.session_state` and mirrored in the URL's query parameters, so a view can be shared as a link.

The selection is the one source of truth. Widgets have their own keys and copy their value into
it when changed (`bind`); before a widget is drawn its key is set from the selection, so a head
picked by clicking a chart, a step chosen on another page, or a link opened in a new tab all show
up in the widgets.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

FIELDS = ("suite", "run", "step", "layer", "head", "text")
INT_FIELDS = ("step", "layer", "head")
KEY = "selection"

# A short passage typed twice: on its second copy an induction head attends from each token to
# the token after its first occurrence, and the loss drops. It fits a 64-token context (`tiny`).
DEFAULT_TEXT = "def mean(xs):\n    return sum(xs) / len(xs)\n\ndef mean(xs):\n    return sum(xs) / len(xs)\n"


def _from_url() -> dict[str, Any]:
    sel: dict[str, Any] = dict.fromkeys(FIELDS)
    for field in FIELDS:
        value = st.query_params.get(field)
        if value is None:
            continue
        if field in INT_FIELDS:
            try:
                sel[field] = int(value)
            except ValueError:
                continue  # a mangled link falls back to the default for that field
        else:
            sel[field] = value
    return sel


def selection() -> dict[str, Any]:
    """The current selection; a new session starts from the URL's query parameters."""
    if KEY not in st.session_state:
        st.session_state[KEY] = _from_url()
    return st.session_state[KEY]


def get(field: str) -> Any:
    return selection()[field]


def text() -> str:
    return get("text") or DEFAULT_TEXT


def update(**changes: Any) -> None:
    """Change fields of the selection and rewrite the URL to match."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown selection fields: {sorted(unknown)}")
    selection().update(changes)
    sync_url()


def sync_url() -> None:
    params = {f: str(v) for f, v in selection().items() if v is not None and not (f == "text" and v == DEFAULT_TEXT)}
    if {k: st.query_params.get(k) for k in st.query_params} != params:
        st.query_params.from_dict(params)


def _copy(field: str, widget_key: str) -> None:
    update(**{field: st.session_state[widget_key]})


def bind(field: str) -> dict[str, Any]:
    """Keyword arguments that tie a widget to a selection field: `st.selectbox(..., **bind("run"))`.
    The field must already hold a value the widget accepts."""
    widget_key = f"_widget_{field}"
    # Set on every run, not only when it differs: a widget drawn on another page is a new widget
    # (Streamlit keys widget ids by page) and would otherwise start from its default.
    st.session_state[widget_key] = selection()[field]
    return {"key": widget_key, "on_change": _copy, "args": (field, widget_key)}
