"""Induction-head formation and clamping subcircuits during training (Singh et al., ICML 2024)."""

from . import clamps, model, observables
from .study import INDUCTION_HEADS, InductionConfig

__all__ = ["INDUCTION_HEADS", "InductionConfig", "clamps", "model", "observables"]
