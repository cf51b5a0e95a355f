"""Plotly figures of a run's heads: the layer x head grid, one head over training, the paper's
prefix-matching vs copying scatter, one head's score along the period sweep or the offsets, a
bar per head."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard.api_types import Grid, HeadProfile, MetricInfo, RunMetricsResponse
from dashboard.charts import SELECTED, TOKENS_AXIS, positive, shade_window
from dashboard.ui import fmt_tokens, head_label


def head_grid(
    values: Grid, *, title: str, selected: tuple[int, int] | None = None, zrange: tuple[float, float] | None = None
) -> go.Figure:
    """A layer x head grid drawn as square markers (not a heatmap) so that clicking a cell sends
    a plotly selection event; `customdata` holds (layer, head). A score with a known range
    (`zrange`) keeps one colour scale across checkpoints."""
    n_layers, n_heads = len(values), max((len(r) for r in values), default=0)
    xs, ys, zs, custom, text = [], [], [], [], []
    for layer, row in enumerate(values):
        for head, v in enumerate(row):
            xs.append(head), ys.append(layer), zs.append(v), custom.append([layer, head])
            text.append("—" if v is None else f"{v:.3f}")
    size = max(14, min(56, 640 // max(n_heads, 1)))
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers+text",
            text=text,
            textfont={"size": 10},
            customdata=custom,
            marker={
                "symbol": "square",
                "size": size,
                "color": [math.nan if v is None else v for v in zs],
                "colorscale": "RdBu_r",
                "colorbar": {"title": title},
                "line": {"width": 0},
                **({"cmin": zrange[0], "cmax": zrange[1]} if zrange else {}),
            },
            hovertemplate="L%{customdata[0]}H%{customdata[1]}: %{text}<extra></extra>",
        )
    )
    if selected is not None:
        fig.add_trace(
            go.Scatter(
                x=[selected[1]],
                y=[selected[0]],
                mode="markers",
                hoverinfo="skip",
                showlegend=False,
                marker={"symbol": "square-open", "size": size + 6, "color": SELECTED, "line": {"width": 3}},
            )
        )
    fig.update_layout(
        height=90 + 62 * n_layers, showlegend=False, margin={"t": 20, "b": 40}, clickmode="event+select", dragmode=False
    )
    fig.update_xaxes(title="head", tickvals=list(range(n_heads)), range=[-0.6, n_heads - 0.4])
    fig.update_yaxes(title="layer", tickvals=list(range(n_layers)), range=[n_layers - 0.5, -0.5])
    return fig


def head_history(
    m: RunMetricsResponse, layer: int, head: int, metrics: Sequence[MetricInfo], tokens_per_step: int
) -> go.Figure:
    """One head's scores over training, one line per registry metric the run has stored (live
    metrics at every measured snapshot, the analysis's where it has run)."""
    fig = go.Figure()
    x = positive(m["tokens_seen"])
    for metric in metrics:
        grids = m["head_metrics"].get(metric["name"])
        if grids is None:
            continue
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[g[layer][head] for g in grids],
                name=metric["label"],
                mode="lines+markers",
                marker={"size": 4},
            )
        )
    shade_window(fig, m, tokens_per_step, "grey", row=None)
    fig.update_layout(
        height=380,
        xaxis=TOKENS_AXIS,
        yaxis_title="score",
        title=f"{head_label(layer, head)} over training",
        margin={"t": 50},
    )
    return fig


def prefix_vs_copying(m: RunMetricsResponse, step: int) -> go.Figure:
    """The paper's scatter: prefix-matching vs copying score of every head, one frame per fully
    analysed checkpoint (play or drag the slider; copying is not a live metric), starting at
    `step` or the analysed checkpoint before it."""
    prefix, copying = m["head_metrics"]["prefix_matching"], m["head_metrics"]["copying"]

    def points(i: int) -> go.Scatter:
        labels, xs, ys = [], [], []
        for layer, row in enumerate(prefix[i]):
            for head, pm in enumerate(row):
                labels.append(head_label(layer, head)), xs.append(copying[i][layer][head]), ys.append(pm)
        return go.Scatter(
            x=xs,
            y=ys,
            text=labels,
            mode="markers+text",
            textposition="top center",
            marker={
                "size": 11,
                "color": [int(s[1]) for s in labels],
                "colorscale": "Viridis",
                "cmin": 0,
                "cmax": max(m["n_layers"] - 1, 1),
            },
            hovertemplate="%{text}: copying %{x:.2f}, prefix matching %{y:.2f}<extra></extra>",
        )

    full = [i for i, stage in enumerate(m["stages"]) if stage == "full"]
    steps = [m["steps"][i] for i in full]
    start = max((k for k, s in enumerate(steps) if s <= step), default=0)
    frames = [go.Frame(data=[points(i)], name=str(m["steps"][i])) for i in full]
    slider = {
        "active": start,
        "currentvalue": {"prefix": "checkpoint: "},
        "pad": {"t": 40},
        "steps": [
            {
                "label": f"{s:,} ({fmt_tokens(t)})",
                "method": "animate",
                "args": [[str(s)], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}],
            }
            for s, t in zip(steps, [m["tokens_seen"][i] for i in full])
        ],
    }
    play = {
        "type": "buttons",
        "x": 0,
        "y": -0.12,
        "xanchor": "left",
        "buttons": [
            {"label": "▶ play", "method": "animate", "args": [None, {"frame": {"duration": 250}, "fromcurrent": True}]}
        ],
    }
    fig = go.Figure(data=[points(full[start])], frames=frames)
    fig.update_layout(
        height=520,
        sliders=[slider],
        updatemenus=[play],
        xaxis={"title": "copying score", "range": [-1.05, 1.05]},
        yaxis={"title": "prefix-matching score", "range": [-0.02, 1.02]},
        margin={"t": 30},
    )
    return fig


AXIS_TITLES = {
    "period": "repeat period P (target: q − P + 1)",
    "offset": "offset k (key q − k)",
}


def head_profile(profile: HeadProfile, metric: MetricInfo, layer: int, head: int) -> go.Figure:
    """One head's score at every period (or offset) of a profile, the run's other heads faint
    behind it. The coordinates are categories, evenly spaced, so that neighbours such as the
    periods 127 and 128 stay apart."""
    x = [str(c) for c in profile["coords"]]
    fig = go.Figure()
    for la, row in enumerate(profile["values"]):
        for h, values in enumerate(row):
            if (la, h) != (layer, head):
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=values,
                        name=head_label(la, h),
                        mode="lines",
                        line={"color": "lightgrey", "width": 1},
                        showlegend=False,
                        hovertemplate=f"{head_label(la, h)}: %{{y:.3f}}<extra></extra>",
                    )
                )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=profile["values"][layer][head],
            name=head_label(layer, head),
            mode="lines+markers",
            line={"color": SELECTED, "width": 3},
            hovertemplate=f"{head_label(layer, head)} at {profile['axis']} %{{x}}: %{{y:.3f}}<extra></extra>",
        )
    )
    yaxis: dict = {"title": metric["label"]}
    if metric["low"] is not None and metric["high"] is not None:
        yaxis["range"] = [metric["low"] - 0.02, metric["high"] + 0.02]
    fig.update_layout(
        height=340,
        showlegend=False,
        margin={"t": 30},
        xaxis={"title": AXIS_TITLES.get(profile["axis"], profile["axis"]), "type": "category"},
        yaxis=yaxis,
    )
    return fig


def head_bars(labels: list[str], values: list[float | None], *, title: str, highlight: str | None = None) -> go.Figure:
    colors = [SELECTED if label == highlight else "#1f77b4" for label in labels]
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=colors, hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(height=340, yaxis_title=title, xaxis_title="head", margin={"t": 30})
    return fig
