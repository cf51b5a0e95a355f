"""The one place that maps errors to HTTP status codes, and the `responses=` each route documents.

    (FastAPI) an unparseable body           400
    NotFoundError                          404  unknown suite, run, step or analysis table
    InputError, RequestValidationError     422  bad layer/head, empty or too-long text, unknown field,
                                                more heads than MAX_HEADS / MAX_ABLATION_HEADS
    (limits) a body over MAX_BODY_BYTES    413
    BusyError                              429  MAX_INFLIGHT computations running, none freed in QUEUE_TIMEOUT_S
    UnavailableError, schema.ArtifactError 503  a corrupt or missing artifact file, named

Every error body is `ErrorResponse`: `{"detail": "...", "errors": [...] | null}`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from backend.errors import BusyError, InputError, NotFoundError, UnavailableError
from backend.models import ErrorResponse
from training.core.science import schema

STATUS = {NotFoundError: 404, InputError: 422, BusyError: 429, UnavailableError: 503, schema.ArtifactError: 503}

DESCRIPTIONS = {
    400: "The body could not be parsed (not UTF-8 or not JSON).",
    404: "Unknown suite, run, snapshot step or analysis table; `detail` names it.",
    422: "Invalid request: a bad name, field, layer or head, an empty text or one longer than the model's context "
    "or MAX_TEXT_TOKENS, more heads than MAX_HEADS or MAX_ABLATION_HEADS.",
    413: "The request body is larger than the service accepts (MAX_BODY_BYTES).",
    429: "Too many on-demand computations at once: none finished while this one waited; retry shortly.",
    503: "An artifact file is corrupt, missing or being rewritten; `detail` names the file. Other snapshots are unaffected.",
}


def responses(*codes: int) -> dict:
    """The `responses=` argument of a route that can answer with these error codes."""
    return {code: {"model": ErrorResponse, "description": DESCRIPTIONS[code]} for code in codes}


def _body(detail: str, errors: list | None = None) -> dict:
    return ErrorResponse(detail=detail, errors=errors).model_dump()


def _location(loc) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Rebuilt from loc/msg/type only: `ctx` may hold exception objects that are not JSON.
    errors = [
        {
            "loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    detail = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return JSONResponse(status_code=422, content=_body(detail, errors))


def install(app: FastAPI) -> None:
    """Register one handler per error class; the most specific class of an error wins."""
    for error, code in STATUS.items():

        async def handler(request: Request, exc: Exception, code: int = code) -> JSONResponse:
            message = str(exc)
            store = getattr(request.app.state, "store", None)
            if store is not None:  # never show the server's absolute paths
                message = str(store.unavailable(exc)) if code == 503 else message
            return JSONResponse(status_code=code, content=_body(message))

        app.add_exception_handler(error, handler)
    app.add_exception_handler(RequestValidationError, validation_error)
