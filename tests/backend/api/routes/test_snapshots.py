"""POST …/snapshots/{step}/attention, /prefix-matching, /ablation, /logit-attribution."""

import base64
import threading

import numpy as np
import orjson
import pytest
import torch
from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.main import create_app
from backend.models import AttentionResponse
from backend.models.compute import PACKED_SCALE
from backend.services import probes
from tests.backend.helpers import manifest, url
from training import load_hooked
from training.core.analysis import loss
from training.core.artifacts import schema
from training.core.tokenizer import BOS_ID

TEXT = "def f(x):\n    return f(x) + f(x)\n"


@pytest.fixture(scope="module")
def attention(client, suite):
    r = client.post(url(suite, route="attention"), json={"text": TEXT})
    assert r.status_code == 200, r.text
    return r.json()


def test_attention_rows_sum_to_one_over_the_keys_up_to_the_query(attention):
    assert len(attention["patterns"]) == 4  # attn2: 2 layers x 2 heads
    for head in attention["patterns"]:
        rows = head["pattern"]
        assert [len(row) for row in rows] == list(range(1, len(attention["tokens"]) + 1))
        np.testing.assert_allclose([sum(row) for row in rows], 1.0, atol=1e-4)
        assert all(0 <= w <= 1 for row in rows for w in row)


def test_attention_patterns_equal_run_with_cache(attention, tiny_suite):
    model = load_hooked(tiny_suite / "attn2", "latest", with_tokenizer=False)
    _, cache = model.run_with_cache(torch.tensor([attention["token_ids"]]))
    for head in attention["patterns"]:
        expected = cache[f"blocks.{head['layer']}.attn.hook_pattern"][0, head["head"]]
        for q, row in enumerate(head["pattern"]):
            np.testing.assert_allclose(row, expected[q, : q + 1].numpy(), atol=1e-6)


def test_packed_attention_equals_the_json_patterns_in_a_third_of_the_bytes(client, suite, attention):
    r = client.post(url(suite, route="attention"), json={"text": TEXT, "encoding": "packed"})
    assert r.status_code == 200, r.text
    packed = AttentionResponse.model_validate_json(r.content)
    n = len(attention["tokens"])
    assert packed.token_ids == attention["token_ids"] and packed.loss == attention["loss"]
    for head, expected in zip(packed.patterns, attention["patterns"]):
        assert head.pattern is None and expected["packed"] is None
        values = np.frombuffer(base64.b64decode(head.packed), dtype="<u2") / PACKED_SCALE
        assert len(values) == n * (n + 1) // 2
        np.testing.assert_allclose(values, np.concatenate(expected["pattern"]), atol=0.5 / PACKED_SCALE + 1e-6)
    pattern_bytes = lambda body: sum(len(orjson.dumps(p)) for p in body["patterns"])  # noqa: E731
    assert pattern_bytes(r.json()) < 0.5 * pattern_bytes(attention)


def test_an_unknown_attention_encoding_is_a_422_naming_it(client, suite):
    r = client.post(url(suite, route="attention"), json={"text": TEXT, "encoding": "msgpack"})
    assert r.status_code == 422 and "encoding" in r.text


def test_attention_json_is_the_documented_response_model(client, suite):
    r = client.post(url(suite, route="attention"), json={"text": TEXT, "layers": [0]})
    body = AttentionResponse.model_validate_json(r.content)  # orjson-encoded, so check the schema
    assert r.headers["content-type"] == "application/json"
    assert [(p.layer, p.head, p.label) for p in body.patterns] == [(0, 0, "L0H0"), (0, 1, "L0H1")]
    assert body.mean_loss == pytest.approx(float(np.mean(body.loss)), rel=1e-5)


def test_attention_repeats_are_answered_from_the_response_cache(copy_client, suite, monkeypatch):
    computed = []
    compute = probes.attention_json
    monkeypatch.setattr(probes, "attention_json", lambda *args: computed.append(args[4].tolist()) or compute(*args))
    post = lambda body: copy_client.post(url(suite, route="attention"), json=body)  # noqa: E731
    first = post({"text": TEXT})
    assert post({"text": TEXT}).content == first.content
    assert post({"tokens": first.json()["token_ids"]}).content == first.content  # same tokens, same answer
    assert len(computed) == 1
    assert post({"text": TEXT + "x"}).status_code == 200  # other tokens
    assert post({"text": TEXT, "heads": [1]}).status_code == 200  # other heads
    assert len(computed) == 3 and len(copy_client.app.state.store.responses) == 3


def test_attention_runs_on_the_attention_pool_off_the_event_loop(copy_client, suite, monkeypatch):
    threads = []
    compute = probes.attention
    monkeypatch.setattr(
        probes, "attention", lambda *args: threads.append(threading.current_thread().name) or compute(*args)
    )
    assert copy_client.post(url(suite, route="attention"), json={"text": TEXT}).status_code == 200
    assert threads and threads[0].startswith("attention")


def test_attention_errors_raised_on_the_pool_keep_their_status(client, suite):
    r = client.post(url(suite, run="attn9", route="attention"), json={"text": TEXT})
    assert r.status_code == 404 and "'attn9'" in r.json()["detail"]


def test_attention_without_a_response_cache_gives_the_same_answer(client, suite, suite_copy):
    settings = Settings(artifacts_dir=suite_copy.parent, cache_size=1, response_cache_size=0, torch_threads=0)
    with TestClient(create_app(settings)) as uncached:
        answers = [uncached.post(url(suite, route="attention"), json={"text": TEXT}).content for _ in range(2)]
        assert len(uncached.app.state.store.responses) == 0
    assert answers[0] == answers[1] == client.post(url(suite, route="attention"), json={"text": TEXT}).content


def test_attention_prepends_bos_and_returns_tokens_as_text(attention):
    assert attention["token_ids"][0] == BOS_ID and attention["tokens"][0] == "<|bos|>"
    assert "".join(attention["tokens"][1:]) == TEXT


def test_attention_loss_equals_the_analysis_per_token_loss(attention, tiny_suite):
    model = load_hooked(tiny_suite / "attn2", "latest", with_tokenizer=False)
    expected = loss.per_token_loss(model, torch.tensor([attention["token_ids"]]))[0]
    np.testing.assert_allclose(attention["loss"], expected.numpy(), rtol=1e-4, atol=1e-5)
    assert len(attention["loss"]) == len(attention["tokens"]) - 1


def test_attention_top_predictions_are_the_five_likeliest(attention):
    assert len(attention["top_predictions"]) == len(attention["tokens"])
    for row in attention["top_predictions"]:
        probs = [p["prob"] for p in row]
        assert len(row) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-5


def test_attention_selects_layers_and_heads(client, suite):
    body = client.post(url(suite, route="attention"), json={"text": TEXT, "layers": [1], "heads": [1, 0]}).json()
    assert [p["label"] for p in body["patterns"]] == ["L1H1", "L1H0"]


def test_attention_token_input_equals_text_input(client, suite, attention, tiny_suite):
    step = manifest(tiny_suite, "attn2").snapshots[-1].step
    body = client.post(url(suite, step=step, route="attention"), json={"tokens": attention["token_ids"]}).json()
    assert body["step"] == attention["step"] == step
    assert body["patterns"] == attention["patterns"] and body["loss"] == attention["loss"]


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"text": TEXT, "layers": [2]}, "layer 2 is out of range"),
        ({"text": TEXT, "layers": [-1]}, "layer -1 is out of range"),
        ({"text": TEXT, "heads": [2]}, "head 2 is out of range"),
        ({"text": ""}, "text"),
        ({"text": "x = 1\n" * 400}, "tokens long after tokenisation (with BOS); the model's context is"),
        ({"text": TEXT, "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"text": TEXT, "tokens": [0, 1]}, "exactly one"),
        ({}, "exactly one"),
        ({"tokens": [0, 10**6]}, "token id 1000000 is out of range"),
        ({"tokens": [0]}, "tokens"),
        ({"text": TEXT, "layers": []}, "layers"),
    ],
)
def test_attention_rejects_bad_input_with_a_message(client, suite, payload, message):
    r = client.post(url(suite, route="attention"), json=payload)
    assert r.status_code == 422
    assert message in r.json()["detail"]


def test_attention_not_found_names_the_missing_part(client, suite):
    for path, name in [
        (url(suite, step=4242, route="attention"), "4242"),
        (url(suite, run="attn9", route="attention"), "'attn9'"),
        (url("nosuite", route="attention"), "'nosuite'"),
    ]:
        r = client.post(path, json={"text": TEXT})
        assert r.status_code == 404 and name in r.json()["detail"]


def test_prefix_matching_with_the_analysis_seed_equals_the_stored_value(client, suite, tiny_suite):
    stored = schema.read_metric(tiny_suite / "attn2", "prefix_matching")
    steps = schema.read_metrics_index(tiny_suite / "attn2").steps
    for i in (0, len(steps) // 2, len(steps) - 1):
        body = client.post(url(suite, step=steps[i], route="prefix-matching"), json={}).json()
        assert body["seed"] == body["analysis_seed"] == 0 and body["n_sequences"] == 10
        np.testing.assert_array_equal(body["scores"], stored[i])  # the same function on the same model
        np.testing.assert_allclose(body["stored"], stored[i], rtol=1e-6)


def test_prefix_matching_with_another_seed_draws_other_sequences(client, suite):
    default = client.post(url(suite, route="prefix-matching"), json={}).json()
    other = client.post(url(suite, route="prefix-matching"), json={"seed": 7, "n_sequences": 3}).json()
    assert other["seed"] == 7 and other["n_sequences"] == 3 and other["scores"] != default["scores"]
    for payload in ({"n_sequences": 0}, {"seed": -1}, {"n_sequences": 3, "extra": 1}):
        assert client.post(url(suite, route="prefix-matching"), json=payload).status_code == 422


@pytest.mark.parametrize("mode, stored_name", [("mean", "ablation_mean"), ("pattern_preserving", "ablation_pp")])
def test_ablation_of_one_head_on_heldout_equals_the_stored_effect(client, suite, tiny_suite, mode, stored_name):
    run_path = tiny_suite / "attn2"
    step = schema.read_metrics_index(run_path).steps[0]  # ablations were measured at snapshot 0
    delta_loss = schema.read_metric(run_path, f"{stored_name}_delta_loss")[0]
    delta_icl = schema.read_metric(run_path, f"{stored_name}_delta_icl")[0]
    body = client.post(url(suite, step=step, route="ablation"), json={"heads": [[1, 0]], "mode": mode}).json()
    m = manifest(tiny_suite, "attn2")
    assert (
        body["input"] == "heldout" and body["n_sequences"] == m.analysis["eval_sequences"] and body["heads"] == ["L1H0"]
    )
    assert body["delta_loss"] == pytest.approx(float(delta_loss[1, 0]), rel=1e-4, abs=1e-6)
    assert body["delta_icl"] == pytest.approx(float(delta_icl[1, 0]), rel=1e-4, abs=1e-6)
    assert len(body["loss_clean"]) == len(body["loss_ablated"]) == m.model["n_ctx"] - 1


def test_ablation_on_a_short_text_has_no_icl_score(client, suite):
    body = client.post(url(suite, route="ablation"), json={"heads": [[0, 0], [1, 1]], "text": TEXT}).json()
    assert body["input"] == "text" and body["tokens"][0] == "<|bos|>" and body["clean_icl"] is None
    assert body["delta_loss"] == pytest.approx(np.mean(body["loss_ablated"]) - np.mean(body["loss_clean"]), abs=1e-5)


@pytest.mark.parametrize(
    "payload",
    [
        {"heads": []},
        {"heads": [[2, 0]]},
        {"heads": [[0, 5]]},
        {"heads": [[0]]},
        {"heads": [[0, 0]], "mode": "zero"},
        {"heads": [[0, 0]], "text": ""},
        {"text": TEXT},
    ],
)
def test_ablation_rejects_bad_heads_and_fields(client, suite, payload):
    assert client.post(url(suite, route="ablation"), json=payload).status_code == 422


def test_logit_attribution_gives_each_head_per_position(client, suite, tiny_suite):
    body = client.post(url(suite, route="logit-attribution"), json={"text": TEXT}).json()
    n = len(body["tokens"])
    assert np.shape(body["contributions"]) == (n - 1, 2, 2) and len(body["logits"]) == n - 1
    model = load_hooked(tiny_suite / "attn2", "latest", with_tokenizer=False)
    tokens = torch.tensor([body["token_ids"]])
    all_logits = model(tokens)[0, :-1]
    logits = (all_logits - all_logits.mean(-1, keepdim=True)).gather(-1, tokens[0, 1:, None])[:, 0]
    np.testing.assert_allclose(body["logits"], logits.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_logit_attribution_rejects_empty_and_too_long_text(client, suite, tiny_suite):
    assert client.post(url(suite, route="logit-attribution"), json={"text": ""}).status_code == 422
    n_ctx = manifest(tiny_suite, "attn2").model["n_ctx"]
    r = client.post(url(suite, route="logit-attribution"), json={"text": "a b " * n_ctx})
    assert r.status_code == 422 and f"context is {n_ctx} tokens" in r.json()["detail"]
