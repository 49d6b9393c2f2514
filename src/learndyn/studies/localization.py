"""Study ``localization``: SGD beside the effective single-neuron dynamics on several data sets.

Lufkin, Saxe & Grant, NeurIPS 2024. A ReLU neuron y_hat = relu(w.x) learns by online SGD to
tell long-range (xi1) from short-range (xi0) correlated inputs on a ring. With sub-Gaussian
marginals (kurtosis < 3) its weights concentrate on a few neighbouring sites; Gaussian,
super-Gaussian and elliptical data give smooth, delocalized weights. The effective map
w <- w + (eta/2)[phi(a(w)) - (Sigma0 + Sigma1) w] (:mod:`learndyn.localization.theory`) is run
from each seed's own w(0) beside SGD.
"""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr

from ..core import plotting
from ..core.study import Check, Preset, Progress, Study, run_each
from ..localization import claims, plots, simulate

__all__ = ["STUDY", "LocalizationConfig", "checks", "figures", "run"]


@dataclass(frozen=True)
class LocalizationConfig(simulate.SingleNeuronConfig):
    """Single ReLU neuron on several data sets (defaults: the quick preset)."""


def run(config: LocalizationConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """SGD and the effective ODE per data set and seed, with generator measurements."""
    return simulate.compare(config, seeds=seeds, progress=progress)


def checks(ds: xr.Dataset, config: LocalizationConfig) -> list[Check]:
    """The paper's claims (tolerances and their reasons in :mod:`learndyn.localization.claims`).

    - generators: unit variance (<= 0.01), sample kurtosis within 5 standard errors of the
      exact value (finite E x^8 only), covariances within 0.02 of the exact ones;
    - phi: cubic coefficient (3 - kappa)/6 within 0.015 (finite E x^8); elliptical drive exact
      within 2% of its largest entry (1e6 Monte Carlo samples);
    - localization (SGD, every seed): final IPR >= 4/L for kurtosis <= 2, <= 2/L for
      elliptical and kurtosis >= 2.99; most sub-Gaussian / Gaussian-like IPR >= 3;
    - ODE vs SGD from the same w(0): norms within 10%, cosine >= 0.85, peak sites within 2
      (localized), ODE IPR >= 4/L (localized) or <= 2/L (delocalized);
    - onset: IPR doubles within the first 20% of training for kurtosis < 1.5.
    """
    L = config.L
    return (claims.generators(ds) + claims.phi_cubic(ds) + claims.drive(ds)
            + claims.localization(ds, L) + claims.contrast(ds, L)
            + claims.ode_agreement(ds, L) + claims.onset(ds, L))


def figures(ds: xr.Dataset, config: LocalizationConfig) -> dict:
    """Weight profiles, IPR over time, and phi per data set."""
    return {
        "weight_profiles": plotting.captioned(
            plots.weight_profiles(ds),
            "Sub-Gaussian data (NLGP g = 100, Alg(30)) grow a bump a few sites wide while "
            "Gaussian-like, heavy-tailed (Alg(5)) and elliptical data grow a smooth "
            "low-frequency profile; the effective ODE (dashed) puts the bump where SGD does "
            "but wider and lower, as expected once one site dominates w.x."),
        "ipr": plotting.captioned(
            plots.ipr_over_time(ds, config.L),
            "IPR rises early and saturates for sub-Gaussian data and falls towards 1/L "
            "otherwise; the ODE under-predicts the final IPR of localized weights (it is an "
            "early-time theory) but follows the delocalized runs closely."),
        "phi": plotting.captioned(
            plots.phi_curves(ds, config.L),
            "phi bends upwards for kurtosis < 3 (the localization amplifier, (3 - kappa)/6 at "
            "small a) and is exactly linear for elliptical data; Monte Carlo drives at a "
            "random w (markers) sit on the curves up to the Gaussian-conditional error of T2 "
            "(a few % of the drive for NLGP g = 100)."),
    }


BATCH_FIELDS = simulate.BATCH_FIELDS  #: a sweep over these compiles once

STUDY = Study(
    name="localization",
    claim="A ReLU neuron trained by online SGD localizes its receptive field when the input "
          "marginals are sub-Gaussian, not for Gaussian, heavy-tailed or elliptical data; the "
          "effective single-neuron dynamics from the same initial weights predict it.",
    paper="Lufkin, Saxe & Grant, Nonlinear dynamics of localization in neural receptive "
          "fields, NeurIPS 2024",
    config=LocalizationConfig,
    presets={
        "quick": Preset(seeds=2, doc="L = 40, 2000 steps, batch 1000: NLGP g = 100 and 0.01, "
                                     "Alg(30), Alg(5), elliptical shell"),
        "paper": Preset(
            seeds=5,
            values=dict(batch=10000, steps=5000, record_every=50, datasets=(
                "nlgp:0.01", "nlgp:100", "alg:4", "alg:5", "alg:6", "alg:10", "alg:30",
                "uniform", "laplace", "bernoulli", "elliptical:shell", "elliptical:artanh")),
            doc="Figs. 3/4 of the paper: batch 10000, 5000 steps, 12 data sets, 5 seeds",
            cost="about 35 min on 2 idle CPU cores (2101 s CPU), 46 min under load; GPU welcome"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
