"""Phase change (landing page): every run of the suite on shared axes, drawn as the trainer measures
it, and loss by context position."""

import streamlit as st

from dashboard import charts, client, formed, llc_charts, sidebar, state, ui
from dashboard.api_types import RunInfo, RunMetricsResponse


def replicates_of(runs: list[RunInfo]) -> dict[str, str]:
    """{seed replicate: the run it repeats} (`--seeds`), as the service lists the suite's runs."""
    return {r["name"]: r["replicate"]["of"] for r in runs if r.get("replicate")}


def seed_spreads(suite: str) -> None:
    """The claims report's Seeds section: per run trained with several seeds, each seed's
    numbers and their spread, as the report computed them."""
    st.subheader("Seeds")
    st.markdown(
        "Runs trained with several seeds (`--seeds`; the thin, lighter curves above, in their run's colour). "
        "Per seed, from the claims report: the step at which the maximum prefix-matching score over heads "
        "(smoothed over 5 snapshots) first exceeds 0.3, the phase window, the peak prefix-matching score, the "
        "final ICL score (mean of the last 5 snapshots) and the final held-out loss; then their spread over "
        "the analysed seeds (n: those with a value; the standard deviation from 3)."
    )
    report = ui.unless_missing(client.report, suite)
    for run, spread in ((report or {}).get("seeds") or {}).items():
        metric = spread.get("icl_metric") or "different ICL metrics"
        st.caption(f"**{run}**: {len(spread['seeds'])} seeds, ICL score on `{metric}`")
        st.dataframe(charts.seed_table(spread), hide_index=True, key=f"seeds_{run}")


def default_view(metrics: dict[str, RunMetricsResponse], run: str) -> tuple[str, str | None]:
    """(view, the run whose window it centres on): the window view once the selected run, or
    else the first run with one, has a phase window; the linear one until then."""
    for name in (run, *metrics):
        if name in metrics and ui.window(metrics[name].get("phase")) is not None:
            return "window", name
    return "linear", None


VIEW_TEXT = {
    "window": "a linear tokens axis centred on {run}'s phase window (half the width; every panel's range "
    "fitted to what is shown)",
    "linear": "all of training on a linear tokens axis (the loss panel's range leaves out the first tenth: "
    "the initial drop)",
    "log": "the paper's log tokens axis from the first token",
}


st.title("Phase change")
st.markdown(
    "Every run of the suite on shared axes (tokens seen: centred on the phase window once there is one, or "
    "the paper's log scale, picked above the chart). Where an induction head forms, the "
    "**maximum prefix-matching score** jumps, the **ICL score** falls in the same window (the model predicts "
    "late tokens better than early ones; the band is its 95% interval over the held-out contexts) and the loss "
    "curve shows a bump. Shaded: each run's detected phase window. A run in training is drawn as its snapshots "
    "are measured, and a notice says when its best head passes the induction threshold."
)
sel = sidebar.selection()
sidebar.training_status(sel)
notices = st.container()  # "an induction head formed", filled once the curves are fetched

data = sel.detail["data"]
config = data.get("config", {})
st.caption(
    f"**Data** of suite `{sel.suite}`: source `{data.get('source', '?')}` · {data.get('tokenizer', '?')} tokenizer, "
    f"vocabulary {data.get('vocab_size', 0):,} · {data.get('train_tokens', 0):,} training and "
    f"{data.get('heldout_tokens', 0):,} held-out tokens · {ui.repeat_text(config)}"
)
with st.expander("Suite data and run configurations"):
    st.json(data, expanded=False)
    # qk_pos_layers: positions enter only the first k layers' queries and keys (`default`: 1,
    # one of its two departures from the paper, with the repeats above)
    model_keys = ("n_layers", "attn_only", "d_model", "n_heads", "n_ctx", "positional", "qk_pos_layers", "smeared_keys")
    st.dataframe(
        [
            {
                "run": r["name"],
                "description": r["description"],
                "status": (sel.status or {}).get("runs", {}).get(r["name"], r["status"]),
                "snapshots": len(r["snapshots"]),
                "measured": len(r["live_steps"]),
                "analysed": len(r["analysed_steps"]),
                **{k: r["model"].get(k) for k in model_keys},
            }
            for r in sel.detail["runs"]
        ],
        hide_index=True,
    )

runs = {r["name"]: r for r in sel.detail["runs"] if r["status"] != "unreadable" and r["snapshots"]}
with st.spinner("Loading every run's curves…"), ui.service_errors():
    metrics = {name: client.run_metrics(sel.suite, name) for name in runs}
    threshold = client.registry()["induction_threshold"]
tps = {name: ui.tokens_per_step(runs[name], m["phase"]) for name, m in metrics.items()}
with notices:
    formed.draw(formed.collect(sel.suite, metrics, sel.status, bool(st.session_state.get("follow"))))
if not any(m["steps"] for m in metrics.values()):
    st.info("No snapshot of this suite is measured yet: only the training loss is shown.")
replicates = replicates_of(list(runs.values()))
auto, centred_on = default_view(metrics, sel.run["name"])
view = state.view_picker(
    "Tokens axis",
    charts.VIEWS,
    auto,
    help="Phase window: the selected run's window (else the first run's) in the middle of a linear axis, the "
    "default once a window exists. Linear: all of training. Log: the paper's axis. Kept in the page's URL.",
)
if view == "window" and centred_on is None:
    view = "linear"  # no window yet: nothing to centre on
end = charts.last_tokens(metrics, tps)
focus = charts.window_focus(metrics[centred_on], tps[centred_on], end) if centred_on else None
st.plotly_chart(charts.training_curves(metrics, tps, threshold, replicates, view=view, focus=focus), key="curves")
st.caption("Tokens axis: " + VIEW_TEXT[view].format(run=centred_on))
st.markdown(
    "  \n".join(
        f"**{name}**: {ui.phase_text(m['phase'], tps[name])}"
        + (f" ({live})" if (live := ui.live_text(m, sel.suite)) else "")
        + (f" · {stop}" if (stop := ui.stop_text(m)) else "")
        + f" · drawn: {charts.icl_label(m)}"
        for name, m in metrics.items()
    )
)
if replicates:
    seed_spreads(sel.suite)

with ui.service_errors():  # the local learning coefficient, where the analysis estimated it
    llc = {name: curve for name in metrics if (curve := client.llc(sel.suite, name)) is not None}
if llc:
    st.subheader("Local learning coefficient")
    st.markdown(llc_charts.caption(next(iter(llc.values()))["settings"]))
    st.plotly_chart(llc_charts.llc_beside_prefix(metrics, llc, tps, threshold, replicates), key="llc")

st.subheader(f"Loss by context position: {sel.run['name']}")
st.markdown(
    "Held-out loss at each context index (the loss of predicting token i + 1 from tokens 0..i). Before the "
    "phase change, late tokens are predicted little better than early ones; once the model learns in context, "
    "the loss keeps falling along the context: the rows darken to the right, and the late-index curves drop "
    "below the early ones."
)
m = metrics.get(sel.run["name"])
ui.need(m is not None and bool(m["loss_by_position"]), f"No snapshot of {sel.run['name']} is measured yet.")
ui.need(len(m["steps"]) > 1, "Only one measured snapshot so far: the loss-by-position view needs at least two.")
st.plotly_chart(charts.loss_by_position_heatmap(m), key="lbp_heatmap")
n_ctx = len(m["loss_by_position"][0])
positions = sorted(
    {p for p in (1, 4, 16, 64, m.get("icl_early"), m.get("icl_late"), n_ctx - 1) if p is not None and 0 <= p < n_ctx}
)
st.plotly_chart(charts.per_position_curves(m, tps[sel.run["name"]], positions), key="lbp_curves")
