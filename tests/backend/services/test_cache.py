"""backend.services.cache: the mtime-keyed cache and the bounded LRU."""

import threading
import time

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


def test_lru_cache_loads_a_key_once_under_concurrent_requests():
    cache, loads = LRUCache(4), []

    def load():
        loads.append(1)
        time.sleep(0.05)  # a slow snapshot load: the other threads must wait for it, not repeat it
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", load))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len({id(r) for r in results}) == 1


def test_lru_cache_does_not_keep_a_failed_load():
    cache = LRUCache(2)
    try:
        cache.get("k", lambda: 1 / 0)
    except ZeroDivisionError:
        pass
    assert cache.get("k", lambda: 5) == 5
