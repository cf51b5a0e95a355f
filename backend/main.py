"""The FastAPI app: `uvicorn backend.main:app`. Assembly only; see `backend/API.md`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI

from backend.api import errors
from backend.api.main import api_router
from backend.core.config import Settings
from backend.services.store import ArtifactStore


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Process-wide, so set when the app starts serving rather than when it is built.
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        yield

    app = FastAPI(
        title="inductionscope",
        version="0.1.0",
        description="Induction heads forming in small transformers: the suite's stored metrics, and "
        "attention, prefix matching, ablations and logit attribution computed on demand from any snapshot.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = ArtifactStore(settings.artifacts_dir, settings.cache_size)
    errors.install(app)
    app.include_router(api_router)
    return app


app = create_app()
