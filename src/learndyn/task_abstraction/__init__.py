"""Flexible task abstractions from fast, bounded, non-negative gates (Sandbrink et al., NeurIPS
2024): gated linear networks, their exact reduced theory, and three studies (``task_abstraction``,
``task_composition``, ``task_abstraction_regimes``)."""

from . import data, model, observables, theory

__all__ = ["data", "model", "observables", "theory"]
