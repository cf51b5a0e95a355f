"""The load test's short form: `bench/load_test.py` (locust, in its own process) with 3 users that
each call every route of the mix twice, concurrently, against a service on the tiny suite. It
ends when that work is done (a busy machine makes it slower, not shorter), and asserts no failed
request and every route called; latencies are only measured by the long form (bench/RESULTS.md)."""

import json
import os
import signal
import subprocess
import sys

from tests.conftest import REPO


def test_a_short_load_test_has_no_failed_request_and_calls_every_route(tiny_suite, tmp_path):
    out = tmp_path / "load.json"
    cmd = [sys.executable, "bench/load_test.py", str(tiny_suite), "--users", "3", "--rounds", "2", "--warmup", "0"]
    cmd += ["--workdir", str(tmp_path / "work"), "--json", str(out)]
    # Its own process group: whatever happens, the service and locust it starts go with it.
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=3600)  # a last resort: the runner stops by itself on a stall
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, output
    result = json.loads(out.read_text())
    assert {name: route["requests"] for name, route in result["routes"].items()} == {
        "GET suite": 3,
        "GET metrics": 6,
        "POST attention": 6,
        "POST prefix-matching": 6,
        "POST ablation": 6,
        "all": 27,
    }, output
    assert result["routes"]["all"]["failures"] == 0 and result["failure_messages"] == [], output
    assert result["locust_exit_code"] == 0
    assert result["rss_mib"]["end"] > 0
