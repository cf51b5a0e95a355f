"""The artifact package's files: every write records its SHA-256, a damaged file is told apart
from a whole one, and a damaged per-snapshot metrics file is measured again, not restacked."""

import json

import numpy as np
import pytest
import torch

from training.core.artifacts import files, schema


def test_every_write_records_the_files_digest(tmp_path):
    path = tmp_path / "run" / "x.npy"
    files.atomic_write_npy(path, np.arange(5))
    assert files.checksums(path.parent) == {"x.npy": [files.sha256_file(path)]}
    assert files.check_file(path) is None


def test_a_file_changed_after_it_was_written_does_not_match(tmp_path):
    path = tmp_path / "x.json"
    files.atomic_write_json(path, {"a": 1})
    path.write_text('{"a": 2}\n')  # still valid JSON: only the digest tells
    assert "does not match its recorded SHA-256" in files.check_file(path)


def test_a_rewrite_keeps_one_digest_and_a_writer_killed_mid_write_leaves_both_accepted(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    files.atomic_write_json(path, {"v": 1})
    first = files.sha256_file(path)
    files.atomic_write_json(path, {"v": 2})
    assert files.checksums(tmp_path)["x.json"] == [files.sha256_file(path)]

    second = files.sha256_file(path)
    original = files._replace

    def replace(p, d):
        if p == path:
            raise KeyboardInterrupt
        original(p, d)

    monkeypatch.setattr(files, "_replace", replace)
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write_json(path, {"v": 3})
    assert files.sha256_file(path) == second != first
    assert len(files.checksums(tmp_path)["x.json"]) == 2 and files.check_file(path) is None


def test_forget_removes_the_file_and_its_digest_and_an_empty_ledger(tmp_path):
    path = tmp_path / "resume" / "checkpoint.safetensors"
    files.atomic_write_bytes(path, b"abc")
    files.forget(path)
    assert not any(path.parent.iterdir())


def test_record_checksums_covers_files_written_by_another_library(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    files.record_checksums(tmp_path)
    assert set(files.checksums(tmp_path)) == {"a.txt", "b.txt"}
    (tmp_path / "b.txt").write_text("B")
    assert files.check_file(tmp_path / "b.txt") is not None and files.check_file(tmp_path / "a.txt") is None


def test_a_damaged_metrics_file_is_not_stored_so_it_is_measured_again(tmp_path):
    run = tmp_path / "run"
    schema.write_snapshot_metrics(run, 10, {"icl_score": torch.tensor(-0.5)}, "hash", "full")
    path = schema.metrics_snapshot_path(run, 10)
    assert schema.stored_metrics(path, "hash")[0] == "full"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # a bit flip in the tensor's data: the file still parses
    path.write_bytes(bytes(data))
    assert schema.stored_metrics(path, "hash") == (None, set())
    assert schema.read_snapshot_metrics(path, "hash") == (None, {})


def test_the_ledger_is_plain_json_naming_files_of_its_folder(tmp_path):
    files.atomic_write_bytes(tmp_path / "a.bin", b"1")
    files.atomic_write_bytes(tmp_path / "b.bin", b"2")
    assert sorted(json.loads((tmp_path / schema.CHECKSUMS).read_text())) == ["a.bin", "b.bin"]


def test_rewriting_an_unrecorded_file_with_the_same_bytes_records_it(tmp_path):
    path = tmp_path / "phase.json"
    path.write_text("{}\n")  # written before checksums were kept
    files.atomic_write_json(path, {})
    assert files.checksums(tmp_path) == {"phase.json": [files.sha256_file(path)]}
