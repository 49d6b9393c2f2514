"""Representation alignment: a two-point effective theory of representation learning shared by
many architectures (van Rossem & Saxe, ICML 2024).

Effective theory (docs/alignment.md): :mod:`.theory` (the (h, y, w) ODE, conservation law,
fixed point, loss, scalar-chain link), :mod:`.micro` (the linearised micro-model and its exact
gradient flow); trained networks (:mod:`.model`) and rate fitting (:mod:`.fit`). Studies:
``alignment``, ``alignment_networks`` and ``alignment_structure`` (modules of
:mod:`learndyn.studies`).
"""

from . import data, fit, micro, model, theory
from .fit import Fit, fit_rates

STUDIES = ("alignment", "alignment_networks", "alignment_structure")

__all__ = ["Fit", "STUDIES", "data", "fit", "fit_rates", "micro", "model", "theory"]
