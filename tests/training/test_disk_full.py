"""A full disk while the trainer writes: a clear error naming the file, the run's previous state
intact, and `--resume` continues once there is room, to the same snapshots."""

import errno

import pytest

from training.core.artifacts import schema
from training.pipeline.cli import main
from training.pipeline.schedule import snapshot_steps

ARGS = ["train", "--preset", "tiny", "--runs", "attn1", "--no-analyze", "--set", "train.steps=60"]


@pytest.fixture
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    assert main([*ARGS, "--out", str(out)]) == 0
    return schema.read_manifest(out / "tiny" / "attn1")


@pytest.mark.parametrize("victim", ["snapshot", "manifest", "metrics"])
def test_a_full_disk_is_a_clear_error_and_resume_continues(tmp_path, monkeypatch, capsys, reference, victim):
    from training.pipeline import presets
    from training.pipeline.config import apply_overrides

    steps = snapshot_steps(apply_overrides(presets.load("tiny"), ["train.steps=60"]).train)
    step = steps[len(steps) // 2]
    name = {
        "snapshot": schema.snapshot_name(step),
        "manifest": schema.MANIFEST,
        "metrics": f"metrics/snapshots/{schema.snapshot_name(step)}",
    }[victim]
    writes = {"manifest": 0}
    real = schema._write

    def full_disk(f, data, path):
        if victim == "manifest" and path.name == schema.MANIFEST:
            writes["manifest"] += 1
            if writes["manifest"] == 6:  # the 6th manifest write: mid-run
                raise OSError(errno.ENOSPC, "No space left on device")
        elif victim != "manifest" and str(path).endswith(name):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(f, data, path)

    monkeypatch.setattr(schema, "_write", full_disk)
    assert main([*ARGS, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "--resume" in err
    assert name.split("/")[-1] in err
    run = tmp_path / "tiny" / "attn1"
    partial = schema.read_manifest(run)  # still readable: the previous version
    assert partial.status == "training" and all(s.step <= step for s in partial.snapshots)
    for s in partial.snapshots:
        assert schema.sha256_file(run / "snapshots" / s.file) == s.sha256
    assert not list(run.glob("**/.*.tmp"))

    monkeypatch.setattr(schema, "_write", real)  # room again
    assert main([*ARGS, "--out", str(tmp_path), "--resume"]) == 0
    done = schema.read_manifest(run)
    assert done.status == "complete"
    assert [(s.step, s.sha256) for s in done.snapshots] == [(s.step, s.sha256) for s in reference.snapshots]
