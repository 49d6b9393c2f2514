"""Deep linear networks: Saxe modes (ICLR 2014) and lambda-balanced lazy/rich dynamics
(Domine et al., ICLR 2025), with their exact learning dynamics.

Studies: ``deep_linear`` and ``lazy_rich`` (modules of :mod:`learndyn.studies`).
"""

from . import balanced, data, model, observables, theory

STUDIES = ("deep_linear", "lazy_rich")

__all__ = ["STUDIES", "balanced", "data", "model", "observables", "theory"]
