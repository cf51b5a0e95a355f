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
