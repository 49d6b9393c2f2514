"""Representation alignment: a two-point effective theory of representation learning shared by
many architectures (van Rossem & Saxe, ICML 2024).

Effective theory (docs/alignment.md): :mod:`.theory` (the (h, y, w) ODE, conservation law,
fixed point, loss, scalar-chain link), :mod:`.micro` (the linearised micro-model and its exact
gradient flow), :mod:`.study` (study ``alignment``). Trained networks, rate fitting and pairwise
structure (studies ``alignment_networks``, ``alignment_structure``): docs/alignment_networks.md.
"""

from . import data, fit, micro, model, theory
from .fit import Fit, fit_rates

__all__ = ["Fit", "data", "fit", "fit_rates", "micro", "model", "theory"]
