"""Heads: a layer x head grid of one score at the checkpoint, the chosen head over training, the
paper's prefix-matching vs copying scatter, and the chosen head's period sweep and offset profile
(positional shortcut or induction head). The scores, their labels, ranges and help texts are the
service's metric registry (`/registry`)."""

import streamlit as st

from dashboard import client, head_charts, sidebar, state, ui

st.title("Heads")
st.markdown(
    "Every head of the run at the chosen checkpoint, coloured by one score: an induction head has a high "
    "**prefix-matching** score (it attends to the token after an earlier copy of the current one) and a positive "
    "**copying** score. Click a cell to select that head for every page (or pick it under *Head* in the sidebar)."
)
sel = sidebar.selection()


def _pick_head() -> None:
    point = ui.chart_point(st.session_state.get("head_grid"))
    if point is not None:  # the grid's x is the head, y the layer
        state.update(layer=int(point["y"]), head=int(point["x"]))


def _round(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


with ui.service_errors():
    described = {m["name"]: m for m in client.registry()["metrics"]}
registry = {name: m for name, m in described.items() if m["per_head"]}
name = st.selectbox(
    "Score",
    list(registry),
    format_func=lambda n: registry[n]["label"],
    key="_heads_score",
)
metric = registry[name]
st.caption(ui.metric_help(metric))
run = sel.run["name"]
table = ui.unless_missing(client.heads, sel.suite, run, sel.step)
if table is not None:
    grid = table["scores"].get(name) or [[None] * sel.n_heads for _ in range(sel.n_layers)]  # [layer][head]
    if all(v is None for row in grid for v in row):
        if table["stage"] == "live":
            st.info(f"Step {sel.step:,} has only the live metrics so far. {sel.pending()}")
        else:
            st.info(f"{metric['label']} was not measured at step {sel.step:,}: choose a neighbouring checkpoint.")
    st.caption(
        f"step {sel.step:,} · {ui.fmt_tokens(table['tokens_seen'])} tokens · "
        f"{'live metrics' if table['stage'] == 'live' else 'full analysis'} · ICL score {_round(table['icl_score'])} "
        f"· held-out loss {_round(table['eval_loss'])}"
    )
else:  # not measured yet: the one score the service computes on demand
    with st.spinner("Measuring prefix matching on this snapshot…"), ui.service_errors():
        grid = client.prefix_matching(sel.suite, run, sel.step)["scores"]
    metric = registry.get("prefix_matching", metric)
    st.caption(
        f"Prefix-matching score at step {sel.step:,}, measured on demand by the service (same function and seed as the analysis)."
    )
st.plotly_chart(
    head_charts.head_grid(grid, title=metric["label"], selected=(sel.layer, sel.head), zrange=ui.metric_range(metric)),
    key="head_grid",
    on_select=_pick_head,
    selection_mode="points",
)

with ui.service_errors():
    metrics = client.run_metrics(sel.suite, run)
ui.need(len(metrics["steps"]) > 0, f"No snapshot of {run} is measured yet.")
left, right = st.columns(2)
with left:
    st.subheader(f"{sel.head_label} over training")
    st.caption("Its bounded scores at every measured checkpoint; the shaded band is the phase window.")
    history = [m for m in registry.values() if m["stage"] != "ablation" and ui.metric_range(m)]
    st.plotly_chart(
        head_charts.head_history(metrics, sel.layer, sel.head, history, sel.tokens_per_step), key="head_history"
    )
with right:
    st.subheader("Prefix matching vs copying")
    if "full" not in metrics["stages"] or "copying" not in metrics["head_metrics"]:
        st.info(f"Copying is measured by the full analysis. {sel.pending()}")
    else:
        st.caption(
            "Every head at one analysed checkpoint (the paper's scatter): induction heads end up top right. Drag the "
            "slider or press play to step through training; colour is the layer."
        )
        st.plotly_chart(head_charts.prefix_vs_copying(metrics, sel.step), key="pm_vs_copying")

if table is not None:
    st.subheader(f"{sel.head_label}: induction head or positional shortcut?")
    st.caption(
        "Left, the prefix-matching score on random tokens repeated with period P; right, the mean attention to the "
        "token k back on plain held-out text (the other heads in grey). A positional shortcut peaks at one period and "
        "one offset (a head attending to q − 127 whatever the tokens: period 128, offset 127); an induction head is "
        "high at every period."
    )
    profiles = {n: p for n, p in table["profiles"].items() if n in described}
    measured = [n for n, p in profiles.items() if any(v is not None for v in p["values"][sel.layer][sel.head])]
    if not measured and table["stage"] == "live":
        st.info(f"The period sweep and the offsets are measured by the full analysis. {sel.pending()}")
    elif not measured:
        st.info(
            f"{run} was analysed before the period sweep and the offsets existed: the next analysis pass "
            f"(`.venv/bin/python -m training analyze artifacts/{sel.suite}`) measures them, and only them."
        )
    for column, name in zip(st.columns(max(len(measured), 1)), measured):
        with column:
            figure = head_charts.head_profile(profiles[name], described[name], sel.layer, sel.head)
            st.plotly_chart(figure, key=f"profile_{name}")
            st.caption(ui.metric_help(described[name]))
    with st.expander(f"Every score of every head at step {sel.step:,}"):
        scores = {registry[k]["label"]: g for k, g in table["scores"].items() if k in registry}
        st.dataframe(
            [
                {"head": ui.head_label(layer, head), **{label: g[layer][head] for label, g in scores.items()}}
                for layer in range(sel.n_layers)
                for head in range(sel.n_heads)
            ],
            hide_index=True,
        )
