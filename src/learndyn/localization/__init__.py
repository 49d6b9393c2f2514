"""Localized receptive fields from non-Gaussian inputs (Lufkin, Saxe & Grant, NeurIPS 2024).

A ReLU neuron trained by online SGD to tell long- from short-range correlated inputs on a ring
grows a localized receptive field when the input marginals are sub-Gaussian; the effective
single-neuron dynamics (:func:`theory.integrate`) route the drive through a marginal-dependent
nonlinearity :func:`theory.phi` whose cubic term is proportional to 3 - kurtosis.

Studies: ``localization``, ``localization_kurtosis`` and ``localization_many``.
"""

from . import data, latent, model, observables, simulate, theory

STUDIES = ("localization", "localization_kurtosis", "localization_many")

__all__ = ["STUDIES", "data", "latent", "model", "observables", "simulate", "theory"]
