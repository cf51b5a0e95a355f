"""GET …/runs/{run}/llc: the LLC over training, as the analysis stored it."""

import pytest

from backend.errors import NotFoundError
from backend.services.llc import run_llc
from backend.services.store import ArtifactStore
from training.core.artifacts import schema


def test_read_llc_serves_the_stored_curve(client, suite, tiny_suite):
    body = client.get(f"/suites/{suite}/runs/attn2/llc").json()
    stored = schema.read_llc(tiny_suite / "attn2")
    assert body["steps"] == [p.step for p in stored.points] and len(body["steps"]) >= 2
    assert body["tokens_seen"] == [p.tokens_seen for p in stored.points]
    assert body["mean"] == [p.mean for p in stored.points] and body["std"] == [p.std for p in stored.points]
    assert body["per_chain"] == [p.per_chain for p in stored.points]
    assert body["settings"]["hash"] == stored.settings["hash"] and body["burnin"] == stored.settings["burnin"]
    assert body["loss_traces"] is None  # only when asked for


def test_read_llc_with_traces_gives_every_chain_every_step(client, suite, tiny_suite):
    body = client.get(f"/suites/{suite}/runs/attn1/llc", params={"traces": "true"}).json()
    settings = body["settings"]
    assert [[len(chain) for chain in point] for point in body["loss_traces"]] == [
        [settings["burnin"] + settings["draws"]] * settings["chains"]
    ] * len(body["steps"])
    assert body["loss_traces"][-1] == schema.read_llc(tiny_suite / "attn1").points[-1].loss_trace


def test_read_llc_of_a_run_without_one_is_a_404_that_says_how_to_compute_it(client, suite):
    response = client.get(f"/suites/{suite}/runs/attn3/llc")
    assert response.status_code == 404
    assert "no LLC estimates" in response.json()["detail"] and "--set llc.runs=attn3" in response.json()["detail"]
    assert client.get(f"/suites/{suite}/runs/attn9/llc").status_code == 404
    assert client.get(f"/suites/{suite}/runs/Bad..name/llc").status_code == 422


def test_read_llc_of_a_corrupt_file_is_a_503_naming_it(copy_client, suite_copy):
    schema.llc_path(suite_copy / "attn2").write_text('{"run": "attn2"}')
    response = copy_client.get(f"/suites/{suite_copy.name}/runs/attn2/llc")
    assert response.status_code == 503
    assert "attn2/metrics/llc.json" in response.json()["detail"] and str(suite_copy) not in response.json()["detail"]


def test_the_llc_service_reads_through_the_store_without_http(tiny_suite):
    store = ArtifactStore(tiny_suite.parent, cache_size=1)
    answer = run_llc(store, tiny_suite.name, "attn2", traces=True)
    assert answer.steps == [p.step for p in schema.read_llc(tiny_suite / "attn2").points]
    with pytest.raises(NotFoundError, match="smeared1 has no LLC"):
        run_llc(store, tiny_suite.name, "smeared1")
