"""Gated deep linear networks and the neural race reduction (Saxe, Sodhani & Lewallen, 2022).

Define a GDLN as a graph (:class:`GDLN`), its task as gated data (:func:`gated_data`), get the
reduced per-mode theory (:func:`reduce`) and both side by side (:func:`compare`); the routing
network's figures are in :mod:`.plots`.
Studies: ``neural_race`` and ``gated_generalisation`` (modules of :mod:`learndyn.studies`).
"""

from . import data, model, observables, plots, simulate, theory
from .model import GDLN, GatedData, GraphError, gated_data
from .simulate import compare
from .theory import Reduction, ReductionError, reduce

STUDIES = ("neural_race", "gated_generalisation")

__all__ = [
    "GDLN",
    "GatedData",
    "GraphError",
    "Reduction",
    "ReductionError",
    "STUDIES",
    "compare",
    "data",
    "gated_data",
    "model",
    "observables",
    "plots",
    "reduce",
    "simulate",
    "theory",
]
