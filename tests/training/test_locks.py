"""One trainer and one analyser per suite: the second is refused, naming the holder; a dead
holder's lock is taken over."""

import json
import os
import subprocess
import sys

import pytest

from training.cli import main
from training.locks import LockError, suite_lock


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


def test_the_cli_refuses_a_second_analyser(tiny_suite, capsys):
    with suite_lock(tiny_suite, "analyze"):
        assert main(["analyze", str(tiny_suite)]) == 2
    assert "another analyze process holds" in capsys.readouterr().err
