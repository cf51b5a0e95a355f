"""One trainer per run and one analyser per suite at a time: lock files that name their holder.

`<suite>/.train-<run>.lock` (while a run trains), `<suite>/.analyze.lock` (while the suite's
metrics, tables and report are written) and `<suite>/.data.lock` (while its tokenizer and
token splits are built) hold the holder's pid, host and start time. A second process that
wants the same lock is refused with a message naming the holder, or, with `wait`, waits for it
(a trainer waits to analyse its run while another process analyses; a second trainer waits for
the first to build the suite's data, then reuses it). A lock whose holder is dead (same host,
no such pid) is taken over, so a killed process never keeps the suite locked. Creation is
atomic (`O_CREAT | O_EXCL`), so two processes starting together cannot both win. Processes on
other machines sharing the artifacts folder are taken to be alive.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path


class LockError(RuntimeError):
    """Another live process holds the lock; the message names it."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:  # a zombie (exited, not yet reaped by its parent) answers kill(0) but holds nothing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc here: trust kill(0)
        return True


def _holder(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


WAIT_POLL_S = 0.2


@contextmanager
def suite_lock(suite_path: Path, kind: str, *, wait: bool = False, log=None):
    """Hold `<suite>/.<kind>.lock` for the duration of the block (kind: "train-<run>",
    "analyze" or "data"). Held by a live process: LockError naming it, or with `wait`, wait
    until it is released (`log` is told once whom it waits for)."""
    suite_path = Path(suite_path)
    suite_path.mkdir(parents=True, exist_ok=True)
    path = suite_path / f".{kind}.lock"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    stale, told = 0, False
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder is None:  # being written right now, or garbage: give the writer a moment
                time.sleep(0.05)
                holder = _holder(path)
            if holder and (holder.get("host") != me["host"] or _alive(int(holder.get("pid", -1)))):
                who = f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}"
                if not wait:
                    raise LockError(
                        f"another {kind} process holds {path} ({who}); wait for it to finish, or stop it"
                    ) from None
                if log is not None and not told:
                    log(f"waiting for {path} ({who})")
                    told = True
                time.sleep(WAIT_POLL_S)
                continue
            stale += 1
            if stale > 3:
                raise LockError(f"could not take {path}: it keeps reappearing") from None
            path.unlink(missing_ok=True)  # its holder is dead: the lock is stale
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me))
        break
    try:
        yield
    finally:
        if (_holder(path) or {}).get("pid") == me["pid"]:
            path.unlink(missing_ok=True)
