"""Study ``localization_many``: K neurons with a fixed averaging read-out localize like one.

Lufkin, Saxe & Grant, NeurIPS 2024 (Fig. 5). y_hat = (1/K) sum_k sigma(w_k.x + b_k), trained by
online SGD at rate eta_K = K eta_1 on the two-class ring task: with sub-Gaussian marginals most
neurons grow localized receptive fields that tile the ring; with Gaussian data they stay
delocalized. Neurons couple only through the shared output error. Beside SGD (ReLU, no bias,
fixed read-out) runs our Gaussian closure of the K-neuron dynamics from the same W(0)
(:func:`learndyn.localization.theory.integrate_many`; not from the paper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import param
from ..core.study import Check, Preset, Progress, Study, run_each
from ..localization import claims, data, model, observables, plots, simulate, theory

__all__ = ["STUDY", "ManyConfig", "checks", "figures", "run"]


@dataclass(frozen=True)
class ManyConfig(simulate.RingTaskConfig):
    """K neurons with the averaging read-out (defaults: the quick preset)."""

    datasets: tuple[str, ...] = param(
        ("nlgp:100", "nlgp:0.01", "alg:30", "alg:5"),
        "data sets: nlgp:G, alg:K, gaussian, uniform, laplace, bernoulli, elliptical:shell|artanh")
    lr: float = param(1.0, "network learning rate eta_K (= K x the single-neuron rate)", gt=0)
    record_every: int = param(50, "steps between records", ge=1)
    K: int = param(20, "neurons", ge=1)
    activation: Literal["relu", "sigmoid"] = param("relu", "hidden nonlinearity")
    bias: Literal["none", "fixed", "trainable"] = param("none", "hidden biases")
    bias_value: float = param(0.0, "fixed bias, or the initial value of a trainable one")
    readout: Literal["fixed", "trainable"] = param("fixed", "averaging read-out or learned v_k")

    @property
    def network(self) -> model.Network:
        return model.Network(self.K, self.activation, self.bias, self.readout)

    @property
    def has_theory(self) -> bool:
        """Our closure covers ReLU neurons without bias and the fixed read-out."""
        return self.network == model.Network(self.K)


def run(config: ManyConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """SGD of the K-neuron network per data set (and, where defined, our closure ODE)."""
    cfg = config
    marginals, record_at = cfg.marginals, cfg.record_at
    recs = model.train(marginals, L=cfg.L, xi0=cfg.xi0, xi1=cfg.xi1, lr=cfg.lr, batch=cfg.batch,
                       record_at=record_at, seeds=seeds, network=cfg.network,
                       init_scale=cfg.init_scale, bias=cfg.bias_value, dtype=cfg.dtype,
                       balanced=cfg.balanced_batches, progress=progress)
    kinds = {"sim": np.stack([r["W"] for r in recs]).astype(np.float64)}  # (D, S, R, K, L)
    if cfg.has_theory:
        kinds["theory"] = np.stack([
            theory.integrate_many(kinds["sim"][d, :, 0], m, L=cfg.L, xi0=cfg.xi0, xi1=cfg.xi1,
                                  lr=cfg.lr, steps=int(record_at[-1]),
                                  record_every=cfg.record_every)
            for d, m in enumerate(marginals)])
    ds = xr.Dataset(coords={"dataset": list(cfg.datasets), "seed": list(seeds),
                            "time": record_at, "neuron": np.arange(cfg.K),
                            "site": np.arange(cfg.L)})
    ds = ds.assign_coords(label=("dataset", [m.label for m in marginals]),
                          kurtosis=("dataset", [data.kurtosis(m, L=cfg.L) for m in marginals]))
    for name, long_name, units in (
            ("dataset", "data set (marginal law)", ""), ("seed", "seed", ""),
            ("time", "SGD step", "steps"), ("neuron", "hidden neuron", ""),
            ("site", "site on the ring", ""), ("label", "data set", ""),
            ("kurtosis", "exact marginal kurtosis E[x^4]", "")):
        ds[name].attrs.update(long_name=long_name, **({"units": units} if units else {}))
    dims = ("dataset", "seed", "time")
    for kind, w in kinds.items():
        who = "SGD" if kind == "sim" else "closure ODE (ours)"
        ipr = observables.ipr(w)
        for name, dd, value, long_name in (
                ("weights", dims + ("neuron", "site"), w, "weights w_ki"),
                ("ipr", dims + ("neuron",), ipr, "IPR per neuron"),
                ("median_ipr", dims, np.median(ipr, axis=-1), "median IPR over neurons"),
                ("frac_localized", dims, np.mean(ipr > 4.0 / cfg.L, axis=-1),
                 "fraction of neurons with IPR > 4/L"),
                ("peak_site", dims + ("neuron",), observables.peak_site(w), "peak site")):
            ds[f"{name}_{kind}"] = (dd, value)
            ds[f"{name}_{kind}"].attrs["long_name"] = f"{long_name} ({who})"
    for name, long_name in (("loss", "batch loss (SGD)"), ("accuracy", "batch accuracy (SGD)")):
        ds[f"{name}_sim"] = (dims, np.stack([r[name] for r in recs]))
        ds[f"{name}_sim"].attrs["long_name"] = long_name
    return ds


def checks(ds: xr.Dataset, config: ManyConfig) -> list[Check]:
    """Many neurons (tolerances in :func:`learndyn.localization.claims.many_neurons`): for
    near-Rademacher data (kappa < 1.5) the median neuron IPR is >= 2x the Gaussian-like one and
    >= 80% of neurons have IPR > 4/L; for 1.5 <= kappa <= 2 the median is >= 1.2x the
    Gaussian-like one; for Gaussian-like data <= 10% of neurons exceed 4/L, and (ReLU, no
    bias, fixed read-out) our closure ODE, exact in expectation for Gaussian inputs, follows
    SGD: every neuron's cosine >= 0.9, median IPR within 10%."""
    return claims.many_neurons(ds, config.L)


def figures(ds: xr.Dataset, config: ManyConfig) -> dict:
    """Receptive fields of all neurons and their peak sites; median IPR over time."""
    ours = ("; our closure ODE (middle) follows SGD neuron by neuron for Gaussian-like data "
            "but localizes more than SGD for sub-Gaussian data" if config.has_theory else "")
    return {
        "receptive_fields": plotting.captioned(
            plots.many_fields(ds, config.L),
            "Final weights of every neuron (rows, sorted by peak site): sub-Gaussian data give "
            "sharp bumps whose peaks tile the ring, Gaussian-like data give broad bumps and "
            "oscillating profiles below the random-init IPR, and heavy-tailed Alg(5) lies in "
            "between" + ours + "."),
        "median_ipr": plotting.captioned(
            plots.many_median_ipr(ds, config.L),
            "Median neuron IPR over training (closure ODE as lines): sub-Gaussian data rise "
            "above the random-init level within a few hundred steps while Gaussian-like data "
            "stay below it, and the peaks of the localized neurons spread over the whole ring."),
    }


BATCH_FIELDS = (*simulate.BATCH_FIELDS, "bias_value")  #: a sweep over these compiles once

STUDY = Study(
    name="localization_many",
    claim="With K ReLU neurons and an averaging read-out, most neurons localize on "
          "sub-Gaussian data (their peaks tile the ring) and none on Gaussian data, as the "
          "single-neuron theory predicts.",
    paper="Lufkin, Saxe & Grant, Nonlinear dynamics of localization in neural receptive "
          "fields, NeurIPS 2024",
    config=ManyConfig,
    presets={
        "quick": Preset(seeds=1, doc="K = 20 ReLU, no bias, eta = 20 x 0.05, 2000 steps: "
                                     "NLGP g = 100 and 0.01, Alg(30), Alg(5)"),
        "paper": Preset(
            seeds=1,
            values=dict(K=100, lr=5.0, steps=5000, record_every=100,
                        datasets=("nlgp:100", "nlgp:0.01", "alg:6", "alg:5")),
            doc="Fig. 5: K = 100 ReLU, no bias, eta = 5, 5000 steps; Alg(6) vs Alg(5)",
            cost="about 1 min on 2 CPU cores (49 s CPU)"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
