"""The local learning coefficient over training, drawn under the prefix-matching score on a
shared tokens-seen axis: a pure function of the service's answers (no Streamlit here), as in
`charts`, with the caption that says what the estimate is."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.api_types import LLCResponse, RunMetricsResponse
from dashboard.charts import positive, run_colors, shade_window


def caption(settings: dict[str, Any]) -> str:
    """What the LLC panel shows, with the sampler settings it was estimated with."""
    sgld = (
        f"SGLD step {settings.get('epsilon')}, localization γ {settings.get('gamma')}, nβ {settings.get('nbeta')}; "
        f"{settings.get('chains')} chains of {settings.get('draws')} steps after {settings.get('burnin')} of burn-in, "
        f"on batches of {settings.get('batch_size')} training contexts"
    )
    return (
        "**Local learning coefficient** (LLC; Lau et al. 2023; beyond Olsson et al.): how many effective "
        "parameters the model uses at a checkpoint, from how fast the training loss rises around its weights. "
        "Hoogland et al. 2024 found that it marks the developmental stages of a 2-layer attention-only model. "
        f"It is an **estimate** (devinterp's SGLD: {sgld}): the bars are ± one standard deviation over the "
        "chains, and its scale depends on these settings, so compare checkpoints and runs rather than read "
        "the number as a parameter count."
    )


def llc_beside_prefix(
    metrics: dict[str, RunMetricsResponse],
    llc: dict[str, LLCResponse],
    tokens_per_step: dict[str, int],
    threshold: float | None = None,
    replicates: dict[str, str] | None = None,
) -> go.Figure:
    """Two panels sharing the tokens-seen axis (log), for the runs that have an LLC: the maximum
    prefix-matching score over heads (the induction threshold dashed), and the LLC with its
    spread over chains; each run's phase window shaded, colours as in the main chart (where a
    seed replicate, `replicates`: {replicate: run}, has its run's colour)."""
    replicates = replicates or {}
    colors = run_colors([run for run in metrics if run not in replicates])
    colors |= {r: colors[run] for r, run in replicates.items() if run in colors}
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=(
            "max prefix-matching score over heads",
            "local learning coefficient (mean ± std over SGLD chains)",
        ),
    )
    for run in (r for r in metrics if r in llc):
        m, est, c = metrics[run], llc[run], colors[run]
        best = m["best_heads"].get("prefix_matching") or {"values": [], "heads": []}
        fig.add_trace(
            go.Scatter(
                x=positive(m["tokens_seen"]),
                y=best["values"],
                text=best["heads"],
                name=run,
                legendgroup=run,
                line={"color": c},
                mode="lines+markers",
                marker={"size": 4},
                hovertemplate=f"{run}: %{{y:.3f}} (%{{text}})<extra></extra>",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=positive(est["tokens_seen"]),
                y=est["mean"],
                error_y={"type": "data", "array": [s or 0.0 for s in est["std"]], "visible": True},
                customdata=[[step, s] for step, s in zip(est["steps"], est["std"])],
                name=f"{run} LLC",
                legendgroup=run,
                showlegend=False,
                line={"color": c},
                mode="lines+markers",
                marker={"size": 6},
                hovertemplate=f"{run}: LLC %{{y:.1f}} ± %{{customdata[1]:.1f}} at step %{{customdata[0]:,}}<extra></extra>",
            ),
            row=2,
            col=1,
        )
        shade_window(fig, m, tokens_per_step[run], c, label=False)
    if threshold is not None:
        fig.add_hline(y=threshold, line={"dash": "dash", "color": "grey", "width": 1}, row=1, col=1)
    fig.update_xaxes(type="log")
    fig.update_xaxes(title="tokens seen", row=2, col=1)
    fig.update_yaxes(title="LLC", row=2, col=1)
    fig.update_layout(
        height=560, legend={"orientation": "h", "y": 1.08, "yanchor": "bottom"}, hovermode="x unified", margin={"t": 80}
    )
    return fig
