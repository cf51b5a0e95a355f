"""backend.core.config: settings from the environment."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from backend.core.config import Settings


def test_settings_read_artifacts_dir_and_cache_size_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ARTIFACTS_DIR", str(tmp_path))
    monkeypatch.setenv("CACHE_SIZE", "3")
    settings = Settings()
    assert settings.artifacts_dir == tmp_path and settings.cache_size == 3


def test_settings_default_to_the_artifacts_folder(monkeypatch):
    monkeypatch.delenv("ARTIFACTS_DIR", raising=False)
    assert Settings(_env_file=None).artifacts_dir == Path("artifacts")


def test_settings_reject_a_zero_cache(monkeypatch):
    monkeypatch.setenv("CACHE_SIZE", "0")
    with pytest.raises(ValidationError, match="cache_size"):
        Settings()


def test_settings_allow_no_response_cache_but_need_an_attention_thread(monkeypatch):
    monkeypatch.setenv("RESPONSE_CACHE_SIZE", "0")
    monkeypatch.setenv("ATTENTION_THREADS", "2")
    settings = Settings(_env_file=None)
    assert settings.response_cache_size == 0 and settings.attention_threads == 2
    monkeypatch.setenv("ATTENTION_THREADS", "0")
    with pytest.raises(ValidationError, match="attention_threads"):
        Settings(_env_file=None)
