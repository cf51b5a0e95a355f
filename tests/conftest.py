"""Shared fixtures: a `tiny` suite trained once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_suite(tmp_path_factory) -> Path:
    """The `tiny` preset trained and analysed into a temporary artifacts folder, as
    `python -m training train --preset tiny` does; returns the suite folder."""
    from training import presets
    from training.cli import analyze_suite, write_report
    from training.train import train_suite

    out = tmp_path_factory.mktemp("artifacts")
    suite = train_suite(presets.load("tiny"), out, "tiny", log=lambda *_: None)
    analyze_suite(suite)
    write_report(suite)
    return suite
