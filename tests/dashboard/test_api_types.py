"""The dashboard's response types against the service's OpenAPI schema: every `TypedDict` in
`dashboard.api_types` has exactly the fields of the response schema of the same name (names,
required or optional, and the nested schemas each field refers to); every schema a route answers
with has one; and the fake service the page tests use answers with what the service's own
response models accept. A field that drifts on either side fails here."""

# No `from __future__ import annotations`: the TypedDicts below read NotRequired from evaluated annotations.

import typing
from pathlib import Path

import pytest

from backend import models
from backend.core.config import Settings
from backend.main import create_app
from dashboard import api_types
from tests.dashboard.fakes import REPLICATE, SUITE, FakeService

TYPES = {
    name: obj
    for name, obj in vars(api_types).items()
    if typing.is_typeddict(obj) and obj.__module__ == api_types.__name__
}
REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> dict:
    empty: Path = tmp_path_factory.mktemp("artifacts")  # the schema needs no artifacts
    return create_app(Settings(artifacts_dir=empty, torch_threads=0)).openapi()


def refs(node) -> set[str]:
    """The component schemas a JSON-schema node refers to, at any depth."""
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix(REF)} if "$ref" in node else set()
        return found.union(*(refs(v) for k, v in node.items() if k != "$ref"))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def response_schemas(openapi: dict) -> set[str]:
    """Every component schema a route answers with, nested ones included (request bodies left out)."""
    todo = set()
    for operations in openapi["paths"].values():
        for operation in operations.values():
            todo |= refs(operation.get("responses", {}))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo |= refs(openapi["components"]["schemas"][name]) - seen
    return seen


def typed_dicts(hint) -> set[str]:
    """The api_types TypedDicts a type annotation mentions, at any depth."""
    if typing.is_typeddict(hint):
        return {hint.__name__}
    return set().union(set(), *(typed_dicts(a) for a in typing.get_args(hint)))


def test_every_response_schema_has_a_type_and_every_type_a_schema(openapi):
    schemas = response_schemas(openapi)
    assert sorted(schemas - set(TYPES)) == [], "response schemas the dashboard has no TypedDict for"
    assert sorted(set(TYPES) - schemas) == [], "TypedDicts that match no response schema"


def mismatches(td: type, schema: dict) -> list[str]:
    """How a TypedDict differs from a response schema: fields, required or not, nested schemas."""
    required = set(schema.get("required", []))
    optional = set(schema["properties"]) - required
    found = []
    for kind, ours, theirs in (
        ("required", td.__required_keys__, required),
        ("optional", td.__optional_keys__, optional),
    ):
        if set(ours) != theirs:
            found.append(
                f"{kind} fields: only the dashboard's {sorted(set(ours) - theirs)}, only the service's {sorted(theirs - set(ours))}"
            )
    hints = typing.get_type_hints(td)
    for field, prop in schema["properties"].items():
        if field in hints and typed_dicts(hints[field]) != refs(prop):
            found.append(
                f"{field}: the dashboard's {sorted(typed_dicts(hints[field]))}, the service's {sorted(refs(prop))}"
            )
    return found


@pytest.mark.parametrize("name", sorted(TYPES))
def test_type_has_exactly_the_fields_of_its_schema(openapi, name):
    assert mismatches(TYPES[name], openapi["components"]["schemas"][name]) == []


def test_a_field_that_drifts_is_caught(openapi):
    schemas = openapi["components"]["schemas"]

    class RunInfo(typing.TypedDict):  # before `live_steps`
        name: str
        description: str
        status: str
        model: dict
        train: dict
        analysis: dict
        tokens_per_step: int | None
        snapshots: list[api_types.SnapshotInfo]
        analysed_steps: list[int]
        error: typing.NotRequired[str | None]
        replicate: typing.NotRequired[api_types.Replicate | None]

    class BestHeads(typing.TypedDict):
        values: api_types.Floats
        heads: list[str | None]

    class RunMetricsResponse(api_types.RunMetricsResponse):  # best_heads as plain lists
        best_heads: dict[str, list]  # type: ignore[misc]

    assert mismatches(RunInfo, schemas["RunInfo"]) == [
        "required fields: only the dashboard's [], only the service's ['live_steps']"
    ]
    assert mismatches(BestHeads, schemas["BestHeads"]) == []
    assert mismatches(RunMetricsResponse, schemas["RunMetricsResponse"]) == [
        "best_heads: the dashboard's [], the service's ['BestHeads']"
    ]


def fake_answers() -> list[tuple[type, object]]:
    fake = FakeService()
    training = FakeService()
    training.training = "attn2"
    answers = []
    for f in (fake, training):
        answers += [
            (models.MetricRegistry, f.registry()),
            (models.SuiteDetail, f.suite(SUITE)),
            (models.SuiteStatus, f.status(SUITE)),
            (models.RunMetricsResponse, f.run_metrics(SUITE, "attn2")),
            (models.RunMetricsResponse, f.run_metrics(SUITE, "attn1")),
            (models.HeadTable, f.heads(SUITE, "attn2", 40)),
            (models.LLCResponse, f.llc(SUITE, "attn2")),
            (models.PcaResponse, f.pca(SUITE)),
            (models.ReportResponse, f.report(SUITE)),
            (models.AttentionResponse, f.attention(SUITE, "attn2", 40, "a b a b", layers=[1], heads=[1])),
            (models.LossesResponse, f.losses(SUITE, "attn2", 40, "a b a b")),
            (models.AblationResponse, f.ablation(SUITE, "attn2", 80, [(1, 1)], text="a b a b")),
            (models.PrefixMatchingResponse, f.prefix_matching(SUITE, "attn2", 40)),
            (models.LogitAttributionResponse, f.logit_attribution(SUITE, "attn2", 40, "a b a b")),
        ]
    seeds = FakeService()
    seeds.add_replicate()
    answers += [
        (models.SuiteDetail, seeds.suite(SUITE)),
        (models.RunMetricsResponse, seeds.run_metrics(SUITE, REPLICATE)),
        (models.ReportResponse, seeds.report(SUITE)),
    ]
    answers.append((models.BeforeAfterResponse, fake.before_after(SUITE)))
    answers.append((models.SuiteList, {"suites": fake.suites()}))
    return answers


@pytest.mark.parametrize("model, answer", fake_answers(), ids=lambda x: getattr(x, "__name__", ""))
def test_fake_service_answers_fit_the_services_models(model, answer):
    model.model_validate(answer, strict=False)
    assert set(answer) == set(model.model_fields)  # no field the service lacks, none left out
