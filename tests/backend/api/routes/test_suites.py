"""GET /suites, /suites/{suite}, /suites/{suite}/pca, /suites/{suite}/report."""

import dataclasses
import shutil

import pytest

from tests.backend.helpers import manifest
from training.core.artifacts import schema


def test_list_suites_shows_the_tiny_suite_and_its_runs(client, suite, tiny_suite):
    body = client.get("/suites").json()
    assert body["suites"] == [{"name": suite, "runs": schema.list_runs(tiny_suite), "analysed": True}]


def test_read_suite_lists_every_snapshot_of_every_run(client, suite, tiny_suite):
    body = client.get(f"/suites/{suite}").json()
    assert [r["name"] for r in body["runs"]] == schema.list_runs(tiny_suite)
    for run in body["runs"]:
        m = manifest(tiny_suite, run["name"])
        assert [s["step"] for s in run["snapshots"]] == [s.step for s in m.snapshots]
        assert [s["heldout_loss"] for s in run["snapshots"]] == [s.heldout_loss for s in m.snapshots]
        assert run["model"] == m.model and run["status"] == "complete"
        assert run["analysed_steps"] == [s.step for s in m.snapshots] == run["live_steps"]
    assert "train_documents" not in body["data"]
    assert body["data"]["vocab_size"] == manifest(tiny_suite, "attn1").model["d_vocab"]


def test_read_suite_not_found_names_the_suite(client):
    r = client.get("/suites/nosuch")
    assert r.status_code == 404
    assert "'nosuch'" in r.json()["detail"]


@pytest.mark.parametrize("name", ["Tiny", "%2e%2e", ".hidden", "a%20b", "x" * 65])
def test_read_suite_rejects_names_outside_the_schema(client, name):
    r = client.get(f"/suites/{name}")
    assert r.status_code == 422
    assert "suite" in r.json()["detail"]


@pytest.mark.parametrize(
    "method, path, status, detail",
    [
        # Dot segments written as %2E: the HTTP client sends them as they are (a literal `..` it
        # would resolve away before sending), the server decodes them, and the route's name
        # pattern refuses them by field.
        ("GET", "/suites/%2E%2E", 422, "path.suite"),
        ("GET", "/suites/%2E%2E/report", 422, "path.suite"),
        ("GET", "/suites/%2e%2e/runs/attn2/metrics", 422, "path.suite"),
        ("GET", "/suites/tiny/runs/%2E%2E/metrics", 422, "path.run"),
        ("POST", "/suites/tiny/runs/%2E%2E/snapshots/latest/prefix-matching", 422, "path.run"),
        ("POST", "/suites/tiny/runs/attn2/snapshots/%2E%2E/prefix-matching", 422, "path.step"),
        # An encoded slash decodes into more path segments, which match no route at all.
        ("GET", "/suites/..%2F..%2Fetc/runs/passwd/metrics", 404, "Not Found"),
        ("GET", "/suites/tiny/runs/..%2Fattn2/metrics", 404, "Not Found"),
    ],
)
def test_traversal_paths_never_leave_the_artifacts_dir(client, suite, method, path, status, detail):
    path = path.replace("/tiny/", f"/{suite}/")
    r = client.request(method, path)
    assert r.request.url.raw_path.decode() == path  # sent as written: it reaches the service
    assert r.status_code == status and detail in r.json()["detail"], r.text


def test_read_pca_cuts_the_trajectory_to_the_components_asked(client, suite, tiny_suite):
    body = client.get(f"/suites/{suite}/pca", params={"components": 2}).json()
    stored = schema.read_analysis(tiny_suite, "pca")
    assert body["components"] == 2 and body["explained_variance"] == stored["explained_variance"][:2]
    for run, r in body["runs"].items():
        assert r["steps"] == stored["runs"][run]["steps"]
        assert r["coords"] == [c[:2] for c in stored["runs"][run]["coords"]]
        assert r["phase"]["reason"]


def test_read_pca_rejects_more_components_than_stored(client, suite, tiny_suite):
    stored = schema.read_analysis(tiny_suite, "pca")["components"]
    r = client.get(f"/suites/{suite}/pca", params={"components": stored + 1})
    assert r.status_code == 422 and f"at most {stored}" in r.json()["detail"]
    assert client.get(f"/suites/{suite}/pca", params={"components": 0}).status_code == 422


def test_read_report_returns_every_claim_and_the_markdown(client, suite, tiny_suite):
    body = client.get(f"/suites/{suite}/report").json()
    stored = schema.read_report(tiny_suite)
    assert [c["id"] for c in body["claims"]] == [c.id for c in stored.claims] == list("abcdefg")
    assert body["passed"] + body["failed"] + body["waiting"] <= 7 and body["waiting"] == 0
    assert body["markdown"].startswith("# Claims report")


def test_read_report_not_found_before_the_suite_is_analysed(copy_client, suite_copy):
    (schema.analysis_dir(suite_copy) / "report.json").unlink()
    r = copy_client.get(f"/suites/{suite_copy.name}/report")
    assert r.status_code == 404 and "report" in r.json()["detail"]


def test_status_lists_no_training_run_once_the_suite_is_trained(client, suite, tiny_suite):
    body = client.get(f"/suites/{suite}/status").json()
    assert body["training"] == [] and body["runs"] == {run: "complete" for run in schema.list_runs(tiny_suite)}


def test_a_seed_replicate_is_listed_with_the_run_it_repeats_and_the_report_serves_the_spread(copy_client, suite_copy):
    from training.core.artifacts.records import Replicate
    from training.pipeline.report import build_report, save_report

    base = manifest(suite_copy, "attn2")
    schema.write_manifest(suite_copy / "attn2", dataclasses.replace(base, seeds=2))
    shutil.copytree(suite_copy / "attn2", suite_copy / "attn2-seed1")  # a replicate that learned the same
    replicate = dataclasses.replace(
        base, run="attn2-seed1", replicate=Replicate("attn2", 1, 1), train={**base.train, "seed": 1}
    )
    schema.write_manifest(suite_copy / "attn2-seed1", replicate)
    save_report(suite_copy, build_report(suite_copy))
    runs = {r["name"]: r for r in copy_client.get(f"/suites/{suite_copy.name}").json()["runs"]}
    assert runs["attn2-seed1"]["replicate"] == {"of": "attn2", "index": 1, "seed": 1}
    assert runs["attn2"]["replicate"] is None and runs["attn2-seed1"]["train"]["seed"] == 1
    seeds = copy_client.get(f"/suites/{suite_copy.name}/report").json()["seeds"]
    assert list(seeds) == ["attn2"] and [s["run"] for s in seeds["attn2"]["seeds"]] == ["attn2", "attn2-seed1"]
    peak = seeds["attn2"]["seeds"][0]["peak_prefix_matching"]
    assert seeds["attn2"]["spread"]["peak_prefix_matching"] == {
        "n": 2,
        "mean": peak,
        "min": peak,
        "max": peak,
        "std": None,
    }


@pytest.mark.parametrize("stop", ["steps", "plateau"])
def test_status_says_whether_a_training_runs_steps_are_its_end_or_its_cap(copy_client, suite_copy, stop):
    """Under the plateau rule `steps` is a cap: the run may stop sooner (the page says "at most")."""
    import time

    from training.core.artifacts.records import RunProgress

    base = manifest(suite_copy, "attn2")
    schema.write_manifest(
        suite_copy / "attn2", dataclasses.replace(base, status="training", train={**base.train, "stop": stop})
    )
    schema.write_progress(suite_copy / "attn2", RunProgress("attn2", 50, 400, 1000.0, 5.0, 35.0, time.time()))
    [training] = copy_client.get(f"/suites/{suite_copy.name}/status").json()["training"]
    assert (training["run"], training["steps"], training["stop"]) == ("attn2", 400, stop)
