"""Two small thread-safe caches: one keyed on a file's modification, one bounded LRU.

Artifacts change while the service runs (a run still training rewrites its manifest after
every snapshot), so nothing read from a file is kept past the file's next change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any


def file_version(path: Path) -> tuple[int, int] | None:
    """(mtime in ns, size in bytes), or None when the file does not exist."""
    try:
        st = Path(path).stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_mtime_ns, st.st_size


class FileCache:
    """Values computed from files, recomputed when any of the files changes.

    Writers replace files atomically (`os.replace`), so a changed file has a new (mtime, size);
    a reader racing a writer at worst computes the value twice.
    """

    def __init__(self) -> None:
        self._data: dict[Hashable, tuple[tuple, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, paths: list[Path], load: Callable[[], Any]) -> Any:
        version = tuple(file_version(p) for p in paths)
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = load()  # errors propagate and nothing is cached: a fixed file is read next time
        with self._lock:
            self._data[key] = (version, value)
        return value


class LRUCache:
    """At most `size` values, least recently used evicted first; one loader per key at a time,
    so concurrent cold requests for the same snapshot load it once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._data:  # loaded by the thread we waited for
                    self._data.move_to_end(key)
                    return self._data[key]
            try:
                value = load()
            except BaseException:  # not cached: a repaired file is loaded on the next request
                with self._lock:
                    self._loading.pop(key, None)
                raise
            with self._lock:
                self._data[key] = value
                self._loading.pop(key, None)
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
            return value
