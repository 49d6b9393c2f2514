"""Deep linear networks: Saxe modes (ICLR 2014) and their exact learning dynamics."""

from . import data, model, observables, theory
from .study import DEEP_LINEAR, DeepLinearConfig

__all__ = ["DEEP_LINEAR", "DeepLinearConfig", "data", "model", "observables", "theory"]
