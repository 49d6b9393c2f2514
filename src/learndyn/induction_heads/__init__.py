"""Induction-head formation and clamping subcircuits during training (Singh et al., ICML 2024).

Studies: ``induction_heads`` and ``induction_clamping`` (modules of :mod:`learndyn.studies`).
"""

from . import clamps, model, observables, simulate

STUDIES = ("induction_heads", "induction_clamping")

__all__ = ["STUDIES", "clamps", "model", "observables", "simulate"]
