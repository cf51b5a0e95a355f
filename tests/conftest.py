"""Shared fixtures: a `tiny` suite trained once per test session."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_suite(tmp_path_factory) -> Path:
    """The `tiny` preset trained and analysed into a temporary artifacts folder, as
    `python -m training train --preset tiny` does; returns the suite folder."""
    from training.pipeline import presets
    from training.pipeline.cli import analyze_suite, write_report
    from training.pipeline.train import train_suite

    out = tmp_path_factory.mktemp("artifacts")
    suite = train_suite(presets.load("tiny"), out, "tiny", log=lambda *_: None)
    analyze_suite(suite)
    write_report(suite)
    return suite


STALL_S = 300  # a child that makes no progress for this long is stuck, however busy the machine


def processes() -> Iterator[tuple[int, str, list[str]]]:
    """Every process on the machine (Linux /proc) as (pid, command line, the fields of
    /proc/PID/stat after the command name: state, ppid, pgrp, ..., utime at 11, stime at 12);
    a process that ends while it is read is left out."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        yield int(pid), cmd, fields


def wait_while_progressing(proc, progress: Callable[[], int], until: int | None = None, what: str = "child") -> None:
    """Wait for `proc` to exit (or for `progress()` to reach `until`) as long as `progress()`
    keeps growing: a slow, busy machine only makes this take longer, a stuck child fails."""
    last, last_change = progress(), time.monotonic()
    while proc.poll() is None:
        n = progress()
        if until is not None and n >= until:
            return
        if n != last:
            last, last_change = n, time.monotonic()
        assert time.monotonic() - last_change < STALL_S, f"the {what} made no progress for {STALL_S} s"
        time.sleep(0.005)


@pytest.fixture
def children():
    """Processes a test starts; every one still running is killed when the test ends."""
    procs = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
