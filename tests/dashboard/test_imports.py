"""The dashboard talks to the service only: it never imports torch, transformer_lens, `training`
or `backend`, on any page."""

import json
import subprocess
import sys

from tests.conftest import REPO
from tests.dashboard.conftest import PAGES, free_port

CODE = """
import json, sys
from streamlit.testing.v1 import AppTest
import dashboard.api_types, dashboard.charts, dashboard.client, dashboard.head_charts, dashboard.sidebar, dashboard.state
import dashboard.text_view, dashboard.token_charts, dashboard.ui
at = AppTest.from_file("dashboard/app.py", default_timeout=60).run()
errors = []
for page in PAGES:
    at.switch_page(f"views/{page}.py").run()
    errors += [e.value for e in at.exception]
forbidden = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformer_lens", "training", "backend"))
print(json.dumps({"errors": errors, "forbidden": forbidden, "shown": [e.value for e in at.error]}))
"""


def test_no_page_imports_torch_training_or_backend():
    env = {
        "INDUCTIONSCOPE_API": f"http://127.0.0.1:{free_port()}",
        "PATH": "/usr/bin:/bin",
    }  # a closed port: every page shows its error
    out = subprocess.run(
        [sys.executable, "-c", f"PAGES = {PAGES!r}\n{CODE}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["forbidden"] == []
    assert "not reachable" in result["shown"][0]
