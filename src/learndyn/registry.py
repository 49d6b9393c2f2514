"""The study registry: name -> the module attribute holding its :class:`~learndyn.core.Study`.

Families are imported only when one of their studies is asked for.
"""

from __future__ import annotations

import importlib

from .core.config import ConfigError
from .core.study import Study

__all__ = ["get", "studies"]

_REGISTRY: dict[str, str] = {
    "deep_linear": "learndyn.deep_linear.study:DEEP_LINEAR",
}


def studies() -> list[str]:
    """Names of all registered studies."""
    return list(_REGISTRY)


def get(name: str) -> Study:
    """The study called ``name`` (raises :class:`ConfigError` listing the known ones)."""
    if isinstance(name, Study):
        return name
    if name not in _REGISTRY:
        raise ConfigError(f"unknown study '{name}'; studies are: " + ", ".join(_REGISTRY))
    module, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)
