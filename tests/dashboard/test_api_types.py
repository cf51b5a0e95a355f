"""The REST contract, kept in one place: the dashboard's types are generated from the service's
OpenAPI schema, and the fake service the page tests use answers through the service's response
models, strictly. A changed response model fails here until `make api-types` is run; a fake
answer whose field drifts (a str for an int, a flat list for a grid) fails naming the field."""

from __future__ import annotations

import copy
import importlib.util
import inspect
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from backend import models
from dashboard import client
from tests.conftest import REPO
from tests.dashboard.conftest import CLIENT_FUNCTIONS
from tests.dashboard.fakes import REPLICATE, SUITE, FakeService
from tests.dashboard.fakes.data import answer

_spec = importlib.util.spec_from_file_location("api_types_script", REPO / "scripts" / "api_types.py")
generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generator)


@pytest.fixture(scope="module")
def openapi() -> dict:
    return generator.openapi()


def test_committed_types_are_a_fresh_generation_from_the_services_schema(openapi):
    fresh = generator.generate(openapi)
    assert generator.TARGET.read_text() == fresh, "dashboard/api_types.py is out of date: run `make api-types`"


def test_a_changed_response_model_changes_the_generated_types(openapi):
    changed = copy.deepcopy(openapi)
    fields = changed["components"]["schemas"]["SnapshotInfo"]["properties"]
    fields["step"] = {"type": "string", "title": "Step"}  # as if backend/models said `step: str`
    fields["tokens_seen"] = {"type": "array", "items": {"type": "integer"}}  # and a list where an int was
    before, after = generator.generate(openapi), generator.generate(changed)
    assert "    step: int\n    tokens_seen: int\n" in before
    assert "    step: str\n    tokens_seen: list[int]\n" in after


def test_types_cover_exactly_the_schemas_routes_answer_with(openapi):
    code = generator.generate(openapi)
    named = {line.split("(")[0].removeprefix("class ") for line in code.splitlines() if line.startswith("class ")}
    aliases = {line.split(":")[0] for line in code.splitlines() if ": TypeAlias = " in line}
    assert named | aliases == generator.response_schemas(openapi)
    assert "HeadTable" in named and "AblationRequest" not in named  # request bodies are built by the client


def fake_answers() -> list[tuple[str, Callable]]:
    """Every route of the fake, in every state the page tests put it in."""
    calls = []
    for state in ("analysed", "training", "live only", "replicate", "old before-after", "unprofiled"):

        def fake(state=state) -> FakeService:
            f = FakeService()
            f.training = "attn2" if state == "training" else None
            f.analysed = state != "live only"
            f.old_before_after = state == "old before-after"
            f.profiled = state != "unprofiled"
            if state == "replicate":
                f.add_replicate()
            return f

        runs = ["attn2", "attn1", REPLICATE] if state == "replicate" else ["attn2", "attn1"]
        calls += [
            (f"{state}: health", lambda fake=fake: fake().health()),
            (f"{state}: registry", lambda fake=fake: fake().registry()),
            (f"{state}: suites", lambda fake=fake: fake().suites()),
            (f"{state}: suite", lambda fake=fake: fake().suite(SUITE)),
            (f"{state}: status", lambda fake=fake: fake().status(SUITE)),
            (f"{state}: pca", lambda fake=fake: fake().pca(SUITE)),
            (f"{state}: report", lambda fake=fake: fake().report(SUITE)),
            (f"{state}: llc", lambda fake=fake: fake().llc(SUITE, "attn2")),
            (f"{state}: before_after", lambda fake=fake: fake().before_after(SUITE)),
            (f"{state}: losses", lambda fake=fake: fake().losses(SUITE, "attn2", 80, "a b a b", baseline_step=20)),
            (f"{state}: attention", lambda fake=fake: fake().attention(SUITE, "attn2", 40, "a b", layers=[1])),
            (f"{state}: ablation", lambda fake=fake: fake().ablation(SUITE, "attn2", 80, [(1, 1)], text="a b a b")),
            (f"{state}: prefix_matching", lambda fake=fake: fake().prefix_matching(SUITE, "attn2", 40)),
            (f"{state}: logit_attribution", lambda fake=fake: fake().logit_attribution(SUITE, "attn2", 40, "a b")),
        ]
        for run in runs:
            calls += [
                (f"{state}: run_metrics {run}", lambda fake=fake, run=run: fake().run_metrics(SUITE, run)),
                (f"{state}: heads {run}", lambda fake=fake, run=run: fake().heads(SUITE, run, 160)),
            ]
    return calls


@pytest.mark.parametrize("name, call", fake_answers(), ids=[name for name, _ in fake_answers()])
def test_fake_service_answers_fit_the_services_models_strictly(name, call):
    try:
        call()  # every answer goes through `answer`: a field that does not fit raises ValidationError
    except client.ServiceError as e:  # the service's 404 where a state has nothing to serve (no PCA yet)
        assert e.status == 404, e.message


@pytest.mark.parametrize(
    "change, where",
    [
        (lambda t: t | {"step": "160"}, "step"),  # a str where the schema says integer
        (lambda t: t | {"tokens_seen": 16000.5}, "tokens_seen"),  # a float is no integer either
        (lambda t: t | {"scores": {"prefix_matching": [0.1, 0.2]}}, "scores.prefix_matching.0"),  # flat, not a grid
        (lambda t: t | {"heads": []}, "heads"),  # a field the model lacks
        (lambda t: {k: v for k, v in t.items() if k != "stage"}, "stage"),  # a required field left out
    ],
)
def test_the_strict_gate_rejects_a_drifting_field_and_names_it(change, where):
    table = FakeService().heads(SUITE, "attn2", 160)
    answer(models.HeadTable, table)  # as answered: fits
    with pytest.raises(ValidationError) as e:
        answer(models.HeadTable, change(table))
    assert where in {".".join(map(str, err["loc"])) for err in e.value.errors()}


@pytest.mark.parametrize("name", CLIENT_FUNCTIONS)
def test_fake_service_has_every_client_function_with_its_arguments(name):
    ours, theirs = inspect.signature(getattr(FakeService(), name)), inspect.signature(getattr(client, name))
    assert list(ours.parameters) == list(theirs.parameters)
