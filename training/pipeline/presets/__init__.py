"""Presets: small files, one per suite recipe, each defining `PRESET`.

`load(name)` imports `training.pipeline.presets.<name>`; `names()` lists them.
"""

from __future__ import annotations

import importlib
import pkgutil

from training.core.config import ConfigError
from training.pipeline.config import Preset


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> Preset:
    if name not in names():
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}").PRESET
