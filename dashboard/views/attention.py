"""Attention: the chosen head's attention pattern on a text of your own, at one checkpoint and at
two side by side, with the model's per-token loss and top predictions."""

import streamlit as st

from dashboard import client, sidebar, state, text_view, token_charts, ui

st.title("Attention")
st.markdown(
    "Where the chosen head attends, for the text below (edit it; the default types a passage twice). "
    "Rows are queries, columns the tokens they attend to. On the second copy of a passage an **induction "
    "head** attends from each token to the token *after* its earlier occurrence: a stripe parallel to the "
    "diagonal, one passage-length to the left."
)
sel = sidebar.selection()
text = state.text_area(
    "Text",
    height=110,
    help="Tokenised with the suite's tokenizer; <|bos|> is prepended. It must fit the model's context.",
)
run = sel.run["name"]


def pattern_at(step: int) -> dict:
    with st.spinner(f"Running step {step:,} on the text…"), ui.service_errors():
        return client.attention(sel.suite, run, step, text, layers=[sel.layer], heads=[sel.head])


att = pattern_at(sel.step)
tokens, pattern = att["tokens"], att["patterns"][0]["pattern"]
st.plotly_chart(
    token_charts.attention_heatmap(tokens, pattern, title=f"{sel.head_label} at step {sel.step:,}"), key="attn_heatmap"
)

st.subheader("Token view")
st.caption(
    "Choose a token (outlined): every token is shaded by the attention it receives from it. Hover a token for the number."
)
if st.session_state.get("_attn_query") not in range(len(tokens)):
    st.session_state["_attn_query"] = len(tokens) - 1
query = st.select_slider(
    "Query token",
    options=list(range(len(tokens))),
    format_func=lambda i: f"{i}: {token_charts.show_token(tokens[i])}",
    key="_attn_query",
)
st.html(text_view.attention_html(tokens, pattern[query], query))

st.subheader("Before and after")
st.caption(
    f"The same head at two checkpoints (default: the ends of the phase window, else the first and last; {ui.phase_text(sel.phase, sel.tokens_per_step)})."
)
before, after = ui.before_after_steps(sel.steps, sel.phase)
columns = st.columns(2)
for column, default, key in zip(columns, (before, after), ("_attn_left", "_attn_right")):
    with column:
        if st.session_state.get(key) not in sel.steps:
            st.session_state[key] = default
        step = st.selectbox(
            "Checkpoint",
            sel.steps,
            format_func=lambda s: f"step {s:,} · {ui.fmt_tokens(sel.tokens_seen(s))} tokens",
            key=key,
        )
        other = pattern_at(step)
        st.plotly_chart(
            token_charts.attention_heatmap(
                other["tokens"], other["patterns"][0]["pattern"], title=f"{sel.head_label} at step {step:,}"
            ),
            key=f"{key}_chart",
        )

st.subheader("Per-token loss and top predictions")
st.caption(
    f"The model's loss on each token at step {sel.step:,} (mean {att['mean_loss'] or float('nan'):.3f} nats), and its five likeliest next tokens after each position."
)
st.plotly_chart(token_charts.token_loss(tokens, att["loss"]), key="attn_loss")
st.dataframe(
    [
        {
            "position": i,
            "token": token_charts.show_token(tokens[i]),
            "next token": token_charts.show_token(tokens[i + 1]) if i + 1 < len(tokens) else "",
            "loss": att["loss"][i] if i < len(att["loss"]) else None,
            **{f"#{r + 1}": f"{token_charts.show_token(p['token'])} ({p['prob']:.2f})" for r, p in enumerate(preds)},
        }
        for i, preds in enumerate(att["top_predictions"])
    ],
    hide_index=True,
)
