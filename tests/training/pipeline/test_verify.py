"""`python -m training verify`: a whole suite passes; every broken file is named."""

import shutil

import pytest

from training.core.artifacts import schema
from training.pipeline.cli import main


@pytest.fixture
def suite(tiny_suite, tmp_path):
    dest = tmp_path / "tiny"
    shutil.copytree(tiny_suite, dest)
    return dest


def test_a_whole_suite_verifies(suite, capsys):
    assert main(["verify", str(suite)]) == 0
    assert "all whole" in capsys.readouterr().out


def test_every_broken_file_is_named_and_the_exit_status_says_so(suite, capsys):
    entry = schema.read_manifest(suite / "attn2").snapshots[7]
    (suite / "attn2" / "snapshots" / entry.file).write_bytes(b"not a snapshot")
    (schema.metrics_dir(suite / "attn1") / "copying.npy").write_bytes(b"nope")
    (suite / "attn3" / "manifest.json").write_text('{"schema_version": 1, "run": "attn3"}')
    (schema.analysis_dir(suite) / "phase.json").write_text("{")
    assert main(["verify", str(suite)]) == 1
    out = capsys.readouterr().out
    assert f"tiny/attn2/snapshots/{entry.file}: sha256 does not match" in out
    assert "tiny/attn1/metrics/copying.npy" in out
    assert "tiny/attn3/manifest.json: missing field" in out
    assert "tiny/analysis/phase.json" in out
    assert "4 broken" in out


def test_a_metric_array_of_the_wrong_length_is_broken(suite, capsys):
    path = schema.metrics_dir(suite / "smeared1") / "icl_score.npy"
    schema.atomic_write_npy(path, schema.read_npy(path)[:-1])
    assert main(["verify", str(suite)]) == 1
    assert "tiny/smeared1/metrics/icl_score.npy: shape" in capsys.readouterr().out


def _flip_a_byte_in_the_middle(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # in the data, not the header: many files still parse
    path.write_bytes(bytes(data))


def test_every_file_of_a_suite_is_named_when_each_is_damaged(suite, capsys):
    paths = sorted(
        p
        for p in suite.rglob("*")
        if p.is_file() and p.name != schema.CHECKSUMS and not any(s.startswith(".") for s in p.relative_to(suite).parts)
    )
    kinds = {"/".join(p.relative_to(suite).parts[1:-1]) + p.suffix for p in paths}  # folder in a run + suffix
    assert {"snapshots.safetensors", "metrics/snapshots.safetensors", "metrics.npy", "metrics.safetensors"} <= kinds
    for path in paths:
        _flip_a_byte_in_the_middle(path)
    assert main(["verify", str(suite)]) == 1
    out = capsys.readouterr().out
    broken = {line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("broken: ")}
    unnamed = [
        str(p.relative_to(suite.parent))
        for p in paths
        if not any(str(p.relative_to(suite.parent)) in b for b in broken)
    ]
    assert not unnamed, f"{len(unnamed)} damaged files not named, e.g. {unnamed[:5]}"
    assert f"{len(paths)} broken" in out


def test_a_per_snapshot_metrics_file_damaged_in_its_data_is_broken(suite, capsys):
    path = schema.metrics_snapshot_path(suite / "attn2", schema.read_metrics_index(suite / "attn2").steps[3])
    _flip_a_byte_in_the_middle(path)
    assert main(["verify", str(suite)]) == 1
    assert f"tiny/attn2/metrics/snapshots/{path.name}: does not match its recorded SHA-256" in capsys.readouterr().out
