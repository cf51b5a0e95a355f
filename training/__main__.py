"""`python -m training ...`: see training/pipeline/cli.py."""

from training.pipeline import distributed
from training.pipeline.cli import main

code = main()
if distributed.launched():
    distributed.exit_worker(code)  # a torchrun worker: without the interpreter's finalization (why: there)
raise SystemExit(code)
