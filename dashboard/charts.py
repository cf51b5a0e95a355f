"""Plotly figures of runs over training, as pure functions of the service's answers (no Streamlit
here, so they are tested directly). Training time is "tokens seen" on a log axis throughout, as in
the paper; each run's phase window is shaded. Per-head figures are in `head_charts`, per-token
ones in `token_charts`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from dashboard.api_types import PcaResponse, RunMetricsResponse, SeedSpread
from dashboard.ui import fmt_tokens, head_label, window

TOKENS_AXIS = {"type": "log", "title": "tokens seen"}
WINDOW_OPACITY = 0.12
SELECTED = "#d62728"


def run_colors(runs: Sequence[str]) -> dict[str, str]:
    palette = qualitative.Plotly
    return {run: palette[i % len(palette)] for i, run in enumerate(runs)}


def positive(xs: Sequence[float | None]) -> list[float | None]:
    """A log axis cannot show step 0 (0 tokens seen): those points are left out."""
    return [x if x is not None and x > 0 else None for x in xs]


def shade_window(
    fig: go.Figure,
    m: RunMetricsResponse,
    tokens_per_step: int,
    color: str,
    *,
    row: str | int = "all",
    label: bool = True,
) -> None:
    """Shade a run's phase window (in tokens seen) on every subplot."""
    w = window(m.get("phase"))
    if w is None:
        return
    x0, x1 = max(w[0], 1) * tokens_per_step, max(w[1], 1) * tokens_per_step
    kwargs = (
        {"annotation_text": f"{m['run']} window", "annotation_position": "top left", "annotation_font_size": 10}
        if label
        else {}
    )
    fig.add_vrect(
        x0=x0, x1=x1, fillcolor=color, opacity=WINDOW_OPACITY, line_width=0, layer="below", row=row, col=1, **kwargs
    )


def icl_curve(m: RunMetricsResponse) -> list:
    """The ICL curve to draw, as the service chose it (`icl`: the wide score once the analysis
    has measured every snapshot, the trainer's live one while it trains); from a service that
    does not say, the wide score where complete, else the evaluation contexts' score."""
    if m.get("icl"):
        return m["icl"]["values"]
    wide = m.get("icl_wide") or []
    return wide if len(wide) == len(m["icl_score"]) and all(v is not None for v in wide) else m["icl_score"]


def icl_label(m: RunMetricsResponse) -> str:
    """Which ICL score is drawn for the run, in words (the service's label)."""
    return (m.get("icl") or {}).get("label") or "ICL score"


def rgba(color: str, alpha: float) -> str:
    """'#636efa' -> 'rgba(99,110,250,alpha)': a run's colour as a translucent fill."""
    r, g, b = (int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


BAND_OPACITY = 0.18


def icl_band(fig: go.Figure, m: RunMetricsResponse, color: str, group: str, *, row: int = 2) -> None:
    """The drawn ICL score's 95% interval (the service's `icl.low`, `icl.high`) as a band in the
    run's colour: an upper edge, then a lower one filled up to it."""
    icl = m.get("icl") or {}
    low, high = icl.get("low") or [], icl.get("high") or []
    if not any(v is not None for v in low):
        return
    x = positive(m["tokens_seen"])
    edge = {"mode": "lines", "line": {"width": 0}, "legendgroup": group, "showlegend": False, "hoverinfo": "skip"}
    fig.add_trace(go.Scatter(x=x, y=high, name=f"{group} ICL 95% high", **edge), row=row, col=1)
    fig.add_trace(
        go.Scatter(
            x=x, y=low, name=f"{group} ICL 95% low", fill="tonexty", fillcolor=rgba(color, BAND_OPACITY), **edge
        ),
        row=row,
        col=1,
    )


# The x axis of the training curves (the `view` of the selection, kept in the URL): the phase
# window in the middle of a linear tokens axis, all of training on a linear axis, or the paper's
# log axis from the first token (whose first decades hold only the initial loss drop).
VIEWS = {"window": "phase window", "linear": "linear", "log": "log (the paper's)"}
LINEAR_SKIP = 0.1  # the linear view fits the loss panel's range to the last 90% of training


def last_tokens(metrics: dict[str, RunMetricsResponse], tokens_per_step: dict[str, int]) -> float:
    """The most tokens any drawn run has seen (its last training-loss point or snapshot)."""
    ends = [0.0]
    for run, m in metrics.items():
        ends += [s * tokens_per_step[run] for s in m["train_loss"]["steps"][-1:]]
        ends += [t for t in m["snapshots"]["tokens_seen"][-1:] if t is not None]
    return max(ends)


def window_focus(m: RunMetricsResponse, tokens_per_step: int, end: float) -> tuple[float, float] | None:
    """The tokens range of the window view: the run's phase window with half its width on either
    side, clipped to [0, end]; so the window fills half the axis (two thirds where it ends near
    the last snapshot, as a live window does). None when the run has no window."""
    w = window(m.get("phase"))
    if w is None:
        return None
    x0, x1 = w[0] * tokens_per_step, w[1] * tokens_per_step
    pad = max((x1 - x0) / 2, tokens_per_step)
    return max(x0 - pad, 0.0), min(x1 + pad, max(end, x1))


def _fit_y(fig: go.Figure, x_range: tuple[float, float], rows: dict[int, list[float]]) -> None:
    """Set each listed row's y range to the points drawn within `x_range` (plus the row's extra
    values, e.g. the threshold line), with 5% margins: plotly's autorange would fit every point,
    also those outside the visible stretch."""
    axis_row = {"y": 1, **{f"y{r}": r for r in range(2, 10)}}
    values: dict[int, list[float]] = {r: list(extra) for r, extra in rows.items()}
    for trace in fig.data:
        row = axis_row.get(trace.yaxis or "y")
        if row not in values or trace.x is None or trace.y is None:
            continue
        values[row] += [
            y for x, y in zip(trace.x, trace.y) if x is not None and y is not None and x_range[0] <= x <= x_range[1]
        ]
    for row, ys in values.items():
        if ys:
            low, high = min(ys), max(ys)
            margin = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
            fig.update_yaxes(range=[low - margin, high + margin], row=row, col=1)


def apply_view(
    fig: go.Figure, view: str, end: float, focus: tuple[float, float] | None, threshold: float | None = None
) -> None:
    """Set the training curves' x axis to a `VIEWS` entry: "log" from the first token; "linear"
    over [0, end], the loss panel fitted past the first LINEAR_SKIP of it (the initial drop);
    "window" over `focus` (`window_focus`), every panel fitted to what it shows."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: one of {sorted(VIEWS)}")
    if view == "log" or end <= 0:
        fig.update_xaxes(type="log")
        return
    extra = [] if threshold is None else [threshold]
    if view == "window" and focus is not None:
        fig.update_xaxes(type="linear", range=list(focus))
        _fit_y(fig, focus, {1: [], 2: [], 3: extra})
        return
    fig.update_xaxes(type="linear", range=[0, end])
    _fit_y(fig, (LINEAR_SKIP * end, end), {1: []})


REPLICATE_LINE = {"width": 1}  # a seed replicate: thinner, and lighter (REPLICATE_OPACITY), in its run's colour
REPLICATE_OPACITY = 0.55


def training_curves(
    metrics: dict[str, RunMetricsResponse],
    tokens_per_step: dict[str, int],
    threshold: float | None = None,
    replicates: dict[str, str] | None = None,
    *,
    view: str = "log",
    focus: tuple[float, float] | None = None,
) -> go.Figure:
    """Loss, ICL score (with its 95% interval) and maximum prefix-matching score over heads (the
    service's `best_heads`) of every run on shared tokens axes; the live metrics of a run in
    training included. `threshold`: the prefix-matching score above which a head counts as an
    induction head (dashed). `replicates` ({replicate: run}, `--seeds`): those runs are drawn
    over their run's ICL and prefix-matching curves, thinner and lighter in its colour
    (`replicate_curves`), when their run is drawn too. `view` and `focus`: the x axis
    (`apply_view`)."""
    replicates = {r: run for r, run in (replicates or {}).items() if r in metrics and run in metrics}
    colors = run_colors([run for run in metrics if run not in replicates])
    colors |= {r: colors[run] for r, run in replicates.items()}
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=(
            "loss (line: training, dots: held-out)",
            "ICL score (negative = in-context learning; band: 95% interval)",
            "max prefix-matching score over heads",
        ),
    )
    for run, m in metrics.items():
        c, tps = colors[run], tokens_per_step[run]
        if run in replicates:
            replicate_curves(fig, m, c, replicates[run])
            continue
        tl = m["train_loss"]
        fig.add_trace(
            go.Scatter(
                x=positive([s * tps for s in tl["steps"]]),
                y=tl["values"],
                name=run,
                legendgroup=run,
                line={"color": c, "width": 1.5},
                mode="lines",
            ),
            row=1,
            col=1,
        )
        snaps = m["snapshots"]
        fig.add_trace(
            go.Scatter(
                x=positive(snaps["tokens_seen"]),
                y=snaps["heldout_loss"],
                name=f"{run} held-out",
                legendgroup=run,
                showlegend=False,
                mode="markers",
                marker={"color": c, "size": 5, "symbol": "circle-open"},
            ),
            row=1,
            col=1,
        )
        icl_band(fig, m, c, run)
        icl_and_prefix_traces(fig, m, run, run, line={"color": c}, mode="lines+markers", marker={"size": 4})
        shade_window(fig, m, tps, c, label=False)
    if threshold is not None:
        fig.add_hline(y=threshold, line={"dash": "dash", "color": "grey", "width": 1}, row=3, col=1)
    apply_view(fig, view, last_tokens(metrics, tokens_per_step), focus, threshold)
    fig.update_xaxes(title="tokens seen", row=3, col=1)
    fig.update_layout(
        height=780, legend={"orientation": "h", "y": 1.04, "yanchor": "bottom"}, hovermode="x unified", margin={"t": 90}
    )
    return fig


def icl_and_prefix_traces(
    fig: go.Figure, m: RunMetricsResponse, name: str, group: str, *, legend_row: int | None = None, **style
) -> None:
    """A run's ICL score (row 2) and maximum prefix-matching score over heads (row 3, hover: the
    head), named `name` in legend group `group`; shown in the legend on `legend_row` only."""
    x = positive(m["tokens_seen"])
    best = m["best_heads"].get("prefix_matching") or {"values": [], "heads": []}
    for row, y, text in ((2, icl_curve(m), None), (3, best["values"], best["heads"])):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                text=text,
                hovertemplate=None if text is None else f"{name}: %{{y:.3f}} (%{{text}})<extra></extra>",
                name=name,
                legendgroup=group,
                showlegend=row == legend_row,
                **style,
            ),
            row=row,
            col=1,
        )


def replicate_curves(fig: go.Figure, m: RunMetricsResponse, color: str, run: str) -> None:
    """A seed replicate's ICL score (row 2) and maximum prefix-matching score (row 3), thin and
    light in its run's colour and in its run's legend group (hiding the run hides its seeds)."""
    icl_and_prefix_traces(
        fig,
        m,
        m["run"],
        run,
        legend_row=2,
        line={"color": color, **REPLICATE_LINE},
        opacity=REPLICATE_OPACITY,
        mode="lines",
    )


def loss_by_position_heatmap(m: RunMetricsResponse) -> go.Figure:
    """Held-out loss at every context index (x) for every measured snapshot (y, earliest at the bottom).

    Sent to the browser as small as it can be: a `default` run is ~78 snapshots x 255 indices,
    and a hover label per cell (`customdata`) plus float32 values printed in full made the page's
    figure ~0.9 MB of JSON; the row labels are the y categories instead, and the values are
    rounded to 4 decimals (the hover shows 3): ~0.15 MB (bench/RESULTS.md)."""
    labels = [f"step {s:,} · {fmt_tokens(t)}" for s, t in zip(m["steps"], m["tokens_seen"])]
    fig = go.Figure(
        go.Heatmap(
            z=[[None if v is None else round(v, 4) for v in row] for row in m["loss_by_position"]],
            y=labels,
            colorscale="Viridis",
            colorbar={"title": "loss"},
            hovertemplate="%{y}<br>context index %{x}<br>loss %{z:.3f}<extra></extra>",
        )
    )
    w = window(m.get("phase"))
    if w is not None:
        for s, text in ((w[0], "window start"), (w[1], "window end")):
            if s in m["steps"]:
                fig.add_hline(
                    y=m["steps"].index(s),  # a category's index on the y axis
                    line={"color": "white", "dash": "dash"},
                    annotation_text=text,
                    annotation_font_color="white",
                )
    every = max(1, -(-len(labels) // 15))  # at most 15 tick labels, so they do not overlap
    fig.update_layout(
        height=460,
        xaxis_title="context index (predicting the next token)",
        margin={"t": 30},
        yaxis={"title": "checkpoint", "type": "category", "tickvals": labels[::every]},
    )
    return fig


def per_position_curves(m: RunMetricsResponse, tokens_per_step: int, positions: Sequence[int]) -> go.Figure:
    """Loss at a few context indices over training: the late ones fall below the early ones once
    the model learns in context."""
    fig = go.Figure()
    for p in positions:
        y = [row[p] if p < len(row) else None for row in m["loss_by_position"]]
        fig.add_trace(go.Scatter(x=positive(m["tokens_seen"]), y=y, name=f"index {p}", mode="lines"))
    shade_window(fig, m, tokens_per_step, "grey", row=None)
    fig.update_layout(
        height=380, xaxis=TOKENS_AXIS, yaxis_title="held-out loss", legend_title="context index", margin={"t": 30}
    )
    return fig


def pca_trajectories(pca: PcaResponse, selected: tuple[str, int] | None = None) -> go.Figure:
    """Every run's path through the joint PCA of per-token losses; markers coloured by log step,
    the phase window drawn thick; `customdata` holds (run, step) for point selection."""
    colors = run_colors(list(pca["runs"]))
    ev = pca["explained_variance"]
    fig = go.Figure()
    for run, r in pca["runs"].items():
        xs, ys = [c[0] for c in r["coords"]], [c[1] if len(c) > 1 else 0.0 for c in r["coords"]]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=run,
                legendgroup=run,
                line={"color": colors[run], "width": 1.5},
                hoverinfo="skip",
            )
        )
        w = window(r.get("phase"))
        if w is not None:
            idx = [i for i, s in enumerate(r["steps"]) if w[0] <= s <= w[1]]
            fig.add_trace(
                go.Scatter(
                    x=[xs[i] for i in idx],
                    y=[ys[i] for i in idx],
                    mode="lines",
                    name=f"{run} phase window",
                    legendgroup=run,
                    line={"color": colors[run], "width": 7},
                    opacity=0.45,
                    hoverinfo="skip",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=run,
                legendgroup=run,
                showlegend=False,
                customdata=[[run, s, t] for s, t in zip(r["steps"], r["tokens_seen"])],
                marker={
                    "size": 7,
                    "color": [math.log10(s + 1) for s in r["steps"]],
                    "colorscale": "Viridis",
                    "colorbar": {"title": "log10 step"},
                    "line": {"width": 0.5, "color": colors[run]},
                },
                hovertemplate="%{customdata[0]} step %{customdata[1]:,} (%{customdata[2]:,} tokens)<extra></extra>",
            )
        )
    if selected is not None and selected[0] in pca["runs"] and selected[1] in pca["runs"][selected[0]]["steps"]:
        r = pca["runs"][selected[0]]
        c = r["coords"][r["steps"].index(selected[1])]
        fig.add_trace(
            go.Scatter(
                x=[c[0]],
                y=[c[1] if len(c) > 1 else 0.0],
                mode="markers",
                name="selected",
                hoverinfo="skip",
                marker={"symbol": "circle-open", "size": 18, "color": SELECTED, "line": {"width": 3}},
            )
        )

    def axis(i: int) -> str:
        return f"PC{i + 1} ({ev[i]:.1%} of variance)" if i < len(ev) and ev[i] is not None else f"PC{i + 1}"

    fig.update_layout(
        height=600,
        xaxis_title=axis(0),
        yaxis_title=axis(1),
        clickmode="event+select",
        legend={"orientation": "h", "y": 1.08},
        margin={"t": 40},
    )
    return fig


def ablation_history(m: RunMetricsResponse, metric: str, tokens_per_step: int, *, title: str) -> go.Figure:
    """Each head's ablation effect over training (measured at every n-th snapshot only)."""
    grids = m["head_metrics"].get(metric, [])
    keep = [i for i, g in enumerate(grids) if any(v is not None for row in g for v in row)]
    fig = go.Figure()
    for layer in range(m["n_layers"]):
        for head in range(m["n_heads"]):
            fig.add_trace(
                go.Scatter(
                    x=positive([m["tokens_seen"][i] for i in keep]),
                    y=[grids[i][layer][head] for i in keep],
                    name=head_label(layer, head),
                    mode="lines+markers",
                    marker={"size": 4},
                )
            )
    shade_window(fig, m, tokens_per_step, "grey", row=None)
    fig.add_hline(y=0, line={"color": "grey", "width": 1})
    fig.update_layout(height=420, xaxis=TOKENS_AXIS, yaxis_title=title, legend_title="head removed", margin={"t": 30})
    return fig


def peak_prefix_matching(runs: dict[str, dict], threshold: float) -> go.Figure:
    """Per run, the highest prefix-matching score of any head at any checkpoint (claims report)."""
    names = list(runs)
    peaks = [(runs[r].get("peak_prefix_matching") or {}) for r in names]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[p.get("score") for p in peaks],
            text=[p.get("head", "") for p in peaks],
            textposition="outside",
            marker_color=list(run_colors(names).values()),
            hovertemplate="%{x}: %{y:.3f} (%{text})<extra></extra>",
        )
    )
    fig.add_hline(y=threshold, line={"dash": "dash"}, annotation_text=f"induction head threshold {threshold}")
    fig.update_layout(height=340, yaxis={"title": "peak prefix-matching score", "range": [0, 1.05]}, margin={"t": 30})
    return fig


SEED_COLUMNS = {  # the report's SeedResult fields, as table columns
    "induction_step": "max prefix matching > 0.3 at step",
    "phase_start": "phase window start",
    "phase_end": "phase window end",
    "peak_prefix_matching": "peak prefix matching",
    "final_icl": "final ICL score",
    "final_heldout_loss": "final held-out loss",
}


def seed_table(spread: SeedSpread) -> list[dict]:
    """The claims report's numbers for a run trained with several seeds, as table rows: one per
    seed (a seed not analysed yet: waiting, no numbers), then n, mean, min, max and std over the
    analysed seeds, as the report computed them."""
    rows = [
        {
            "seed": f"{r['run']} (seed {r['seed']})" + ("" if r["status"] == "analysed" else ": waiting"),
            **{label: r.get(field) for field, label in SEED_COLUMNS.items()},
        }
        for r in spread["seeds"]
    ]
    return rows + [
        {"seed": stat, **{label: spread["spread"][field].get(stat) for field, label in SEED_COLUMNS.items()}}
        for stat in ("n", "mean", "min", "max", "std")
    ]
