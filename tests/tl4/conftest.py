"""Tests that need TransformerLens 4 (`training.core.bridge`). They run in their own environment,
`.venv-tl4/` (`make test-tl4`, part of `make test`); in the app's environment, which pins
TransformerLens 3.9, they are not collected."""

from importlib.metadata import version

from packaging.version import Version

if Version(version("transformer-lens")).major != 4:
    collect_ignore_glob = ["test_*.py"]
