"""The fake suite's numbers: small hand-made values that are easy to find again in the charts,
and the one gate every fake answer passes, the service's own response model, strictly.

What a metric is (its name, label, range, stage, axes) is not restated here: it is the
registry's `describe()`, as `/registry` serves it. Only the values are made up, per registry
metric; a per-head metric the fake has no story for gets a small constant.
"""

from __future__ import annotations

import functools
import json

from pydantic import TypeAdapter

from dashboard.client import ServiceError
from training.core.science import INDUCTION_THRESHOLD, registry

SUITE = "fake"
STEPS = [0, 10, 20, 40, 80, 160]
TOKENS_PER_STEP = 100
WINDOW = (20, 80)
N_CTX = 8
REPLICATE = "attn2-seed1"  # attn2 with train.seed 1, in the suite after `add_replicate()`
HELDOUT = {
    "attn2": [6.0, 5.5, 5.0, 4.2, 3.9876, 3.9],
    "attn1": [6.0, 5.6, 5.2, 4.9, 4.7654, 4.7],
    REPLICATE: [6.0, 5.4, 5.1, 4.4, 4.0123, 3.95],
}
ICL = {
    "attn2": [0.05, 0.04, -0.1, -0.6, -0.9, -0.9512],
    "attn1": [0.05, 0.03, 0.0, -0.1, -0.15, -0.1687],
    REPLICATE: [0.06, 0.05, -0.02, -0.3, -0.85, -0.9345],
}
# the wide ICL score (512 contexts), drawn instead once a run is fully analysed
ICL_WIDE = {
    "attn2": [0.01, 0.0, -0.12, -0.55, -0.81, -0.8234],
    "attn1": [0.01, 0.0, -0.02, -0.08, -0.1, -0.1123],
    REPLICATE: [0.02, 0.01, -0.03, -0.25, -0.8, -0.8456],
}
INDUCTION_PEAK = 0.8312  # L1H1's prefix-matching score at the last step
SEED_NUMBERS = {  # the report's numbers of attn2 and its replicate
    "attn2": {"induction_step": 40, "phase_start": 20, "phase_end": 80, "peak_prefix_matching": 0.831},
    REPLICATE: {"induction_step": 80, "phase_start": 40, "phase_end": 160, "peak_prefix_matching": 0.7777},
}
INDUCTION_COPYING = 0.7123
ALIGNMENT = 0.9321  # L1H1's stored cosine with the reversed before-and-after vector
PROJECTION = 0.8123  # the share of the before-and-after change L1H1's ablation undoes
THRESHOLD = INDUCTION_THRESHOLD
SHAPES = {"attn2": (2, 2), "attn1": (1, 2), REPLICATE: (2, 2)}
COORDS = {"period": [2, 3, 4], "offset": [1, 2, 3, 4, 5]}  # training.core.analysis.shortcuts' sweeps for N_CTX = 8
PERIODS, OFFSETS = COORDS["period"], COORDS["offset"]
INDUCTION_BY_PERIOD = [0.8123, 0.7456, 0.6389]  # L1H1 at the last step
SHORTCUT_PEAK = 0.9712  # L0H1 at period 4 and at offset 3
# attn2's local learning coefficient at steps 10, 40, 80, 160 (attn1 has none: a 404)
LLC_MEAN, LLC_STD = [20.5, 35.25, 61.75, 58.125], [0.5, 0.75, 1.25, 1.0]
LLC_SETTINGS = {"epsilon": 0.003, "gamma": 100.0, "nbeta": 30.0, "chains": 2, "draws": 3, "burnin": 1, "batch_size": 4}
PROGRESS = {"step": 120, "steps": 500, "tokens_per_s": 12345.0, "elapsed_s": 60.0, "eta_s": 190.0}
DOWN = ServiceError(
    "The inductionscope service is not reachable at http://localhost:8000 (ConnectError). "
    "Start it from the repository root with `.venv/bin/uvicorn backend.main:app`, or set INDUCTIONSCOPE_API to its address.",
    unreachable=True,
)

REGISTRY = registry.describe()  # what GET /registry lists
PER_HEAD = [m["name"] for m in REGISTRY if m["per_head"]]
LIVE = [m["name"] for m in REGISTRY if m["per_head"] and m["stage"] == "live"]


def at(values: list[float], n: int) -> list[float]:
    """The first n values, the last one repeated for steps added by a test."""
    return [values[min(i, len(values) - 1)] for i in range(n)]


def grid(run: str, i: int, value) -> list[list]:
    """`value(layer, head, i)` for every head of the run: `[layer][head]`, as the store holds it."""
    n_layers, n_heads = SHAPES[run]
    return [[value(layer, head, i) for head in range(n_heads)] for layer in range(n_layers)]


def _prefix(layer: int, head: int, i: int) -> float:
    return round(INDUCTION_PEAK * i / (len(STEPS) - 1), 4) if (layer, head) == (1, 1) else 0.03 + 0.001 * head


def _copying(layer: int, head: int, i: int) -> float:
    return INDUCTION_COPYING if (layer, head) == (1, 1) and i == len(STEPS) - 1 else -0.2 + 0.1 * layer


def _ablation(layer: int, head: int, i: int) -> float | None:
    if i % 2:
        return None  # ablated at every other snapshot only
    return 0.4321 if (layer, head) == (1, 1) and i >= 3 else 0.01


VALUES = {
    "prefix_matching": _prefix,
    "previous_token": lambda la, h, i: 0.5 if (la, h) == (0, 0) else 0.1,
    "duplicate_token": lambda la, h, i: 0.05,
    "copying": _copying,
    "eigenvalue_positivity": lambda la, h, i: 0.1 * i,
    "logit_attribution": lambda la, h, i: 0.01 * h,
}


def per_head(name: str):
    """The fake's values of a per-head registry metric: `f(layer, head, snapshot index)`."""
    if name in VALUES:
        return VALUES[name]
    if registry.REGISTRY[name].stage == "ablation":
        return _ablation
    return lambda la, h, i: 0.02


def _by_period(layer: int, head: int, i: int) -> list[float]:
    if (layer, head) == (1, 1):
        return [round(v * i / (len(STEPS) - 1), 4) for v in INDUCTION_BY_PERIOD]
    if (layer, head) == (0, 1):
        return [0.0 if p != 4 else SHORTCUT_PEAK for p in PERIODS]
    return [0.02] * len(PERIODS)


def _by_offset(layer: int, head: int, i: int) -> list[float]:
    if (layer, head) == (0, 1):
        return [0.0 if k != 3 else SHORTCUT_PEAK for k in OFFSETS]
    return [0.3, 0.1, 0.05, 0.05, 0.05] if (layer, head) == (0, 0) else [0.1] * len(OFFSETS)


PROFILE_VALUES = {"prefix_by_period": _by_period, "offset_attention": _by_offset}
# Every registry metric measured per head along a third axis: name -> (axis, its values, f).
PROFILES = {
    m["name"]: (m["axes"][2], COORDS[m["axes"][2]], PROFILE_VALUES[m["name"]])
    for m in REGISTRY
    if len(m["axes"]) == 3 and m["axes"][:2] == ["layer", "head"]
}


@functools.cache
def _adapter(model: type) -> TypeAdapter:
    return TypeAdapter(model)


def answer(model: type, data: dict) -> dict:
    """`data` as the service sends it, through the service's response model: sent as JSON and
    validated strictly (a str is no int, a flat list no grid, no field the model lacks), so a
    fake that drifts from the service fails with pydantic's error naming the field's path."""
    adapter = _adapter(model)
    return adapter.dump_python(adapter.validate_json(json.dumps(data), strict=True, extra="forbid"), mode="json")


def not_found(detail: str) -> ServiceError:
    return ServiceError(f"The service answered 404: {detail}", status=404, detail=detail)
