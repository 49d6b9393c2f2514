"""The study registry: name -> the module attribute holding its :class:`~learndyn.core.Study`.

Families are imported only when one of their studies is asked for. Studies outside the
package register through the environment, which worker processes inherit::

    LEARNDYN_STUDIES="my_study=mypackage.module:STUDY,other=pkg.mod:OTHER"
"""

from __future__ import annotations

import importlib
import os

from .core.config import ConfigError
from .core.study import Study

__all__ = ["get", "studies", "target"]

_REGISTRY: dict[str, str] = {
    "deep_linear": "learndyn.deep_linear.study:DEEP_LINEAR",
    "lazy_rich": "learndyn.deep_linear.lazy_rich:LAZY_RICH",
    "teacher_student": "learndyn.teacher_student.study:TEACHER_STUDENT",
    "teacher_student_overparam": "learndyn.teacher_student.overparam:TEACHER_STUDENT_OVERPARAM",
    "neural_race": "learndyn.gated_linear.study:NEURAL_RACE",
    "gated_generalisation": "learndyn.gated_linear.generalisation:GATED_GENERALISATION",
    "induction_heads": "learndyn.induction_heads.study:INDUCTION_HEADS",
    "induction_clamping": "learndyn.induction_heads.clamping:INDUCTION_CLAMPING",
    "task_abstraction": "learndyn.task_abstraction.study:TASK_ABSTRACTION",
    "task_composition": "learndyn.task_abstraction.composition:TASK_COMPOSITION",
    "task_abstraction_regimes": "learndyn.task_abstraction.regimes:TASK_ABSTRACTION_REGIMES",
    "alignment": "learndyn.alignment.study:ALIGNMENT",
    "alignment_networks": "learndyn.alignment.networks:ALIGNMENT_NETWORKS",
    "alignment_structure": "learndyn.alignment.structure:ALIGNMENT_STRUCTURE",
}


def _entries() -> dict[str, str]:
    entries = dict(_REGISTRY)
    for item in os.environ.get("LEARNDYN_STUDIES", "").split(","):
        name, sep, target = item.partition("=")
        if sep and ":" in target:
            entries[name.strip()] = target.strip()
        elif item.strip():
            raise ConfigError(f"LEARNDYN_STUDIES: '{item}' is not of the form name=module:attr")
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


def get(name: str) -> Study:
    """The study called ``name`` (raises :class:`ConfigError` listing the known ones)."""
    if isinstance(name, Study):
        return name
    entries = _entries()
    if name not in entries:
        raise ConfigError(f"unknown study '{name}'; studies are: " + ", ".join(entries))
    module, attr = entries[name].split(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"study '{name}': cannot load {entries[name]} ({err})") from None
