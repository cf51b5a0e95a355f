"""POST …/snapshots/{step}/losses and GET /suites/{suite}/before-after."""

import json

import numpy as np
import pytest

from backend.services import tokens
from tests.backend.helpers import url
from training.core.artifacts import schema
from training.core.tokenizer import BOS_ID

TEXT = "def f(x):\n    return f(x) + f(x)\n"


@pytest.fixture(scope="module")
def losses(client, suite):
    r = client.post(url(suite, route="losses"), json={"text": TEXT})
    assert r.status_code == 200, r.text
    return r.json()


def test_losses_equal_the_attention_routes_per_token_loss(client, suite, losses):
    attention = client.post(url(suite, route="attention"), json={"text": TEXT, "layers": [0], "heads": [0]}).json()
    assert losses["token_ids"] == attention["token_ids"] and losses["tokens"] == attention["tokens"]
    np.testing.assert_allclose(losses["loss"], attention["loss"], rtol=1e-4, atol=1e-5)
    assert losses["mean_loss"] == pytest.approx(float(np.mean(losses["loss"])), rel=1e-5)


def test_losses_prepend_bos_and_index_the_loss_by_context(losses):
    assert losses["token_ids"][0] == BOS_ID and "".join(losses["tokens"][1:]) == TEXT
    assert len(losses["loss"]) == len(losses["repeat_of"]) == len(losses["tokens"]) - 1
    assert len(losses["earlier"]) == len(losses["tokens"])


def test_losses_mark_where_each_token_occurred_earlier(losses):
    ids = losses["token_ids"]
    for position, earlier in enumerate(losses["earlier"]):
        if earlier is None:
            assert ids[position] not in ids[:position]
        else:
            assert (
                earlier < position
                and ids[earlier] == ids[position]
                and ids[position] not in ids[earlier + 1 : position]
            )


def test_losses_mark_tokens_that_repeat_earlier_context(losses):
    ids = losses["token_ids"]
    for i, source in enumerate(losses["repeat_of"]):  # token i + 1, after token i
        pairs_before = set(zip(ids[:i], ids[1 : i + 1]))
        assert (source is not None) == ((ids[i], ids[i + 1]) in pairs_before)
        if source is not None:
            assert source <= i and (ids[source - 1], ids[source]) == (ids[i], ids[i + 1])
    assert any(s is not None for s in losses["repeat_of"])  # "f(x)" comes three times


def test_repeats_on_a_hand_built_sequence():
    #            0  1  2  3  4  5  6
    ids = [9, 1, 2, 3, 1, 2, 1]
    assert tokens.earlier_occurrences(ids) == [None, None, None, None, 1, 2, 4]
    # index 3 predicts 1 after 3: new; index 4 predicts 2 after 1: (1, 2) at 1-2, so position 2
    assert tokens.repeated_context(ids) == [None, None, None, None, 2, None]


def test_losses_token_input_equals_text_input(client, suite, losses):
    body = client.post(url(suite, route="losses"), json={"tokens": losses["token_ids"]}).json()
    assert body["loss"] == losses["loss"] and body["repeat_of"] == losses["repeat_of"]


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"text": ""}, "text"),
        ({"text": "x = 1\n" * 400}, "the model's context is"),
        ({"text": TEXT, "tokens": [0, 1]}, "exactly one"),
        ({"text": TEXT, "heads": [0]}, "heads: Extra inputs are not permitted"),
        ({"tokens": [0, 10**6]}, "token id 1000000 is out of range"),
    ],
)
def test_losses_reject_bad_input_with_a_message(client, suite, payload, message):
    r = client.post(url(suite, route="losses"), json=payload)
    assert r.status_code == 422 and message in r.json()["detail"]


def test_losses_not_found_names_the_missing_part(client, suite):
    for path, name in [
        (url(suite, step=4242, route="losses"), "4242"),
        (url(suite, run="attn9", route="losses"), "'attn9'"),
    ]:
        r = client.post(path, json={"text": TEXT})
        assert r.status_code == 404 and name in r.json()["detail"]


def test_before_after_serves_the_stored_table(client, suite, tiny_suite):
    stored = schema.read_analysis(tiny_suite, "before_after")
    body = client.get(f"/suites/{suite}/before-after").json()
    assert body["suite"] == suite and set(body["runs"]) == set(stored)
    for run, r in body["runs"].items():
        s = stored[run]
        assert (r["before_step"], r["after_step"], r["note"]) == (s["before_step"], s["after_step"], s["note"])
        assert r["loss_change"] == pytest.approx(s["loss_change"])
        assert r["alignment"] == [[None if np.isnan(v) else v for v in row] for row in s["alignment"]]


def test_before_after_serves_a_written_table_with_nan_as_null(copy_client, suite_copy):
    path = schema.analysis_dir(suite_copy) / "before_after.json"
    run = {"before_step": 1, "after_step": 5, "loss_change": -0.5, "alignment": [[0.5, float("nan")]], "note": "n"}
    path.write_text(json.dumps({"attn2": run}))
    body = copy_client.get(f"/suites/{suite_copy.name}/before-after").json()
    old = {"mode": "mean", "projection": None, "induction_heads": [], "induction_projection": None}
    expected = {**run, **old, "induction_alignment": None, "alignment": [[0.5, None]]}
    assert body == {"suite": suite_copy.name, "runs": {"attn2": expected}}  # a table from before projections


def test_before_after_serves_projections_and_the_joint_ablation(copy_client, suite_copy):
    path = schema.analysis_dir(suite_copy) / "before_after.json"
    run = {"before_step": 1, "after_step": 5, "loss_change": -0.5, "mode": "pattern_preserving", "note": "n"}
    run |= {"alignment": [[0.5, 0.9]], "projection": [[0.1, None]], "induction_heads": [[0, 1]]}
    run |= {"induction_projection": 0.75, "induction_alignment": 0.875}
    path.write_text(json.dumps({"attn2": run}))
    body = copy_client.get(f"/suites/{suite_copy.name}/before-after").json()
    assert body == {"suite": suite_copy.name, "runs": {"attn2": run}}


def test_before_after_not_found_before_the_first_analysis(copy_client, suite_copy):
    (schema.analysis_dir(suite_copy) / "before_after.json").unlink()
    r = copy_client.get(f"/suites/{suite_copy.name}/before-after")
    assert r.status_code == 404 and "no before-and-after table yet" in r.json()["detail"]


def test_before_after_with_missing_fields_is_unavailable(copy_client, suite_copy):
    (schema.analysis_dir(suite_copy) / "before_after.json").write_text(json.dumps({"attn2": {"before_step": 1}}))
    r = copy_client.get(f"/suites/{suite_copy.name}/before-after")
    assert r.status_code == 503 and "before_after.json" in r.json()["detail"]


def test_losses_against_a_baseline_step_give_the_change_per_token(client, suite):
    text = "import os\nimport os\n"
    steps = client.get(f"/suites/{suite}/runs/attn2/metrics").json()["snapshots"]["steps"]
    before = client.post(url(suite, step=steps[3], route="losses"), json={"text": text}).json()
    after = client.post(url(suite, step=steps[-1], route="losses"), json={"text": text}).json()
    both = client.post(url(suite, step=steps[-1], route="losses"), json={"text": text, "baseline_step": steps[3]})
    body = both.json()
    assert body["baseline_step"] == steps[3] and body["loss"] == after["loss"]
    assert body["baseline_loss"] == before["loss"]
    assert body["loss_change"] == pytest.approx([y - x for x, y in zip(before["loss"], after["loss"])], abs=1e-6)
    missing = client.post(url(suite, step="latest", route="losses"), json={"text": text, "baseline_step": 7777})
    assert missing.status_code == 404 and "7777" in missing.json()["detail"]
