"""Representation alignment: a two-point effective theory of representation learning shared by
many architectures (van Rossem & Saxe, ICML 2024).

Effective theory: :mod:`.theory` (the (h, y, w) ODE, conservation law, fixed point, loss,
scalar-chain link), :mod:`.micro` (the linearised micro-model and its exact gradient flow);
trained networks (:mod:`.model`, :mod:`.data`) and rate fitting (:mod:`.fit`); the programs
the studies share (:mod:`.simulate`: micro-model runs beside their ODE, the settings table,
training on pairs of points and the fit); what the datasets hold (:mod:`.observables`) and their
figures (:mod:`.plots`). Studies: ``alignment``, ``alignment_networks`` and
``alignment_structure`` (modules of :mod:`learndyn.studies`).
"""

from . import data, fit, micro, model, observables, plots, simulate, theory
from .fit import Fit, fit_rates

STUDIES = ("alignment", "alignment_networks", "alignment_structure")

__all__ = ["Fit", "STUDIES", "data", "fit", "fit_rates", "micro", "model", "observables",
           "plots", "simulate", "theory"]
