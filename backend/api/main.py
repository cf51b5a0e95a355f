"""All routes in one router."""

from fastapi import APIRouter

from backend.api.routes import health, runs, snapshots, suites

api_router = APIRouter()
for module in (health, suites, runs, snapshots):
    api_router.include_router(module.router)
