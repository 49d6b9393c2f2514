"""Abrupt, insight-like strategy switches in regularised gated networks (Löwe, Touzo,
Muhle-Karbe, Saxe, Summerfield & Schuck, PLOS Comp Biol 2024): the task, the L1-gated network
with both update rules, the insight criterion with its uncertainty, and a reduced theory of
the dead zone and escape (ours).

Studies: ``insight``, ``insight_noise``, ``insight_lambda`` and ``insight_ablations`` (modules
of :mod:`learndyn.studies`).
"""

from . import analysis, claims, data, model, observables, plots, simulate, theory

STUDIES = ("insight", "insight_noise", "insight_lambda", "insight_ablations")

__all__ = ["STUDIES", "analysis", "claims", "data", "model", "observables", "plots", "simulate",
           "theory"]
