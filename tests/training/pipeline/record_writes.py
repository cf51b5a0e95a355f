"""`python -m tests.training.pipeline.record_writes <args>`: `python -m training <args>` with every file
this process writes under $WRITES_UNDER recorded, so a test knows which process of a torchrun
launch wrote what (two processes writing identical files leave the same files behind).

An audit hook (PEP 578) sees every open for writing, rename or replace, mkdir and removal made
through the interpreter, whichever module makes it; the artifact package writes every file
through a temp file (`os.open` with O_CREAT) and `os.replace`, which it sees. Each event goes,
as one JSON line `[event, path]`, to `$WRITES_LOG.rank$RANK` (written with `os.write`, unbuffered,
as a torchrun worker ends without the interpreter's finalization)."""

import json
import os
import runpy
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
PATH_EVENTS = {"os.rename", "os.mkdir", "os.remove", "os.rmdir", "os.truncate", "os.link", "os.symlink"}


def is_write(mode, flags) -> bool:
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and flags > 0 and bool(flags & WRITE_FLAGS)


def install(under: str, log_path: str) -> None:
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)  # before the hook: not recorded
    under = os.path.abspath(under) + os.sep

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            paths = [path] if is_write(mode, flags) else []
        elif event in PATH_EVENTS:
            paths = args[:2]
        else:
            return
        for path in paths:
            if isinstance(path, (str, bytes, os.PathLike)):
                path = os.path.abspath(os.fsdecode(path))
                if path.startswith(under):
                    os.write(out, (json.dumps([event, path]) + "\n").encode())

    sys.addaudithook(hook)


if __name__ == "__main__":
    install(os.environ["WRITES_UNDER"], f"{os.environ['WRITES_LOG']}.rank{os.environ.get('RANK', '0')}")
    sys.argv = ["training", *sys.argv[1:]]
    runpy.run_module("training", run_name="__main__", alter_sys=True)
