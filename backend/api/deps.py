"""Dependencies as `Annotated` aliases: the settings, the artifact store, and the path
parameters, whose patterns match `training.core.artifacts.schema`'s names, so a name that could leave
ARTIFACTS_DIR (`..`, `a/b`) is a 422 before anything touches the disk. The dependencies are
`async def` because they only read app state: FastAPI runs a plain `def` dependency in the
threadpool, a thread hop per dependency per request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from typing import Annotated

from fastapi import Depends, Path, Request

from backend.core.config import Settings
from backend.errors import BusyError
from backend.services.probes import TextLimits
from backend.services.store import ArtifactStore

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # training.core.artifacts.schema.NAME_RE, at most 64 characters


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> ArtifactStore:
    return request.app.state.store


async def get_text_limits(settings: Annotated[Settings, Depends(get_settings)]) -> TextLimits:
    return TextLimits(
        max_chars=settings.max_text_chars,
        max_tokens=settings.max_text_tokens,
        max_heads=settings.max_heads,
        max_ablation_heads=settings.max_ablation_heads,
    )


async def get_attention_pool(request: Request) -> Executor:
    return request.app.state.attention_pool


async def compute_slot(request: Request) -> AsyncIterator[None]:
    """One of MAX_INFLIGHT slots for an on-demand computation, held until the answer is sent;
    a request that finds none free within QUEUE_TIMEOUT_S is a 429."""
    settings: Settings = request.app.state.settings
    slots: asyncio.Semaphore = request.app.state.compute_slots
    try:
        await asyncio.wait_for(slots.acquire(), timeout=settings.queue_timeout_s)
    except TimeoutError:
        raise BusyError(
            f"the service is busy: {settings.max_inflight} computations are running (MAX_INFLIGHT) and none "
            f"finished within {settings.queue_timeout_s:g} s; retry shortly"
        ) from None
    try:
        yield
    finally:
        slots.release()


SettingsDep = Annotated[Settings, Depends(get_settings)]
AttentionPoolDep = Annotated[Executor, Depends(get_attention_pool)]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]
LimitsDep = Annotated[TextLimits, Depends(get_text_limits)]

SuiteName = Annotated[str, Path(pattern=NAME_PATTERN, description="suite name", examples=["default"])]
RunName = Annotated[str, Path(pattern=NAME_PATTERN, description="run name", examples=["attn2"])]
Step = Annotated[
    str, Path(pattern=r"^(latest|[0-9]{1,12})$", description="snapshot step, or `latest`", examples=["latest"])
]
