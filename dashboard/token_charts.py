"""Plotly figures over the tokens of a text: attention patterns, per-token losses and vectors."""

from __future__ import annotations

import plotly.graph_objects as go


def show_token(token: str) -> str:
    """A token as a readable label: newlines and tabs made visible."""
    return token.replace("\n", "↵").replace("\t", "→") or "∅"


def attention_heatmap(tokens: list[str], pattern: list[list[float]], *, title: str) -> go.Figure:
    """A head's attention pattern, query (row) by key (column). Tokens repeat, so each axis's
    categories are "position: token" labels (unique), shown as the tokens alone. The labels are
    the categories rather than a hover label per cell, and the weights are rounded to 4
    decimals (the hover shows 3): the figure the browser parses grows with the tokens squared."""
    n = len(tokens)
    z = [[round(v, 4) for v in row] + [None] * (n - len(row)) for row in pattern]
    labels = [f"{i}: {show_token(t)}" for i, t in enumerate(tokens)]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="query %{y}<br>key %{x}<br>attention %{z:.3f}<extra></extra>",
        )
    )
    ticks = {
        "type": "category",
        "tickvals": labels,
        "ticktext": [show_token(t) for t in tokens],
        "tickfont": {"size": 9},
    }
    fig.update_layout(
        title=title,
        height=max(360, 12 * n + 140),
        margin={"t": 50},
        xaxis={**ticks, "title": "key", "tickangle": -90},
        yaxis={**ticks, "title": "query", "autorange": "reversed"},
    )
    return fig


def token_loss(
    tokens: list[str],
    loss: list[float | None],
    *,
    compare: list[float | None] | None = None,
    names: tuple[str, str] = ("loss", ""),
) -> go.Figure:
    """Per-token loss by context index i, shown on the token being predicted (token i + 1)."""
    labels = [f"{i + 1}: {show_token(t)}" for i, t in enumerate(tokens[1:])]
    fig = go.Figure(go.Bar(x=labels, y=loss, name=names[0]))
    if compare is not None:
        fig.add_trace(go.Bar(x=labels, y=compare, name=names[1]))
    fig.update_layout(
        height=340,
        barmode="group",
        yaxis_title="loss (nats)",
        xaxis={"title": "predicted token", "tickangle": -60, "tickfont": {"size": 9}},
        margin={"t": 30},
    )
    return fig


def vectors(labels: list[str], series: dict[str, list[float | None]], *, title: str) -> go.Figure:
    """Several per-token vectors over the same tokens."""
    fig = go.Figure(
        [go.Scatter(x=labels, y=v, name=name, mode="lines+markers", marker={"size": 4}) for name, v in series.items()]
    )
    fig.add_hline(y=0, line={"color": "grey", "width": 1})
    fig.update_layout(
        height=380,
        yaxis_title=title,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
        xaxis={"title": "predicted token", "tickangle": -60, "tickfont": {"size": 9}, "type": "category"},
        margin={"t": 50},
    )
    return fig


def loss_change_by_repeat(deltas: list[float | None], repeats: list[bool]) -> go.Figure:
    """Loss change of tokens that continue an earlier occurrence of their preceding token vs the rest."""
    fig = go.Figure()
    for flag, name in ((True, "repeats earlier context"), (False, "does not")):
        ys = [d for d, r in zip(deltas, repeats) if r == flag and d is not None]
        fig.add_trace(go.Box(y=ys, name=f"{name} ({len(ys)})", boxpoints="all", jitter=0.4, pointpos=0, boxmean=True))
    fig.add_hline(y=0, line={"color": "grey", "width": 1})
    fig.update_layout(height=360, yaxis_title="loss change (after − before, nats)", showlegend=False, margin={"t": 30})
    return fig
