"""Tokens: which tokens of a text the phase change helped, and whether they repeat earlier context."""

import streamlit as st

from dashboard import client, sidebar, state, text_view, token_charts, ui

st.title("Tokens")
st.markdown(
    "Every token of the text coloured by how its loss changed between two checkpoints (default: the start and "
    "end of the phase window): **blue** = predicted better afterwards, **red** = worse. Induction heads help "
    "tokens that *repeat earlier context* — the token before them occurred earlier, followed by the same token — "
    "so the gains should fall on the second copy of a passage."
)
sel = sidebar.selection()
text, run = state.text_area("Text", height=110), sel.run["name"]

if ui.window(sel.phase) is None:
    st.info(
        f"Run {run!r} has {ui.phase_text(sel.phase, sel.tokens_per_step)}; comparing its first and last checkpoints instead (choose others below)."
    )
ui.need(len(sel.steps) > 1, "This run has only one snapshot so far: nothing to compare yet.")
before_default, after_default = ui.before_after_steps(sel.steps, sel.phase)
left, right = st.columns(2)
for column, key, default, label in (
    (left, "_tok_before", before_default, "Before"),
    (right, "_tok_after", after_default, "After"),
):
    if st.session_state.get(key) not in sel.steps:
        st.session_state[key] = default
    column.selectbox(
        label, sel.steps, format_func=lambda s: f"step {s:,} · {ui.fmt_tokens(sel.tokens_seen(s))} tokens", key=key
    )
before, after = st.session_state["_tok_before"], st.session_state["_tok_after"]

with st.spinner("Running both checkpoints on the text…"), ui.service_errors():
    b = client.losses(sel.suite, run, after, text, baseline_step=before)
tokens = b["tokens"]
deltas = b["loss_change"] or []  # the service's: the change on token i + 1 (context index i)
before_loss = b["baseline_loss"] or []
repeats = [source is not None for source in b["repeat_of"]]  # the service's: token i + 1 repeats earlier context

scale = max((abs(d) for d in deltas if d is not None), default=0.0)
st.html(text_view.change_html(tokens, deltas, scale))
st.caption(
    f"Mean loss {b['baseline_mean_loss'] or 0:.3f} nats at step {before:,} → {b['mean_loss'] or 0:.3f} at step "
    f"{after:,}. Full colour = a change of {scale:.2f} nats. Hover a token for its number."
)

left, right = st.columns(2)
with left:
    st.subheader("Tokens helped most")
    ranked = sorted((i for i, d in enumerate(deltas) if d is not None), key=lambda i: deltas[i])[:12]
    st.dataframe(
        [
            {
                "position": i + 1,
                "token": token_charts.show_token(tokens[i + 1]),
                "after": token_charts.show_token(tokens[i]),
                "loss before": before_loss[i],
                "loss after": b["loss"][i],
                "change": deltas[i],
                "repeats earlier context": repeats[i],
                "copy of position": b["repeat_of"][i],
            }
            for i in ranked
        ],
        hide_index=True,
    )
with right:
    st.subheader("Repeated context vs the rest")
    st.caption("Loss change of every token, split by whether it repeats earlier context; the diamond is the mean.")
    st.plotly_chart(token_charts.loss_change_by_repeat(deltas, repeats), key="tok_by_repeat")
