"""backend.services.cache: the mtime-keyed cache and the bounded LRU."""

import threading

import pytest

from backend.services import cache as cache_module
from backend.services.cache import FileCache, LRUCache


def test_file_cache_reloads_only_when_the_file_changes(tmp_path):
    path, loads = tmp_path / "a.json", []
    path.write_text("1")

    def load():
        loads.append(1)
        return path.read_text()

    cache = FileCache()
    assert cache.get("a", [path], load) == "1" and cache.get("a", [path], load) == "1"
    path.write_text("22")
    assert cache.get("a", [path], load) == "22" and len(loads) == 2


def test_lru_cache_evicts_the_least_recently_used():
    cache = LRUCache(2)
    for key in "abca":
        cache.get(key, lambda key=key: key.upper())
    cache.get("d", lambda: "D")
    assert len(cache) == 2 and list(cache._data) == ["a", "d"]


class WatchedLocks:
    """Stands in for the cache module's `threading`: the locks made once `armed` (a cache's
    per-key locks, not its own main lock) record each thread that finds them taken and waits,
    so a test knows when requests are queued behind a load."""

    def __init__(self) -> None:
        self.cond, self.waiting, self.armed = threading.Condition(), set(), False
        watched = self

        class Lock:
            def __init__(self) -> None:
                self._lock, self.armed = threading.Lock(), watched.armed

            def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
                if self._lock.acquire(blocking=False):
                    return True
                if self.armed:
                    with watched.cond:
                        watched.waiting.add(threading.get_ident())
                        watched.cond.notify_all()
                return self._lock.acquire(blocking, timeout)

            def release(self) -> None:
                self._lock.release()

            __enter__ = acquire

            def __exit__(self, *exc) -> None:
                self.release()

        self.Lock = Lock


def test_lru_cache_loads_a_key_once_under_concurrent_requests(monkeypatch):
    locks = WatchedLocks()
    monkeypatch.setattr(cache_module, "threading", locks)
    cache, loads, others = LRUCache(4), [], 7
    locks.armed = True

    def load():
        loads.append(1)
        # A slow snapshot load: held until every other request is waiting for it (or, in a
        # cache that lets them load too, until a second load starts), with an upper bound only.
        with locks.cond:
            assert locks.cond.wait_for(lambda: len(locks.waiting) >= others or len(loads) > 1, timeout=120)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", load))) for _ in range(others + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(loads) == 1 and len(results) == others + 1 and len({id(r) for r in results}) == 1


def test_lru_cache_does_not_keep_a_failed_load():
    cache = LRUCache(2)
    with pytest.raises(ZeroDivisionError):
        cache.get("k", lambda: 1 / 0)
    assert cache.get("k", lambda: 5) == 5
