"""`training.load_bridge` in the app's environment (TransformerLens 3.9): a clear refusal. Its
real tests need TransformerLens 4 and run in `.venv-tl4/` (`tests/tl4`, `make test-tl4`)."""

import pytest

import training


def test_load_bridge_without_transformer_lens_4_says_what_to_install(tmp_path):
    with pytest.raises(ImportError, match=r"needs TransformerLens 4 and this environment has transformer-lens 3\.9"):
        training.load_bridge(tmp_path)
