"""One trainer per run and one analyser per suite: a second is refused (or waits), naming the
holder; a dead holder's lock is taken over; runs of one suite train in separate processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from training.pipeline.cli import main
from training.pipeline.locks import LockError, suite_lock


def test_a_second_holder_is_refused_with_the_holders_name(tmp_path):
    with suite_lock(tmp_path, "train"):
        with pytest.raises(LockError, match=f"pid {os.getpid()}"):
            with suite_lock(tmp_path, "train"):
                pass
        with suite_lock(tmp_path, "analyze"):  # another kind of lock is independent
            pass
    assert not (tmp_path / ".train.lock").exists()  # released


def test_a_dead_holders_lock_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    import socket

    (tmp_path / ".train.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "then"}))
    with suite_lock(tmp_path, "train"):
        assert json.loads((tmp_path / ".train.lock").read_text())["pid"] == os.getpid()


def test_a_holder_that_exited_but_was_not_reaped_is_dead(tmp_path):
    """A killed trainer whose parent died too lingers as a zombie until someone reaps it; it
    answers kill(pid, 0) but holds no file, so its lock is taken over."""
    import socket

    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # not waited for: a zombie once it exits
    try:
        state = ""
        while state != "Z":  # bounded by the child's exit; no clock
            state = Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        os.kill(zombie.pid, 0)  # still "there" for kill(0)
        holder = {"pid": zombie.pid, "host": socket.gethostname(), "since": "then"}
        (tmp_path / ".train.lock").write_text(json.dumps(holder))
        with suite_lock(tmp_path, "train"):
            assert json.loads((tmp_path / ".train.lock").read_text())["pid"] == os.getpid()
    finally:
        zombie.wait()


def test_the_cli_refuses_a_second_analyser(tiny_suite, capsys):
    with suite_lock(tiny_suite, "analyze"):
        assert main(["analyze", str(tiny_suite)]) == 2
    assert "another analyze process holds" in capsys.readouterr().err


def test_a_waiting_taker_gets_the_lock_once_its_holder_releases_it(tmp_path, children):
    script = (
        "import sys; from pathlib import Path; from training.pipeline.locks import suite_lock\n"
        "with suite_lock(Path(sys.argv[1]), 'analyze', wait=True, log=lambda m: print(m, flush=True)):\n"
        "    print('got it', flush=True)\n"
    )
    with suite_lock(tmp_path, "analyze"):
        waiter = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        children.append(waiter)
        line = waiter.stdout.readline()  # blocks until the waiter has found the lock held
        assert line.startswith("waiting for") and f"pid {os.getpid()}" in line
        assert waiter.poll() is None
    assert waiter.stdout.readline() == "got it\n"
    assert waiter.wait() == 0


def test_a_second_trainer_of_the_same_run_is_refused_and_one_of_another_run_is_not(tmp_path, capsys):
    args = ["train", "--preset", "tiny", "--out", str(tmp_path), "--no-analyze", "--no-live-metrics"]
    args += ["--set", "data.source=synthetic-repeats", "--set", "train.steps=3"]
    with suite_lock(tmp_path / "tiny", "train-attn2"):
        assert main([*args, "--runs", "attn2"]) == 2
        assert f"another train-attn2 process holds {tmp_path / 'tiny' / '.train-attn2.lock'}" in capsys.readouterr().err
        assert main([*args, "--runs", "attn1"]) == 0
    assert not (tmp_path / "tiny" / "attn2").exists()
    assert not list((tmp_path / "tiny").glob(".*.lock"))  # every lock released


def test_two_processes_training_other_runs_of_one_suite_leave_it_whole(tmp_path, children):
    # Started together on a fresh suite: one builds the data while the other waits for it, each
    # trains and analyses its run, and the suite tables and report are rebuilt by each in turn.
    from training.core.artifacts import schema
    from training.pipeline.verify import verify_suite

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "training", "train", "--preset", "tiny", "--out", str(tmp_path)]
    args += ["--set", "train.steps=40", "--set", "train.threads=1"]
    procs = [
        subprocess.Popen([*args, "--runs", run], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
        for run in ("attn1", "attn2")
    ]  # fmt: skip
    children.extend(procs)
    errs = [p.communicate(timeout=1800)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert sum("reading corpus" in err for err in errs) == 1  # the data was built once
    suite = tmp_path / "tiny"
    verdict = verify_suite(suite)
    assert not verdict.problems and verdict.checked > 0 and verdict.unrecorded == 0
    assert {r: schema.read_manifest(suite / r).status for r in schema.list_runs(suite)} == {
        "attn1": "complete",
        "attn2": "complete",
    }
    assert set(schema.read_phases(suite)) == {"attn1", "attn2"}  # the last table rebuild saw both runs
    assert set(schema.read_report(suite).runs) == {"attn1", "attn2"}
    assert not list(suite.glob(".*.lock"))
