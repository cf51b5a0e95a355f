"""Typed artifact records: every file loads into its record, and a misfit names file and field."""

import json

import pytest

from training.core.artifacts import schema
from training.core.artifacts.records import (
    Manifest,
    MetricsIndex,
    PhaseWindow,
    RecordError,
    SnapshotEntry,
    from_json,
    to_json,
)


def entry(step: int = 0) -> SnapshotEntry:
    return SnapshotEntry(step, step * 8, 4.2, 4.1, 1.5, schema.snapshot_name(step), "ab" * 32)


def manifest(**changes) -> Manifest:
    fields = dict(suite="s", run="r", status="training", model={"n_layers": 1}, train={}, analysis={})
    return Manifest(**{**fields, "tokens_per_step": 8, "snapshots": [entry(0), entry(5)], **changes})


def test_a_manifest_round_trips_through_json(tmp_path):
    schema.write_manifest(tmp_path, manifest())
    assert schema.read_manifest(tmp_path) == manifest()
    assert json.loads((tmp_path / "manifest.json").read_text())["snapshots"][1]["step"] == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("run"), "missing field 'run'"),
        (lambda m: m.update(status="done"), "field 'status' should be one of 'training', 'complete'"),
        (lambda m: m["snapshots"][1].update(step="5"), "field 'snapshots[1].step' should be an integer"),
        (lambda m: m["snapshots"][0].update(sha256=None), "field 'snapshots[0].sha256' should be str"),
        (lambda m: m["snapshots"][1].update(file="../x.safetensors"), "'snapshots[1].file' should be"),
    ],
)
def test_a_misfit_manifest_names_the_file_and_the_field(tmp_path, change, message):
    raw = to_json(manifest())
    change(raw)
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(schema.ArtifactError, match="manifest.json") as err:
        schema.read_manifest(tmp_path)
    assert message in str(err.value)


def test_numbers_load_as_floats_but_booleans_are_not_numbers():
    window = from_json(PhaseWindow, {"found": True, "reason": "x", "icl_fraction": 1}, "phase.json")
    assert window.icl_fraction == 1.0 and isinstance(window.icl_fraction, float)
    with pytest.raises(RecordError, match="phase.json: field 'found' should be bool"):
        from_json(PhaseWindow, {"found": 1, "reason": "x"}, "phase.json")
    with pytest.raises(RecordError, match="field 'steps\\[0\\]' should be an integer"):
        from_json(MetricsIndex, {**to_json(index()), "steps": [True]}, "index.json")


def index() -> MetricsIndex:
    return MetricsIndex(run="r", steps=[0], tokens_seen=[0], stages=["live"], settings={}, arrays={}, scalars={})


def test_unknown_keys_are_ignored_so_newer_files_load():
    assert from_json(PhaseWindow, {"found": False, "reason": "x", "new_field": 3}, "f") == PhaseWindow(False, "x")


def test_the_tiny_suite_files_all_load_into_their_records(tiny_suite):
    for run in schema.list_runs(tiny_suite):
        assert isinstance(schema.read_manifest(tiny_suite / run), Manifest)
        assert schema.read_metrics_index(tiny_suite / run).complete
    assert set(schema.read_phases(tiny_suite)) == set(schema.list_runs(tiny_suite))
    assert [c.id for c in schema.read_report(tiny_suite).claims] == list("abcdefg")


def test_a_manifest_from_before_device_precision_and_processes_loads_with_their_defaults(tmp_path):
    raw = to_json(manifest(device="cuda:0", precision="bf16", processes=2))
    assert (raw["device"], raw["precision"], raw["processes"]) == ("cuda:0", "bf16", 2)
    for key in ("device", "precision", "processes"):
        raw.pop(key)  # as written by the code before these fields existed
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    old = schema.read_manifest(tmp_path)
    assert (old.device, old.precision, old.processes) == ("cpu", "fp32", 1)
    raw["processes"] = "2"
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(schema.ArtifactError, match="field 'processes' should be an integer"):
        schema.read_manifest(tmp_path)
