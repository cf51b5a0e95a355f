"""Ablations: each head's effect on the ICL score over training, each head's ablation against the
before-and-after vector of the phase change, and the chosen head removed on a text of your own."""

import streamlit as st

from dashboard import charts, client, head_charts, sidebar, state, token_charts, ui

MODES = {"pattern-preserving": "pattern_preserving", "mean": "mean"}  # the first is the default
TAGS = {"pattern_preserving": "pp", "mean": "mean"}  # as in the registry's names: ablation_pp_delta_icl
EFFECTS = {"Δ ICL score": "icl", "Δ held-out loss": "loss"}

st.title("Ablations")
st.markdown(
    "How the run's ICL score (or loss) changes when one head is removed, at the checkpoints where the analysis "
    "ablated every head. After the phase change, removing the induction head should take away most of the "
    "in-context learning — its Δ ICL score turns strongly **positive** (the ICL score is negative when the "
    "model learns in context) — while the other heads barely matter."
)
sel = sidebar.selection()
run = sel.run["name"]
with ui.service_errors():
    metrics = client.run_metrics(sel.suite, run)
left, right = st.columns(2)
mode = MODES[
    left.radio(
        "Ablation",
        list(MODES),
        horizontal=True,
        key="_abl_mode",
        help="pattern-preserving: attention patterns frozen to the clean run, the head's output removed; "
        "mean: the head's output replaced by its mean.",
    )
]
effect = right.radio("Effect", list(EFFECTS), horizontal=True, key="_abl_effect")
name = f"ablation_{TAGS[mode]}_delta_{EFFECTS[effect]}"
grids = metrics["head_metrics"].get(name, [])
if metrics.get("ablations") is False:
    st.info(
        f"Run {run!r} is analysed without ablations (off by default for imported models above 5 M parameters: "
        "two forward passes per head). Measure them with `python -m training analyze` and "
        "`--set analysis.ablations=true`."
    )
elif not any(v is not None for grid in grids for row in grid for v in row):
    st.info(f"Run {run!r} has no ablation measurements yet. {sel.pending()}")
else:
    st.plotly_chart(
        charts.ablation_history(metrics, name, sel.tokens_per_step, title=f"{effect} when the head is removed"),
        key="abl_history",
    )

st.subheader("Ablations against the before-and-after vector")
st.markdown(
    "The **before-and-after vector** is the change in per-token held-out loss across the phase change (from the "
    "checkpoint at the window's start to the one at its end). Each head's **ablation vector** is the per-token "
    "loss change when that head alone is removed at the end (pattern-preserving). Its **projection** onto the "
    "reversed change is the share of the phase change that removing the head undoes (**1** = all of it); the "
    "paper finds the induction heads undo most of it and the other heads little."
)
table = ui.unless_missing(client.before_after, sel.suite)
ba = (table or {}).get("runs", {}).get(run)
if table is not None and ba is None and metrics["analysed"]:
    st.info(f"Run {run!r} has no before-and-after comparison: {ui.phase_text(sel.phase, sel.tokens_per_step)}.")
elif table is not None and ba is None:
    st.info(f"Run {run!r} has no before-and-after comparison yet. {sel.pending()}")
if ba is not None:
    grid, title = ba["alignment"], "cosine with the reversed before-and-after vector"
    if ba.get("projection") is not None:
        grid, title = ba["projection"], "share of the before-and-after change undone (projection)"
    labels = [ui.head_label(layer, head) for layer, row in enumerate(grid) for head in range(len(row))]
    st.plotly_chart(
        head_charts.head_bars(labels, [v for row in grid for v in row], title=title, highlight=sel.head_label),
        key="abl_alignment",
    )
    change = "?" if ba["loss_change"] is None else f"{ba['loss_change']:+.3f}"
    st.caption(
        f"Before: step {ba['before_step']:,}; after: step {ba['after_step']:,}; mean loss change {change} nats; "
        f"{ba.get('mode', 'mean').replace('_', '-')} ablation. {ui.joint_ablation_text(ba)}"
    )

st.subheader(f"{sel.head_label} removed, on a text")
text = state.text_area("Text", height=90)
ui.need(len(sel.steps) > 1, "This run has only one snapshot so far: there is no before and after yet.")
before, after = (ba["before_step"], ba["after_step"]) if ba else ui.before_after_steps(sel.steps, sel.phase)
if ba is None and ui.window(sel.phase) is None:
    st.info(f"Comparing the first checkpoint (step {before:,}) with the last (step {after:,}).")
with st.spinner(f"Running steps {before:,} and {after:,} on the text…"), ui.service_errors():
    loss_before = client.losses(sel.suite, run, before, text)
    loss_after = client.losses(sel.suite, run, after, text)
    ablated = client.ablation(sel.suite, run, after, [(sel.layer, sel.head)], mode=mode, text=text)
tokens = [f"{i + 1}: {token_charts.show_token(t)}" for i, t in enumerate(loss_after["tokens"][1:])]
series = {
    f"step {before:,}": loss_before["loss"],
    f"step {after:,}": loss_after["loss"],
    f"step {after:,}, {sel.head_label} removed": ablated["loss_ablated"],
}
st.plotly_chart(token_charts.vectors(tokens, series, title="per-token loss (nats)"), key="abl_vectors")
st.caption(
    f"Per-token loss at both checkpoints, and at the later one with {sel.head_label} removed ({mode.replace('_', '-')} "
    "ablation): where the head carries what the phase change brought, its removal brings the loss back up."
)
