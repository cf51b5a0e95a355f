"""The dashboard's only way to the data: one typed function per route of the REST service.

The service's address comes from `INDUCTIONSCOPE_API` (default http://localhost:8000). Answers
are cached with `st.cache_data`: stored curves for a few seconds (a run may be training and
adding snapshots), on-demand computations for longer (a snapshot never changes). Every failure
(service down, timeout, error status, non-JSON answer) is raised as `ServiceError`, whose
`message` is written for the person looking at the page.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Literal, TypeVar

import httpx
import numpy as np
import streamlit as st

from dashboard.api_types import (
    AblationResponse,
    AttentionResponse,
    BeforeAfterResponse,
    HeadTable,
    HealthResponse,
    LLCResponse,
    LogitAttributionResponse,
    LossesResponse,
    MetricRegistry,
    PcaResponse,
    PrefixMatchingResponse,
    ReportResponse,
    RunMetricsResponse,
    SuiteDetail,
    SuiteStatus,
    SuiteSummary,
)

DEFAULT_API = "http://localhost:8000"
STORED_TTL_S = 15  # short: a training run adds snapshots and live metrics, the analysis the rest
COMPUTED_TTL_S = 600  # attention etc. of a fixed snapshot step never changes
GET_TIMEOUT_S = 30.0
POST_TIMEOUT_S = 120.0  # the first request for a snapshot loads it from disk
HEALTH_TIMEOUT_S = 3.0  # /health only lists the suites: a service that takes longer is not back yet
START_HINT = "Start it from the repository root with `.venv/bin/uvicorn backend.main:app`"


F = TypeVar("F")
ENDPOINTS: list[str] = []  # the functions below that answer for a route: what a test's fake service stands in for


def _endpoint(f: F) -> F:
    """Mark a function as the client's one function for a route (listed in ENDPOINTS)."""
    ENDPOINTS.append(f.__name__)
    return f


class ServiceError(Exception):
    """A request to the service failed; `message` says what happened and what to do."""

    def __init__(
        self, message: str, *, status: int | None = None, detail: str | None = None, unreachable: bool = False
    ):
        super().__init__(message)
        self.message = message
        self.status = status  # HTTP status, None when there was no answer
        self.detail = detail  # the service's own `detail`
        self.unreachable = unreachable  # no connection, or it broke: the service is down or restarting


def api_url() -> str:
    return os.environ.get("INDUCTIONSCOPE_API", DEFAULT_API).rstrip("/")


def _request(
    method: str,
    base: str,
    path: str,
    *,
    params: dict | None = None,
    body: dict | None = None,
    timeout: float | None = None,
) -> Any:
    timeout = timeout or (GET_TIMEOUT_S if method == "GET" else POST_TIMEOUT_S)
    try:
        # trust_env=False: a proxy from the environment must not intercept a service on localhost
        with httpx.Client(base_url=base, timeout=timeout, trust_env=False) as http:
            response = http.request(method, path, params=params, json=body)
    except httpx.TimeoutException:
        raise ServiceError(
            f"The service at {base} did not answer {path} within {timeout:g} s. It may be busy; try again."
        ) from None
    except httpx.HTTPError as e:
        raise ServiceError(
            f"The inductionscope service is not reachable at {base} ({type(e).__name__}). {START_HINT}, "
            "or set INDUCTIONSCOPE_API to its address.",
            unreachable=True,
        ) from None
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ServiceError(
            f"{base}{path} answered {response.status_code} with something other than JSON: "
            "is INDUCTIONSCOPE_API pointing at the inductionscope service?",
            status=response.status_code,
        ) from None
    if response.is_error:
        detail = payload.get("detail") if isinstance(payload, dict) else None
        detail = detail if isinstance(detail, str) else str(detail or response.reason_phrase)
        raise ServiceError(
            f"The service answered {response.status_code}: {detail}", status=response.status_code, detail=detail
        )
    return payload


# The address is part of each cache key, so pointing the dashboard elsewhere never serves stale answers.
@st.cache_data(ttl=STORED_TTL_S, show_spinner="Reading from the service…", max_entries=256)
def _get(base: str, path: str, params: tuple[tuple[str, Any], ...] = ()) -> Any:
    return _request("GET", base, path, params=dict(params))


@st.cache_data(ttl=COMPUTED_TTL_S, show_spinner="Running the snapshot…", max_entries=256)
def _post(base: str, path: str, body_json: str) -> Any:
    return _request("POST", base, path, body=json.loads(body_json))


def _post_json(path: str, body: dict) -> Any:
    return _post(api_url(), path, json.dumps({k: v for k, v in body.items() if v is not None}, sort_keys=True))


def clear_cache() -> None:
    """Forget every cached answer (the refresh button, and a run that added snapshots)."""
    _get.clear()
    _post.clear()


def _snapshot(suite: str, run: str, step: int | str) -> str:
    return f"/suites/{suite}/runs/{run}/snapshots/{step}"


# ---- stored artifacts ------------------------------------------------------------------------


@_endpoint
def health() -> HealthResponse:
    return _request("GET", api_url(), "/health")  # never cached: it is the liveness check


@_endpoint
def reachable() -> bool:
    """Whether the service answers `/health` now (within HEALTH_TIMEOUT_S): what a page that
    lost the service asks while it waits for it to come back."""
    try:
        _request("GET", api_url(), "/health", timeout=HEALTH_TIMEOUT_S)
    except ServiceError:
        return False
    return True


@_endpoint
def registry() -> MetricRegistry:
    return _get(api_url(), "/registry")


@_endpoint
def suites() -> list[SuiteSummary]:
    return _get(api_url(), "/suites")["suites"]


@_endpoint
def suite(name: str) -> SuiteDetail:
    return _get(api_url(), f"/suites/{name}")


@_endpoint
def suite_fresh(name: str) -> SuiteDetail:
    """`suite` without the cache: what the refresh check compares against."""
    return _request("GET", api_url(), f"/suites/{name}")


@_endpoint
def status(name: str) -> SuiteStatus:
    """What trains now; never cached: the status line and "Follow training" read it fresh."""
    return _request("GET", api_url(), f"/suites/{name}/status")


@_endpoint
def run_metrics(suite: str, run: str, max_points: int | None = 400) -> RunMetricsResponse:
    params = (("max_points", max_points),) if max_points else ()
    return _get(api_url(), f"/suites/{suite}/runs/{run}/metrics", params)


@_endpoint
def llc(suite: str, run: str) -> LLCResponse | None:
    """The run's local learning coefficient over training; None when the analysis has not
    estimated it (the service's 404: most runs have none)."""
    try:
        return _get(api_url(), f"/suites/{suite}/runs/{run}/llc")
    except ServiceError as e:
        if e.status == 404:
            return None
        raise


@_endpoint
def heads(suite: str, run: str, step: int) -> HeadTable:
    return _get(api_url(), f"{_snapshot(suite, run, step)}/heads")


@_endpoint
def pca(suite: str, components: int = 2) -> PcaResponse:
    return _get(api_url(), f"/suites/{suite}/pca", (("components", components),))


@_endpoint
def report(suite: str) -> ReportResponse:
    return _get(api_url(), f"/suites/{suite}/report")


@_endpoint
def before_after(suite: str) -> BeforeAfterResponse:
    return _get(api_url(), f"/suites/{suite}/before-after")


# ---- computed on demand ----------------------------------------------------------------------


PACKED_SCALE = 65535  # the service's `HeadPattern.packed`: weight = uint16 value / 65535


@_endpoint
def attention(
    suite: str, run: str, step: int, text: str, *, layers: list[int] | None = None, heads: list[int] | None = None
) -> AttentionResponse:
    """The attention answer with each head's `pattern` filled in: asked for in the service's
    packed encoding (~3x fewer bytes, cheaper for the service to encode) and unpacked here."""
    body = {"text": text, "layers": layers, "heads": heads, "encoding": "packed"}
    answer = _post_json(f"{_snapshot(suite, run, step)}/attention", body)
    n = len(answer["tokens"])
    patterns = [{**p, "pattern": unpack_pattern(p["packed"], n), "packed": None} for p in answer["patterns"]]
    return {**answer, "patterns": patterns}


def unpack_pattern(packed: str, n_tokens: int) -> list[list[float]]:
    """A packed pattern (base64 of little-endian uint16, the causal rows one after another) as
    rows of weights, row q holding keys 0..q."""
    values = np.frombuffer(base64.b64decode(packed), dtype="<u2") / PACKED_SCALE
    if len(values) != n_tokens * (n_tokens + 1) // 2:
        raise ServiceError(f"the service sent a packed pattern of {len(values)} weights for {n_tokens} tokens")
    return [values[q * (q + 1) // 2 : (q + 1) * (q + 2) // 2].tolist() for q in range(n_tokens)]


@_endpoint
def losses(suite: str, run: str, step: int, text: str, baseline_step: int | None = None) -> LossesResponse:
    body = {"text": text} if baseline_step is None else {"text": text, "baseline_step": baseline_step}
    return _post_json(f"{_snapshot(suite, run, step)}/losses", body)


@_endpoint
def prefix_matching(
    suite: str, run: str, step: int, *, seed: int | None = None, n_sequences: int | None = None
) -> PrefixMatchingResponse:
    return _post_json(f"{_snapshot(suite, run, step)}/prefix-matching", {"seed": seed, "n_sequences": n_sequences})


@_endpoint
def ablation(
    suite: str,
    run: str,
    step: int,
    heads: list[tuple[int, int]],
    *,
    mode: Literal["mean", "pattern_preserving"] = "mean",
    text: str | None = None,
) -> AblationResponse:
    body = {"heads": [list(h) for h in heads], "mode": mode, "text": text}
    return _post_json(f"{_snapshot(suite, run, step)}/ablation", body)


@_endpoint
def logit_attribution(suite: str, run: str, step: int, text: str) -> LogitAttributionResponse:
    return _post_json(f"{_snapshot(suite, run, step)}/logit-attribution", {"text": text})
