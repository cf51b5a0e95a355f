"""How the fake runs a text: "tokenised" into words, with a per-token loss that drops on the
second copy of a passage after the phase window (what an induction head does)."""

from __future__ import annotations

import itertools
import re

from dashboard.client import ServiceError
from tests.dashboard.fakes.data import WINDOW

MAX_TOKENS = 64  # the fake model's context, for the 422 a long text gets


def tokenize(text: str) -> list[str]:
    return ["<|bos|>", *re.findall(r"\s+|\w+|[^\w\s]", text)]


def repeat_of(tokens: list[str]) -> list[int | None]:
    """Per context index i: where token i + 1 followed an earlier copy of token i, or None."""
    last, out = {}, []
    for i, pair in enumerate(itertools.pairwise(tokens)):
        out.append(last.get(pair))
        last[pair] = i + 1
    return out


def token_losses(tokens: list[str], step: int) -> list[float]:
    """Loss of token i + 1: 4.0, or 1.0 after the window when (token i, token i + 1) occurred before."""
    return [1.0 if source is not None and step >= WINDOW[1] else 4.0 - 0.001 * step for source in repeat_of(tokens)]


def check_length(tokens: list[str]) -> None:
    if len(tokens) > MAX_TOKENS:
        detail = f"text is {len(tokens)} tokens long after tokenisation (with BOS); the model's context is 64 tokens"
        raise ServiceError(f"The service answered 422: {detail}", status=422, detail=detail)


def ids(tokens: list[str]) -> list[int]:
    # One id per distinct token string (str hash() is salted per process: ids could collide).
    return [list(dict.fromkeys(tokens)).index(t) for t in tokens]
