"""Text drawn token by token with a coloured background (in the spirit of CircuitsVis): where a
token attends, or how its loss changed. HTML for `st.html`; hovering a token shows its value."""

from __future__ import annotations

import html

BLUE = (33, 102, 172)
RED = (178, 24, 43)


def _span(token: str, rgb: tuple[int, int, int], alpha: float, title: str, outline: bool) -> str:
    text = html.escape(token).replace("\n", "↵<br>") or "∅"
    border = "outline:2px solid #d62728;" if outline else ""
    color = f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{min(max(alpha, 0.0), 1.0):.3f})"
    return f'<span title="{html.escape(title)}" style="background:{color};{border}border-radius:2px;padding:1px 0">{text}</span>'


def _block(spans: list[str]) -> str:
    return (
        '<div style="font-family:monospace;white-space:pre-wrap;line-height:1.9;font-size:14px">'
        + "".join(spans)
        + "</div>"
    )


def attention_html(tokens: list[str], weights: list[float], query: int) -> str:
    """Tokens shaded by the attention the `query` token pays them (keys after it get none)."""
    spans = []
    for k, token in enumerate(tokens):
        w = weights[k] if k < len(weights) else 0.0
        spans.append(_span(token, BLUE, w, f"{k}: attention {w:.3f}", outline=k == query))
    return _block(spans)


def change_html(tokens: list[str], deltas: list[float | None], scale: float) -> str:
    """Tokens shaded by their loss change: blue when predicted better, red when worse; a token
    without a value (the first, which nothing predicts) is left plain. `deltas[i]` belongs to
    token i + 1."""
    spans = [_span(tokens[0], BLUE, 0.0, "not predicted", outline=False)] if tokens else []
    for i, token in enumerate(tokens[1:]):
        d = deltas[i] if i < len(deltas) else None
        if d is None:
            spans.append(_span(token, BLUE, 0.0, "no value", outline=False))
        else:
            spans.append(
                _span(
                    token,
                    BLUE if d < 0 else RED,
                    abs(d) / scale if scale > 0 else 0.0,
                    f"{i + 1}: loss change {d:+.3f}",
                    outline=False,
                )
            )
    return _block(spans)
