"""SGD beside the effective dynamics for several data sets: the run shared by the studies
``localization`` and ``localization_kurtosis`` (Lufkin, Saxe & Grant, NeurIPS 2024).

For every data set (marginal) and seed: a single ReLU neuron trained by online SGD from its
Glorot init, and the effective map of :func:`theory.integrate` from the same w(0). Beside them,
what the theory consumes is measured on each generator: the marginal variance and kurtosis
(``moment_rows`` rows per class), the covariance of both classes against the exact one, and
the drive E_1[x 1{w.x > 0}] at a random w against phi(a(w))/2 (exact for Gaussian and
elliptical data, the Gaussian-conditional approximation otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core.config import Config, ConfigError, param
from ..core.study import Progress
from . import data, model, observables, theory

__all__ = ["BATCH_FIELDS", "RingTaskConfig", "SingleNeuronConfig", "compare", "drive_sample",
           "final", "generator_statistics"]

#: fields that keep every array shape: the SGD loop takes the rate, the init scale and the
#: class factors (the correlation lengths) as traced arguments, so a sweep over them compiles once
BATCH_FIELDS = ("lr", "init_scale", "xi0", "xi1")

PHI_GRID = np.linspace(-1.0, 1.0, 401)  #: a-grid on which phi is stored (0.005 apart)


@dataclass(frozen=True)
class RingTaskConfig(Config):
    """The two-class ring task, online SGD and the data sets: fields shared by the studies."""

    datasets: tuple[str, ...] = param(
        ("nlgp:100", "nlgp:0.01", "alg:30", "alg:5", "elliptical:shell"),
        "data sets: nlgp:G, alg:K, gaussian, uniform, laplace, bernoulli, elliptical:shell|artanh")
    L: int = param(40, "sites on the ring", ge=3)
    xi0: float = param(1.0, "correlation length of class y = 0 (short range)", gt=0)
    xi1: float = param(3.0, "correlation length of class y = 1 (long range)", gt=0)
    lr: float = param(0.05, "SGD learning rate eta", gt=0)
    batch: int = param(1000, "samples per SGD step (half of each class)", ge=2)
    steps: int = param(2000, "SGD steps", ge=1)
    record_every: int = param(20, "steps between records", ge=1)
    init_scale: float = param(1e-3, "Glorot init variance factor", gt=0)
    balanced_batches: bool = param(True, "exactly half of each batch per class (else i.i.d.)")
    dtype: Literal["float32", "float64"] = param("float32", "simulation precision")

    def validate(self) -> None:
        if not self.datasets:
            raise ConfigError("config field 'datasets': give at least one data set")
        if len(set(self.datasets)) != len(self.datasets):
            raise ConfigError("config field 'datasets': data sets repeat")
        for spec in self.datasets:
            try:
                data.parse(spec)
            except ConfigError as err:
                raise ConfigError(f"config field 'datasets': {err}") from None
        if self.record_every > self.steps:
            raise ConfigError(f"config field 'record_every': at most steps = {self.steps}")
        if self.balanced_batches and self.batch % 2:
            raise ConfigError("config field 'batch': balanced batches need an even size")

    @property
    def marginals(self) -> list[data.Marginal]:
        return [data.parse(s) for s in self.datasets]

    @property
    def record_at(self) -> np.ndarray:
        return np.arange(self.steps // self.record_every + 1) * self.record_every


@dataclass(frozen=True)
class SingleNeuronConfig(RingTaskConfig):
    """One ReLU neuron, no bias, on the two-class ring task, one run per data set."""

    moment_rows: int = param(50000, "rows per class drawn to measure each generator", ge=1000)
    drive_samples: int = param(400000, "class-1 samples for the Monte Carlo drive", ge=1000)


def _var(ds: xr.Dataset, name: str, dims, values, long_name: str, units: str = "") -> None:
    ds[name] = (dims, np.asarray(values))
    ds[name].attrs.update(long_name=long_name, **({"units": units} if units else {}))


def _key(seed: int, stream: int) -> jax.Array:
    return jax.random.fold_in(jax.random.key(seed), stream)


@partial(jax.jit, static_argnums=(0, 1))
def _row_moments(draw, n, key, factor, c):
    x = draw(key, factor, n, c)
    power = jnp.abs(jnp.fft.rfft(x, axis=1)) ** 2
    return (x**2).mean(1), (x**4).mean(1), power.mean(0)


@partial(jax.jit, static_argnums=(0, 1))
def _drive_sums(draw, n, key, factor, c, w):
    x = draw(key, factor, n, c)
    y = 0.5 * x * jnp.sign(x @ w)[:, None]  # E[x 1{s>0}] = E[x sign(s)]/2 (x -> -x symmetry)
    return y.sum(0), (y**2).sum(0)


def _arrays(m: data.Marginal, L: int, xi: float, dtype: str):
    dt = jnp.dtype(dtype)
    return (jnp.asarray(data.ring_factor(L, xi), dt),
            {k: jnp.asarray(v, dt) for k, v in m.constants().items()})


def generator_statistics(m: data.Marginal, *, L: int, xi0: float, xi1: float, rows: int,
                         dtype: str = "float32", seed: int = 12345) -> dict[str, np.ndarray]:
    """Variance, kurtosis (and its standard error from 50 independent blocks of rows) and the
    circular covariance row of both classes, from ``rows`` samples per class."""
    second, fourth, cov = [], [], []
    for c, xi in enumerate((xi0, xi1)):
        factor, consts = _arrays(m, L, xi, dtype)
        x2, x4, power = (np.asarray(v, np.float64) for v in _row_moments(
            m.draw, rows, _key(seed, c), factor, consts))
        second.append(x2)
        fourth.append(x4)
        cov.append(np.fft.irfft(power, n=L) / L)  # (1/L) sum_i x_i x_(i+lag), row mean
    second, fourth = np.concatenate(second), np.concatenate(fourth)
    blocks = np.array_split(np.arange(len(second)), 50)
    kb = np.array([fourth[b].mean() / second[b].mean() ** 2 for b in blocks])
    return {"variance": second.mean(), "kurtosis": fourth.mean() / second.mean() ** 2,
            "kurtosis_se": kb.std(ddof=1) / math.sqrt(len(blocks)), "covariance": np.stack(cov)}


def drive_sample(m: data.Marginal, w: np.ndarray, *, L: int, xi: float, n: int,
                 dtype: str = "float32", seed: int = 54321) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo E[x 1{w.x > 0}] in class ``xi`` and its standard error (chunks of 1e5)."""
    factor, consts = _arrays(m, L, xi, dtype)
    w = jnp.asarray(w, factor.dtype)
    total, total2, done, i = 0.0, 0.0, 0, 0
    while done < n:
        k = min(100000, n - done)
        s1, s2 = _drive_sums(m.draw, k, _key(seed, i), factor, consts, w)
        total, total2 = total + np.asarray(s1, np.float64), total2 + np.asarray(s2, np.float64)
        done, i = done + k, i + 1
    mean = total / n
    return mean, np.sqrt((total2 / n - mean**2) / n)


def compare(config: SingleNeuronConfig, *, seeds, progress: Progress | None = None
            ) -> xr.Dataset:
    """SGD and the effective map per data set and seed, plus generator measurements."""
    cfg, marginals = config, config.marginals
    record_at = cfg.record_at
    recs = model.train(marginals, L=cfg.L, xi0=cfg.xi0, xi1=cfg.xi1, lr=cfg.lr, batch=cfg.batch,
                       record_at=record_at, seeds=seeds, init_scale=cfg.init_scale,
                       dtype=cfg.dtype, balanced=cfg.balanced_batches, progress=progress)
    w_sim = np.stack([r["W"][:, :, 0, :] for r in recs]).astype(np.float64)  # (D, S, R, L)
    w_th = np.stack([theory.integrate(w_sim[d, :, 0], m, L=cfg.L, xi0=cfg.xi0, xi1=cfg.xi1,
                                      lr=cfg.lr, steps=int(record_at[-1]),
                                      record_every=cfg.record_every)
                     for d, m in enumerate(marginals)])
    kappa = [data.kurtosis(m, L=cfg.L) for m in marginals]
    ds = xr.Dataset(coords={
        "dataset": list(cfg.datasets), "seed": list(seeds), "time": record_at,
        "site": np.arange(cfg.L), "a": PHI_GRID, "xi": [cfg.xi0, cfg.xi1],
        "lag": np.arange(cfg.L)})
    ds = ds.assign_coords(label=("dataset", [m.label for m in marginals]),
                          kurtosis=("dataset", kappa),
                          elliptical=("dataset", [isinstance(m, data.Elliptical)
                                                  for m in marginals]))
    attrs = {"dataset": ("data set (marginal law)", ""), "seed": ("seed", ""),
             "time": ("SGD step", "steps"), "site": ("site on the ring", ""),
             "a": ("correlation a = corr(w.x, x_i)", ""), "xi": ("correlation length", "sites"),
             "lag": ("ring distance |i - j|", "sites"), "label": ("data set", ""),
             "kurtosis": ("exact marginal kurtosis E[x^4]", ""),
             "elliptical": ("elliptical data (exact linear drive)", "")}
    for name, (long_name, units) in attrs.items():
        ds[name].attrs.update(long_name=long_name, **({"units": units} if units else {}))
    dims = ("dataset", "seed", "time")
    for kind, w in (("sim", w_sim), ("theory", w_th)):
        who = "SGD" if kind == "sim" else "effective ODE"
        _var(ds, f"weights_{kind}", dims + ("site",), w, f"weights w_i ({who})")
        _var(ds, f"ipr_{kind}", dims, observables.ipr(w), f"IPR ({who})")
        _var(ds, f"weight_norm_{kind}", dims, np.linalg.norm(w, axis=-1), f"||w|| ({who})")
        _var(ds, f"peak_site_{kind}", dims, observables.peak_site(w), f"peak site ({who})")
        _var(ds, f"rf_center_{kind}", dims, observables.rf_center(w),
             f"receptive-field centre ({who})", "sites")
        _var(ds, f"rf_spread_{kind}", dims, observables.rf_spread(w),
             f"receptive-field spread ({who})")
    _var(ds, "cosine_sim_theory", dims, observables.cosine(w_sim, w_th),
         "cosine between SGD and ODE weights")
    _var(ds, "loss_sim", dims, np.stack([r["loss"] for r in recs]), "batch loss (SGD)")
    _var(ds, "accuracy_sim", dims, np.stack([r["accuracy"] for r in recs]),
         "batch accuracy (SGD)")
    stats = [generator_statistics(m, L=cfg.L, xi0=cfg.xi0, xi1=cfg.xi1, rows=cfg.moment_rows,
                                  dtype=cfg.dtype) for m in marginals]
    for name, key, long_name in (
            ("variance_sample", "variance", "marginal variance"),
            ("kurtosis_sample", "kurtosis", "marginal kurtosis"),
            ("kurtosis_sample_se", "kurtosis_se", "standard error of the sample kurtosis")):
        _var(ds, name, ("dataset",), [s[key] for s in stats], f"{long_name} (generator sample)")
    _var(ds, "covariance_sample", ("dataset", "xi", "lag"), [s["covariance"] for s in stats],
         "covariance of x_i, x_(i+lag) (generator sample)")
    _var(ds, "covariance_theory", ("dataset", "xi", "lag"),
         [[data.covariance(m, L=cfg.L, xi=xi)[0] for xi in (cfg.xi0, cfg.xi1)]
          for m in marginals], "covariance of x_i, x_(i+lag) (exact)")
    _var(ds, "phi_theory", ("dataset", "a"), [theory.phi(PHI_GRID, m, L=cfg.L)
                                              for m in marginals], "phi(a)")
    _var(ds, "cubic_coef_theory", ("dataset",),
         math.sqrt(2 / math.pi) * (3.0 - np.asarray(kappa)) / 6.0,
         "small-a cubic coefficient sqrt(2/pi)(3 - kappa)/6")
    # a smooth random w (a draw of the xi1 latent field), like the weights SGD produces
    w_rand = data.ring_factor(cfg.L, cfg.xi1) @ np.random.default_rng(7).normal(size=cfg.L)
    S1 = [data.covariance(m, L=cfg.L, xi=cfg.xi1) for m in marginals]
    drive = [drive_sample(m, w_rand, L=cfg.L, xi=cfg.xi1, n=cfg.drive_samples, dtype=cfg.dtype)
             for m in marginals]
    _var(ds, "drive_sample", ("dataset", "site"), [d[0] for d in drive],
         "E_1[x 1{w.x > 0}] at a random w (Monte Carlo)")
    _var(ds, "drive_sample_se", ("dataset", "site"), [d[1] for d in drive],
         "standard error of the Monte Carlo drive")
    a_w = [S @ w_rand / math.sqrt(w_rand @ S @ w_rand) for S in S1]
    _var(ds, "drive_a", ("dataset", "site"), a_w, "a_i(w) at the random w")
    _var(ds, "drive_theory", ("dataset", "site"),
         [0.5 * theory.phi(a, m, L=cfg.L) for m, a in zip(marginals, a_w)],
         "phi(a(w))/2 at the same random w")
    return ds


def final(ds: xr.Dataset, name: str) -> xr.DataArray:
    """A variable at the last record."""
    return ds[name].isel(time=-1)
