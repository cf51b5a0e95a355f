"""Phase change page, the moment a head forms: while following a run that trains, one notice
naming the head and the step where the run's best head first passed the threshold (the
service's `formed`), with buttons to the Attention page on that head at that checkpoint and
to the Heads page; it stays until dismissed and is never drawn twice."""

from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP, assert_clean, open_page, texts


def notices(at) -> list[str]:
    return [t for t in texts(at, "success") if "An induction head formed" in t]


def test_a_head_that_formed_while_training_is_announced_once_until_dismissed(fake):
    fake.training = "attn2"
    at = open_page("phase_change")
    assert_clean(at)
    assert at.sidebar.toggle(key="follow").value
    (notice,) = notices(at)
    # the fake's L1H1 passes 0.3 at its third snapshot, step 20; attn1 never does
    assert "formed in attn2" in notice and "L1H1" in notice and "step 20 " in notice and "passed 0.3" in notice
    fake.steps.append(320)  # a refresh with a new snapshot: the same notice, not a second one
    at.run()
    assert len(notices(at)) == 1
    at.button(key="fake/attn2/20/L1H1/dismiss").click().run()
    assert_clean(at)
    assert notices(at) == []
    at.run()
    assert notices(at) == []  # dismissed stays dismissed


def test_the_notice_opens_the_attention_page_on_that_head_at_that_checkpoint(fake):
    fake.training = "attn2"
    fake.steps = fake.steps[:3]  # the crossing (step 20) is the latest snapshot, as when it is first seen
    at = open_page("phase_change", {"run": "attn1"})
    at.button(key="fake/attn2/20/L1H1/attention").click().run()
    assert_clean(at)
    assert [t.value for t in at.title] == ["Attention"]
    assert at.query_params["run"] in ("attn2", ["attn2"]) and at.query_params["step"] in ("20", ["20"])
    assert at.query_params["layer"] in ("1", ["1"]) and at.query_params["head"] in ("1", ["1"])
    assert at.sidebar.selectbox(key="run").value == "attn2"
    fake.steps.append(40)  # a newer snapshot arrives: the page stays on the crossing's checkpoint
    at.run()
    assert_clean(at)
    assert at.sidebar.select_slider(key="step").value == 20


def test_the_notice_opens_the_heads_page_at_that_checkpoint(fake):
    fake.training = "attn2"
    at = open_page("phase_change")
    at.button(key="fake/attn2/20/L1H1/heads").click().run()
    assert_clean(at)
    assert [t.value for t in at.title] == ["Heads"]
    assert at.query_params["step"] in ("20", ["20"])


def test_no_notice_for_a_suite_opened_after_the_fact_or_when_not_following(fake):
    at = open_page("phase_change")  # analysed, nothing trains: the heads are on the charts, not news
    assert notices(at) == []
    fake.training = "attn2"
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["follow"], at.session_state["_follow_chosen"] = False, True  # turned off by the user
    at.run()
    assert_clean(at)
    assert not at.sidebar.toggle(key="follow").value and notices(at) == []
