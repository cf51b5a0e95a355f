"""Artifacts that change or break while the service runs (on a private copy of the suite)."""

import dataclasses
import shutil

from tests.backend.helpers import url
from training.core.artifacts import schema

TEXT = "import os\nimport sys\n"


def test_snapshot_appears_without_restart(copy_client, suite_copy):
    suite, run_path = suite_copy.name, suite_copy / "attn2"
    full = schema.read_manifest(run_path)
    last, previous = full.snapshots[-1].step, full.snapshots[-2].step
    schema.write_manifest(run_path, dataclasses.replace(full, snapshots=full.snapshots[:-1], status="training"))

    assert (
        copy_client.post(url(suite, step="latest", route="attention"), json={"text": TEXT}).json()["step"] == previous
    )
    r = copy_client.post(url(suite, step=last, route="attention"), json={"text": TEXT})
    assert r.status_code == 404 and str(last) in r.json()["detail"]
    runs = {r["name"]: r for r in copy_client.get(f"/suites/{suite}").json()["runs"]}
    assert runs["attn2"]["snapshots"][-1]["step"] == previous and runs["attn2"]["status"] == "training"

    schema.write_manifest(run_path, full)  # the trainer writes the next snapshot
    assert copy_client.post(url(suite, step="latest", route="attention"), json={"text": TEXT}).json()["step"] == last
    assert copy_client.post(url(suite, step=last, route="attention"), json={"text": TEXT}).status_code == 200
    assert copy_client.get(f"/suites/{suite}/runs/attn2/metrics").json()["snapshots"]["steps"][-1] == last


def test_new_suite_and_run_appear_without_restart(copy_client, suite_copy):
    assert copy_client.get("/health").json()["suites"] == 1
    shutil.copytree(suite_copy / "attn1", suite_copy / "attn1b")
    shutil.copytree(
        suite_copy, suite_copy.parent / "second", ignore=shutil.ignore_patterns("attn[23]", "mlp2", "smeared1")
    )
    assert "attn1b" in [r["name"] for r in copy_client.get(f"/suites/{suite_copy.name}").json()["runs"]]
    assert [s["name"] for s in copy_client.get("/suites").json()["suites"]] == ["second", suite_copy.name]
    assert copy_client.post(url("second", run="attn1b", route="attention"), json={"text": TEXT}).status_code == 200


def test_corrupt_snapshot_is_a_503_naming_the_file_and_only_that_snapshot_fails(copy_client, suite_copy):
    suite, run_path = suite_copy.name, suite_copy / "attn2"
    snaps = schema.read_manifest(run_path).snapshots
    broken, fine = snaps[5], snaps[6]
    path = run_path / "snapshots" / broken.file
    path.write_bytes(path.read_bytes()[:100] + b"garbage")

    r = copy_client.post(url(suite, step=broken.step, route="attention"), json={"text": TEXT})
    assert r.status_code == 503
    assert f"{suite}/attn2/snapshots/{broken.file}" in r.json()["detail"]
    assert str(suite_copy.parent) not in r.json()["detail"]  # no server paths
    assert copy_client.post(url(suite, step=fine.step, route="attention"), json={"text": TEXT}).status_code == 200
    assert copy_client.get(url(suite, step=broken.step, route="heads")).status_code == 200  # stored metrics still serve
    assert copy_client.get(f"/suites/{suite}/runs/attn2/metrics").status_code == 200


def test_missing_snapshot_file_is_a_503_naming_it(copy_client, suite_copy):
    run_path = suite_copy / "attn1"
    entry = schema.read_manifest(run_path).snapshots[3]
    (run_path / "snapshots" / entry.file).unlink()
    r = copy_client.post(url(suite_copy.name, run="attn1", step=entry.step, route="prefix-matching"), json={})
    assert r.status_code == 503 and entry.file in r.json()["detail"]
    assert copy_client.post(url(suite_copy.name, run="attn1", route="prefix-matching"), json={}).status_code == 200


def test_corrupt_manifest_breaks_only_its_run(copy_client, suite_copy):
    (suite_copy / "attn3" / "manifest.json").write_text("{ not json")
    r = copy_client.get(f"/suites/{suite_copy.name}/runs/attn3/metrics")
    assert r.status_code == 503 and "attn3/manifest.json" in r.json()["detail"]
    assert copy_client.get(f"/suites/{suite_copy.name}/runs/attn2/metrics").status_code == 200
    runs = {r["name"]: r for r in copy_client.get(f"/suites/{suite_copy.name}").json()["runs"]}
    assert runs["attn3"]["status"] == "unreadable" and "attn3/manifest.json" in runs["attn3"]["error"]
    assert runs["attn2"]["status"] == "complete"


def test_corrupt_metrics_array_is_a_503_naming_it(copy_client, suite_copy):
    (schema.metrics_dir(suite_copy / "attn2") / "copying.npy").write_bytes(b"nope")
    r = copy_client.get(f"/suites/{suite_copy.name}/runs/attn2/metrics")
    assert r.status_code == 503 and "copying.npy" in r.json()["detail"]
