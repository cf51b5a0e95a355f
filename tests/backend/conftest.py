"""Fixtures: the service over the session's `tiny` suite, and over a private copy of it for
tests that change or break artifacts (the shared suite is never modified)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.main import create_app


@pytest.fixture(scope="session")
def client(tiny_suite: Path) -> TestClient:
    with TestClient(create_app(Settings(artifacts_dir=tiny_suite.parent, cache_size=4, torch_threads=0))) as c:
        yield c


@pytest.fixture(scope="session")
def suite(tiny_suite: Path) -> str:
    return tiny_suite.name


@pytest.fixture
def suite_copy(tiny_suite: Path, tmp_path: Path) -> Path:
    """A copy of the tiny suite in its own artifacts folder (resume checkpoints left out)."""
    dest = tmp_path / "artifacts" / tiny_suite.name
    shutil.copytree(tiny_suite, dest, ignore=shutil.ignore_patterns("resume"))
    return dest


@pytest.fixture
def copy_client(suite_copy: Path) -> TestClient:
    with TestClient(create_app(Settings(artifacts_dir=suite_copy.parent, cache_size=4, torch_threads=0))) as c:
        yield c
