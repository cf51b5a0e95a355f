"""The service's own errors. Services raise them; `backend.api.errors` maps each to one HTTP
status code (together with `training.core.artifacts.schema.ArtifactError`)."""

from __future__ import annotations


class NotFoundError(LookupError):
    """An unknown suite, run, snapshot step or analysis table (404); the message names it."""


class InputError(ValueError):
    """A request that is well-formed but does not fit the model: a layer or head out of range,
    a text too long for the context, a token id outside the vocabulary (422)."""


class UnavailableError(RuntimeError):
    """An artifact that exists but cannot be read: a corrupt or missing file, or one being
    rewritten (503); the message names the file relative to ARTIFACTS_DIR."""


class BusyError(RuntimeError):
    """Every on-demand computation slot stayed taken while the request waited (429)."""
