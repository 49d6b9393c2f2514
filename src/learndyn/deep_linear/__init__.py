"""Deep linear networks: Saxe modes (ICLR 2014) and lambda-balanced lazy/rich dynamics
(Domine et al., ICLR 2025), with their exact learning dynamics.

Studies: ``deep_linear`` (:mod:`.study`) and ``lazy_rich`` (:mod:`.lazy_rich`, imported on
demand by the registry).
"""

from . import balanced, data, model, observables, theory
from .study import DEEP_LINEAR, DeepLinearConfig

__all__ = ["DEEP_LINEAR", "DeepLinearConfig", "balanced", "data", "model", "observables",
           "theory"]
