"""Flexible task abstractions from fast, bounded, non-negative gates (Sandbrink et al., NeurIPS
2024): gated linear networks and their exact reduced theory.

Studies: ``task_abstraction``, ``task_composition`` and ``task_abstraction_regimes`` (modules of
:mod:`learndyn.studies`).
"""

from . import data, model, observables, plots, simulate, theory

STUDIES = ("task_abstraction", "task_composition", "task_abstraction_regimes")

__all__ = ["STUDIES", "data", "model", "observables", "plots", "simulate", "theory"]
