"""Ablations: each head's effect on the ICL score over training, and each head's ablation against
the before-and-after vector of the phase change."""

import streamlit as st

from dashboard import charts, client, head_charts, sidebar, state, token_charts, ui

MODES = {"mean": "mean", "pattern-preserving": "pattern_preserving"}
EFFECTS = {"Δ ICL score": "delta_icl", "Δ held-out loss": "delta_loss"}

st.title("Ablations")
st.markdown(
    "How the run's ICL score (or loss) changes when one head is removed, at the checkpoints where the analysis "
    "ablated every head. After the phase change, removing the induction head should take away most of the "
    "in-context learning — its Δ ICL score turns strongly **positive** (the ICL score is negative when the "
    "model learns in context) — while the other heads barely matter."
)
sel = sidebar.render()
run = sel.run["name"]
with ui.service_errors():
    metrics = client.run_metrics(sel.suite, run)
left, right = st.columns(2)
mode = left.radio(
    "Ablation",
    list(MODES),
    horizontal=True,
    key="_abl_mode",
    help="mean: the head's output replaced by its mean; pattern-preserving: attention patterns frozen, the head's output zeroed.",
)
effect = right.radio("Effect", list(EFFECTS), horizontal=True, key="_abl_effect")
field = f"{MODES[mode]}_{EFFECTS[effect]}"
if not metrics["analysed"]:
    st.info(f"Run {run!r} is not analysed yet. {ui.analyze_hint(sel.suite)}")
elif not any(v is not None for grid in metrics["ablation"][field] for row in grid for v in row):
    st.info(f"Run {run!r} has no ablation measurements yet (the analysis ablates every n-th snapshot).")
else:
    st.plotly_chart(
        charts.ablation_history(metrics, field, sel.tokens_per_step, title=f"{effect} when the head is removed"),
        key="abl_history",
    )

st.subheader("Ablation vectors against the before-and-after vector")
st.markdown(
    "The **before-and-after vector** is the change in per-token loss on the text across the phase change (from "
    "the checkpoint before the window to the one after). Each head's **ablation vector** is the per-token loss "
    "change when that head alone is mean-ablated at the *after* checkpoint. A cosine of **+1** with the reversed "
    "before-and-after vector means removing the head undoes exactly what the phase change did."
)
state.update(text=state.text())
st.text_area("Text", height=90, **state.bind("text"))
ui.need(len(sel.steps) > 1, "This run has only one snapshot so far: there is no before and after yet.")
before, after = ui.before_after_steps(sel.steps, sel.phase)
if ui.window(sel.phase) is None:
    st.info(
        f"Run {run!r} has {ui.phase_text(sel.phase, sel.tokens_per_step)}; comparing its first checkpoint (step {before:,}) with its last (step {after:,})."
    )
heads = [(layer, head) for layer in range(sel.n_layers) for head in range(sel.n_heads)]
text = state.text()
with st.spinner(f"Ablating each of {len(heads)} heads at step {after:,}…"), ui.service_errors():
    loss_before = client.attention(sel.suite, run, before, text, layers=[0], heads=[0])["loss"]
    loss_after = client.attention(sel.suite, run, after, text, layers=[0], heads=[0])["loss"]
    ablated = {ui.head_label(*h): client.ablation(sel.suite, run, after, [h], mode="mean", text=text) for h in heads}
undo = [
    None if x is None or y is None else x - y for x, y in zip(loss_before, loss_after)
]  # the reversed before-and-after vector
vectors = {
    label: [None if c is None or d is None else d - c for c, d in zip(r["loss_clean"], r["loss_ablated"])]
    for label, r in ablated.items()
}
alignment = {label: ui.cosine(v, undo) for label, v in vectors.items()}

left, right = st.columns(2)
with left:
    st.plotly_chart(
        head_charts.head_bars(
            list(alignment),
            list(alignment.values()),
            title="cosine with the reversed before-and-after vector",
            highlight=sel.head_label,
        ),
        key="abl_alignment",
    )
with right:
    best = max(alignment, key=lambda k: alignment[k] if alignment[k] is not None else -2)
    tokens = next(iter(ablated.values()))["tokens"] or []
    labels = [f"{i + 1}: {token_charts.show_token(t)}" for i, t in enumerate(tokens[1:])]
    shown = {"reversed before-and-after": undo, f"{sel.head_label} ablated": vectors[sel.head_label]}
    if best != sel.head_label:
        shown[f"{best} ablated (best aligned)"] = vectors[best]
    st.plotly_chart(token_charts.vectors(labels, shown, title="per-token loss change (nats)"), key="abl_vectors")
st.caption(
    f"Before: step {before:,}; after: step {after:,}. Computed on the text above through the service's attention and ablation routes."
)
