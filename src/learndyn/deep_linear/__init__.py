"""Deep linear networks: Saxe modes (ICLR 2014) and lambda-balanced lazy/rich dynamics
(Dominé et al., ICLR 2025), with their exact learning dynamics.

Modules: :mod:`.data` (whitened tasks), :mod:`.model` (networks and initialisations),
:mod:`.theory` (every closed form, float64; implemented in :mod:`.theory`, :mod:`.balanced` and
:mod:`.balanced_modes`), :mod:`.observables` (mode strengths, half times, NTK), :mod:`.simulate`
(compiled gradient-descent programs), :mod:`.plots` (figures). Studies: ``deep_linear`` and
``lazy_rich`` (modules of :mod:`learndyn.studies`).
"""

from . import balanced, balanced_modes, data, model, observables, plots, simulate, theory

STUDIES = ("deep_linear", "lazy_rich")

__all__ = ["STUDIES", "balanced", "balanced_modes", "data", "model", "observables", "plots",
           "simulate", "theory"]
