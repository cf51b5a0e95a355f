"""Small helpers shared by the backend tests."""

from __future__ import annotations

from pathlib import Path

from training.core.artifacts import schema


def manifest(suite_path: Path, run: str) -> schema.Manifest:
    return schema.read_manifest(suite_path / run)


def url(suite: str, run: str = "attn2", step: int | str = "latest", route: str = "") -> str:
    return f"/suites/{suite}/runs/{run}/snapshots/{step}/{route}".rstrip("/")
