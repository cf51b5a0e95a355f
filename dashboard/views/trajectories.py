"""Trajectories: every run's path through the joint PCA of per-token losses."""

import streamlit as st

from dashboard import charts, client, sidebar, state, ui

st.title("Trajectories")
st.markdown(
    "Each checkpoint of each run is one point: its losses on the same fixed held-out tokens, projected on the "
    "first two principal components of all checkpoints of all runs together (the paper's Argument 1). A run "
    "that forms induction heads **turns** during its phase window (drawn thick); a 1-layer model does not. "
    "Colour is the training step; click a point to select that run and checkpoint."
)
sel = sidebar.selection()


def _pick_point() -> None:
    custom = (ui.chart_point(st.session_state.get("pca_chart")) or {}).get("customdata")
    if custom:  # (run, step, tokens seen); the lines and the highlight carry none
        state.update(run=str(custom[0]), step=int(custom[1]))


pca = ui.unless_missing(client.pca, sel.suite, components=2)
ui.need(pca is not None, sel.pending())
runs = {name: r for name, r in pca["runs"].items() if r["coords"]}
ui.need(bool(runs), f"Suite {sel.suite!r} has no PCA trajectories yet. {sel.pending()}")
if sum(len(r["steps"]) for r in runs.values()) < 3:
    st.info(
        "Fewer than three analysed checkpoints in the whole suite: the trajectories will be more telling once more are analysed."
    )
st.plotly_chart(
    charts.pca_trajectories({**pca, "runs": runs}, selected=(sel.run["name"], sel.step)),
    key="pca_chart",
    on_select=_pick_point,
    selection_mode="points",
)
st.caption(f"{pca['note']}; {pca['n_tokens']:,} tokens. Selected: {sel.run['name']} at step {sel.step:,}.")
st.markdown(
    "  \n".join(
        f"**{name}**: {ui.phase_text(r.get('phase'), (r.get('phase') or {}).get('tokens_per_step'))}"
        for name, r in runs.items()
    )
)
