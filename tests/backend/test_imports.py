"""The service reads artifacts only: it never imports the training loop."""

import subprocess
import sys

from tests.conftest import REPO


def test_service_does_not_import_the_training_loop():
    code = "import sys, backend.main; print(sorted(m for m in sys.modules if m in ('training.pipeline.train', 'training.pipeline.cli')))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
