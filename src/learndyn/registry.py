"""The study registry: every module in :mod:`learndyn.studies` is a study of the same name.

A study module defines ``STUDY = Study(name=..., claim=..., paper=..., ...)``. Modules are
imported only when their study is asked for. Studies outside the package register through the
environment, which sweep worker processes inherit::

    LEARNDYN_STUDIES="my_study=mypackage.module:STUDY,other=pkg.mod:OTHER"

This runs the named modules' code, as ``PYTHONPATH`` would: set it only to code you trust.
Names that shadow a built-in study are refused, and the object must be a :class:`Study`.
"""

from __future__ import annotations

import ast
import importlib
import os
from pathlib import Path
from typing import Any

from .core.config import ConfigError

__all__ = ["builtin", "describe", "get", "studies", "target"]

_STUDIES = Path(__file__).parent / "studies"


def builtin() -> dict[str, str]:
    """``{name: "module:STUDY"}`` of the studies shipped in :mod:`learndyn.studies`."""
    return {p.stem: f"learndyn.studies.{p.stem}:STUDY" for p in sorted(_STUDIES.glob("*.py"))
            if not p.stem.startswith("_")}


def _entries() -> dict[str, str]:
    entries = builtin()
    for item in os.environ.get("LEARNDYN_STUDIES", "").split(","):
        name, sep, target = (part.strip() for part in item.partition("="))
        if not item.strip():
            continue
        if not (sep and name.isidentifier() and ":" in target):
            raise ConfigError(f"LEARNDYN_STUDIES: '{item}' is not of the form name=module:attr")
        if name in entries:
            raise ConfigError(f"LEARNDYN_STUDIES: '{name}' would replace a built-in study")
        entries[name] = target
    return entries


def studies() -> list[str]:
    """Names of all registered studies."""
    return list(_entries())


def target(name: str) -> str:
    """The ``module:attr`` a study is imported from (what worker processes import)."""
    entries = _entries()
    if name not in entries:
        raise ConfigError(f"unknown study '{name}'; studies are: " + ", ".join(entries))
    return entries[name]


def get(name):
    """The :class:`~learndyn.core.study.Study` called ``name`` (raises :class:`ConfigError`
    listing the known ones)."""
    from .core.study import Study

    if isinstance(name, Study):
        return name
    module, attr = target(name).split(":")
    try:
        study = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"study '{name}': cannot load {module}:{attr} ({err})") from None
    if not isinstance(study, Study):
        raise ConfigError(f"study '{name}': {module}:{attr} is not a learndyn Study")
    return study


def describe(name: str) -> dict[str, Any]:
    """``{name, claim, paper, presets}`` of a study. For built-in studies they are read from
    the module's source (``STUDY = Study(name=..., claim=..., paper=..., presets={...})`` with
    literal strings), so listing studies imports neither the study nor JAX."""
    module = target(name).split(":")[0]
    path = _STUDIES / f"{module.rsplit('.', 1)[-1]}.py"
    if module.startswith("learndyn.studies.") and path.is_file():
        info = _literals(path)
        if info is not None:
            return info
    st = get(name)
    return {"name": st.name, "claim": st.claim, "paper": st.paper, "presets": list(st.presets)}


def _literals(path: Path) -> dict[str, Any] | None:
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and any(isinstance(t, ast.Name) and t.id == "STUDY" for t in node.targets)):
            kw = {k.arg: k.value for k in node.value.keywords}
            presets = kw.get("presets")
            try:
                info = {k: ast.literal_eval(kw[k]) for k in ("name", "claim", "paper")}
                info["presets"] = [ast.literal_eval(k) for k in presets.keys]
            except (KeyError, ValueError, AttributeError, TypeError):
                return None
            return info
    return None
