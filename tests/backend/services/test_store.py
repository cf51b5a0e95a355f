"""backend.services.store and backend.services.inputs, without HTTP."""

import pytest

from backend.errors import InputError, NotFoundError
from backend.services import inputs
from backend.services.store import ArtifactStore


@pytest.fixture
def store(tiny_suite):
    return ArtifactStore(tiny_suite.parent, cache_size=2)


@pytest.mark.parametrize("name", ["..", "../x", "/etc", "a/b", "", "UPPER"])
def test_store_rejects_names_outside_the_schema_before_touching_disk(store, name):
    with pytest.raises(NotFoundError):
        store.suite_path(name)
    with pytest.raises(NotFoundError):
        store.run_path("tiny", name)


def test_store_keeps_at_most_cache_size_snapshots(store, suite):
    first = store.snapshot(suite, "attn1", 0)
    assert store.snapshot(suite, "attn1", "0") is first  # a digit string is the same step
    store.snapshot(suite, "attn1", "latest")
    store.snapshot(suite, "attn2", "latest")
    assert len(store.snapshots) == 2
    assert store.snapshot(suite, "attn1", 0) is not first  # evicted, loaded again


def test_store_entry_not_found_names_run_and_step(store, suite):
    with pytest.raises(NotFoundError, match=f"{suite}/attn1 has no snapshot at step 3333"):
        store.entry(suite, "attn1", 3333)


def test_encode_prepends_bos_and_checks_the_context(store, suite):
    snap = store.snapshot(suite, "attn1", "latest")
    ids = inputs.encode(store, suite, snap, text="x = 1", tokens=None, max_chars=100, max_tokens=4096)
    assert ids[0].item() == 0 and len(ids) > 2
    with pytest.raises(InputError, match=r"at most 3 \(MAX_TEXT_CHARS\)"):
        inputs.encode(store, suite, snap, text="x = 1", tokens=None, max_chars=3, max_tokens=4096)
    with pytest.raises(InputError, match="MAX_TEXT_TOKENS"):
        inputs.encode(store, suite, snap, text="x = 1", tokens=None, max_chars=100, max_tokens=2)
    with pytest.raises(InputError, match="lone surrogate"):
        inputs.encode(store, suite, snap, text="\ud800", tokens=None, max_chars=100, max_tokens=4096)


def test_select_heads_defaults_to_all_and_drops_duplicates(store, suite):
    snap = store.snapshot(suite, "attn2", "latest")
    assert inputs.select_heads(snap, None, None, max_heads=4) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert inputs.select_heads(snap, [1, 1], [0], max_heads=1) == [(1, 0)]  # counted after duplicates go
    with pytest.raises(InputError, match="head 9 is out of range: the model has 2 heads"):
        inputs.check_heads(snap, [(0, 9)], max_heads=4)
    assert inputs.check_heads(snap, [(1, 0), (1, 0), (0, 1)], max_heads=2) == [(1, 0), (0, 1)]
