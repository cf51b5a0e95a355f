"""The documentation: the generated pages are current and follow the code, the README stays short.

The site itself is built with `mkdocs build --strict` by `make docs` (the last step of `make test`),
which fails on a broken link or anchor and on a page left out of the navigation.
"""

import dataclasses
import re
import sys

from pydantic import Field

from backend.core.config import Settings
from tests.conftest import REPO
from training.core.analysis import registry

sys.path.insert(0, str(REPO / "scripts"))
import gen_docs  # noqa: E402


def test_generated_pages_equal_a_fresh_generation():
    assert gen_docs.stale() == [], "run `python scripts/gen_docs.py` and commit the pages"


def test_a_changed_metric_meaning_makes_the_metric_page_stale(monkeypatch):
    changed = tuple(
        dataclasses.replace(m, meaning="a meaning no page holds yet") if m.name == "prefix_matching" else m
        for m in registry.METRICS
    )
    monkeypatch.setattr(registry, "METRICS", changed)
    assert "a meaning no page holds yet" in gen_docs.metrics_page()
    assert gen_docs.stale() == ["docs/reference/metrics.md"]


def test_the_metric_page_lists_every_registered_metric_once():
    page = gen_docs.metrics_page()
    for metric in registry.METRICS:
        assert page.count(f"`metrics/{metric.name}.npy`") == 1, metric.name


def test_a_changed_setting_description_changes_the_settings_page():
    class Changed(Settings):
        cache_size: int = Field(8, ge=1, description="a description no page holds yet")

    page = gen_docs.settings_page(Changed)
    assert "| `CACHE_SIZE` | `8` | ≥ 1 | a description no page holds yet |" in page
    assert page != gen_docs.settings_page()


def test_every_service_setting_is_in_the_settings_page_with_its_description():
    page = (REPO / "docs/reference/settings.md").read_text()
    for name, info in Settings.model_fields.items():
        assert f"| `{name.upper()}` |" in page and info.description in page, name


def test_a_training_setting_is_described_by_its_comment_above_and_beside_it():
    @dataclasses.dataclass(frozen=True)
    class Config:
        # The first line of why,
        # and its second line.
        steps: int = 10  # and a note beside it
        lr: float = 1e-3  # only beside
        seed: int = 0

    assert gen_docs.field_comments(Config) == {
        "steps": "The first line of why, and its second line. — and a note beside it",
        "lr": "only beside",
        "seed": "",
    }


def test_every_training_setting_is_in_the_settings_page():
    page = (REPO / "docs/reference/settings.md").read_text()
    for section, cls in gen_docs.SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert f"| `{section}.{f.name}` |" in page


def test_the_readme_is_short_and_its_links_resolve():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith(("http://", "https://")):
            assert (REPO / target).exists(), target
