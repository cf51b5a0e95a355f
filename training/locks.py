"""One trainer and one analyser per suite at a time: a lock file that names its holder.

`<suite>/.train.lock` and `<suite>/.analyze.lock` hold the holder's pid, host and start time.
A second process that wants the same lock is refused with a message naming the holder; a lock
whose holder is dead (same host, no such pid) is taken over, so a killed process never keeps
the suite locked. Creation is atomic (`O_CREAT | O_EXCL`), so two processes starting together
cannot both win.
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
        return True
    return True


def _holder(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


@contextmanager
def suite_lock(suite_path: Path, kind: str):
    """Hold `<suite>/.<kind>.lock` for the duration of the block (kind: "train" or "analyze")."""
    suite_path = Path(suite_path)
    suite_path.mkdir(parents=True, exist_ok=True)
    path = suite_path / f".{kind}.lock"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):  # a stale lock is removed, then creation is tried again
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder is None:  # being written right now, or garbage: give the writer a moment
                time.sleep(0.05)
                holder = _holder(path)
            if holder and (holder.get("host") != me["host"] or _alive(int(holder.get("pid", -1)))):
                raise LockError(
                    f"another {kind} process holds {path} (pid {holder.get('pid')} on {holder.get('host')}, "
                    f"since {holder.get('since')}); wait for it to finish, or stop it"
                ) from None
            path.unlink(missing_ok=True)  # its holder is dead: the lock is stale
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me))
        break
    else:
        raise LockError(f"could not take {path}: it keeps reappearing")
    try:
        yield
    finally:
        if (_holder(path) or {}).get("pid") == me["pid"]:
            path.unlink(missing_ok=True)
