"""An imported run (GPT-NeoX revisions, a tokenizer without BOS) through the service: its
metrics, and text and prefix-matching probes in the model's own tokens, with no BOS added."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.main import create_app
from tests.training import hf_runs
from tests.training.pipeline.importers.test_import import _revisions
from tests.training.pipeline.importers.test_trainer_end_to_end import LIGHT
from training.pipeline.cli import main


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imported")
    _revisions(tmp / "pythia", steps=(0, 5))
    probe = hf_runs.probe_text(tmp / "probe.txt", n=60)
    out = tmp / "art"
    args = ["import", str(tmp / "pythia"), "--suite", "py", "--run", "neox", "--out", str(out), "--text", str(probe)]
    assert main([*args, *(x for o in LIGHT for x in ("--set", o))]) == 0
    with TestClient(create_app(Settings(artifacts_dir=out, torch_threads=0))) as client:
        yield client


def test_the_imported_run_is_analysed_and_says_where_it_came_from(imported):
    body = imported.get("/suites/py/runs/neox/metrics").json()
    assert body["analysed"] and body["steps"] == [0, 5] and body["source"] == "revisions"
    assert body["ablations"] is False  # LIGHT turns them off
    assert len(body["head_metrics"]["prefix_matching"][0]) == 2  # [layer][head]: 2 layers
    assert "copying" in body["head_metrics"]  # the circuits tier, on the converted HookedTransformer


def test_text_is_encoded_by_the_model_tokenizer_without_a_bos_it_never_had(imported):
    r = imported.post("/suites/py/runs/neox/snapshots/5/attention", json={"text": "t1 t2 t3 t1 t2 t3"})
    assert r.status_code == 200, r.text
    assert r.json()["tokens"] == ["t1", "t2", "t3", "t1", "t2", "t3"]


def test_fresh_prefix_matching_sequences_open_with_the_models_start_token(imported):
    r = imported.post("/suites/py/runs/neox/snapshots/5/prefix-matching", json={"seed": 3})
    assert r.status_code == 200, r.text
