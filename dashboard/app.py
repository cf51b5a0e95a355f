"""The inductionscope dashboard: the sidebar (drawn here, once, for every page) and navigation over
the pages in `dashboard/views/` (not `pages/`: Streamlit would take that folder for an old-style
multipage app and could run a page without this script).

.venv/bin/uvicorn backend.main:app             # the REST service, on :8000
.venv/bin/streamlit run dashboard/app.py       # this app; INDUCTIONSCOPE_API=http://host:port to point elsewhere
"""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts dashboard/ itself on sys.path, and the pages import `dashboard.*`
    sys.path.insert(0, str(ROOT))

from dashboard import formed, sidebar  # noqa: E402  (after the path fix above)

PAGES = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="inductionscope", page_icon=":material/search:", layout="wide")
pages = [
    st.Page(PAGES / "phase_change.py", title="Phase change", icon=":material/monitoring:", default=True),
    st.Page(PAGES / "heads.py", title="Heads", icon=":material/grid_view:"),
    st.Page(PAGES / "attention.py", title="Attention", icon=":material/visibility:"),
    st.Page(PAGES / "trajectories.py", title="Trajectories", icon=":material/timeline:"),
    st.Page(PAGES / "tokens.py", title="Tokens", icon=":material/text_fields:"),
    st.Page(PAGES / "ablations.py", title="Ablations", icon=":material/content_cut:"),
    st.Page(PAGES / "claims.py", title="Claims", icon=":material/fact_check:"),
]
page = st.navigation(pages)
goto = st.session_state.pop(formed.GOTO, None)  # a button that selected a head and asked for a page
if goto is not None:
    st.switch_page(next(p for p in pages if p.url_path == goto))
# Drawn here rather than by each page, so the pickers are the same widgets on every page and
# keep their values when the page changes. Pages read the result with `sidebar.selection()`.
sidebar.render()
page.run()
