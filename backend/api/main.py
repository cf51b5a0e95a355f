"""All routes in one router."""

from fastapi import APIRouter

from backend.api.routes import health, llc, registry, runs, snapshots, suites, tokens

api_router = APIRouter()
for module in (health, registry, suites, runs, llc, snapshots, tokens):
    api_router.include_router(module.router)
