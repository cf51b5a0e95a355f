"""Heads: a layer x head grid of one score at the checkpoint, the chosen head over training, and the
paper's prefix-matching vs copying scatter."""

import streamlit as st

from dashboard import client, head_charts, sidebar, state, ui

# label on screen -> field of the service's per-head table
SCORES = {
    "prefix matching": "prefix_matching",
    "previous token": "previous_token",
    "duplicate token": "duplicate_token",
    "copying": "copying",
    "OV eigenvalue positivity": "eigenvalue_positivity",
    "direct logit attribution": "logit_attribution",
    "ablation: Δ ICL score (mean)": "ablation_mean_delta_icl",
    "ablation: Δ loss (mean)": "ablation_mean_delta_loss",
    "ablation: Δ ICL score (pattern-preserving)": "ablation_pattern_preserving_delta_icl",
    "ablation: Δ loss (pattern-preserving)": "ablation_pattern_preserving_delta_loss",
}
RANGES = {
    "prefix_matching": (0.0, 1.0),
    "previous_token": (0.0, 1.0),
    "duplicate_token": (0.0, 1.0),
    "copying": (-1.0, 1.0),
    "eigenvalue_positivity": (-1.0, 1.0),
}
HISTORY = ("prefix_matching", "previous_token", "duplicate_token", "copying", "eigenvalue_positivity")

st.title("Heads")
st.markdown(
    "Every head of the run at the chosen checkpoint, coloured by one score: an induction head has a high "
    "**prefix-matching** score (it attends to the token after an earlier copy of the current one) and a positive "
    "**copying** score. Click a cell to select that head for every page (or pick it under *Head* in the sidebar)."
)
sel = sidebar.render()


def _pick_head() -> None:
    point = ui.chart_point(st.session_state.get("head_grid"))
    if point is not None:  # the grid's x is the head, y the layer
        state.update(layer=int(point["y"]), head=int(point["x"]))


def _round(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


score = st.selectbox("Score", list(SCORES), key="_heads_score")
table = ui.unless_missing(client.heads, sel.suite, sel.run["name"], sel.step)
if table is not None:
    field = SCORES[score]
    grid: list[list[float | None]] = [[None] * sel.n_heads for _ in range(sel.n_layers)]
    for h in table["heads"]:
        grid[h["layer"]][h["head"]] = h[field]
    if field.startswith("ablation") and all(v is None for row in grid for v in row):
        st.info(
            f"Ablations were not measured at step {sel.step:,} (the analysis ablates every n-th snapshot): "
            "choose a neighbouring checkpoint."
        )
    st.caption(
        f"step {sel.step:,} · {ui.fmt_tokens(table['tokens_seen'])} tokens · ICL score {_round(table['icl_score'])} "
        f"· held-out loss {_round(table['eval_loss'])}"
    )
else:  # not analysed yet (a run still training): the one score the service computes on demand
    with st.spinner("Measuring prefix matching on this snapshot…"), ui.service_errors():
        grid = client.prefix_matching(sel.suite, sel.run["name"], sel.step)["scores"]
    score = "prefix matching"
    st.caption(
        f"Prefix-matching score at step {sel.step:,}, measured on demand by the service (same function and seed as the analysis)."
    )
st.plotly_chart(
    head_charts.head_grid(grid, title=score, selected=(sel.layer, sel.head), zrange=RANGES.get(SCORES[score])),
    key="head_grid",
    on_select=_pick_head,
    selection_mode="points",
)

with ui.service_errors():
    metrics = client.run_metrics(sel.suite, sel.run["name"])
ui.need(
    metrics["analysed"] and len(metrics["steps"]) > 0,
    f"Run {sel.run['name']!r} is not analysed yet. {ui.analyze_hint(sel.suite)}",
)
left, right = st.columns(2)
with left:
    st.subheader(f"{sel.head_label} over training")
    st.caption("Its scores at every analysed checkpoint; the shaded band is the phase window.")
    st.plotly_chart(
        head_charts.head_history(metrics, sel.layer, sel.head, HISTORY, sel.tokens_per_step), key="head_history"
    )
with right:
    st.subheader("Prefix matching vs copying")
    st.caption(
        "Every head at one checkpoint (the paper's scatter): induction heads end up top right. Drag the slider or press play to step through training; colour is the layer."
    )
    st.plotly_chart(head_charts.prefix_vs_copying(metrics, sel.step), key="pm_vs_copying")

if table is not None:
    with st.expander(f"Every score of every head at step {sel.step:,}"):
        st.dataframe(
            [{k: v for k, v in h.items() if k not in ("layer", "head")} for h in table["heads"]], hide_index=True
        )
