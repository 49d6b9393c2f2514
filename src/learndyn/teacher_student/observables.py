"""What is measured in teacher-student runs (Goldt et al., NeurIPS 2019).

- eps_g from a run's own order parameters (:func:`learndyn.teacher_student.theory.
  generalisation_error`: exact given Q, R, T, v; no test-set noise), and optionally a Monte-Carlo
  estimate on fresh test inputs (:func:`eg_monte_carlo`, any activation);
- log-log comparisons of error curves (:func:`log10_gap`), the local slope d ln eps / d ln t
  (:func:`log_slope`), escape times from a plateau (:func:`crossing_times`);
- time averages over the end of a run (:func:`tail_mean`) and the dead-unit flag of
  over-parameterised both-layer runs (:func:`stuck`);
- what every variable of the teacher-student datasets means (:data:`ATTRS`, :func:`describe`).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from . import model

__all__ = ["ATTRS", "crossing_times", "describe", "eg_monte_carlo", "log10_gap", "log_slope",
           "stuck", "tail_mean"]

#: long_name and units of the variables and coordinates of the teacher-student datasets;
#: ``<q>_sim`` and ``<q>_theory`` take the entry of ``q`` and say which they are
ATTRS: dict[str, tuple[str, str]] = {
    "time": ("training time t = steps / N", "steps/N"),
    "time_sym": ("time of the ODE from the symmetric start", "steps/N"),
    "step": ("SGD steps (one sample each)", "steps"),
    "seed": ("seed (teacher, student and data)", ""),
    "activation": ("activation g of teacher and student", ""),
    "student": ("student unit i", ""),
    "student2": ("student unit k", ""),
    "teacher": ("teacher unit n", ""),
    "teacher2": ("teacher unit m", ""),
    "eg": ("generalisation error eps_g", ""),
    "eg_mc": ("eps_g at the end on fresh test inputs (Monte Carlo)", ""),
    "Q": ("student-student overlap Q_ik = w_i.w_k/N", ""),
    "R": ("student-teacher overlap R_in = w_i.w*_n/N", ""),
    "v": ("second-layer weight v_i", ""),
    "T": ("teacher-teacher overlap T_nm = w*_n.w*_m/N", ""),
    "vstar": ("teacher second-layer weight v*_n", ""),
    "eg_sym": ("eps_g of the ODE from the symmetric start R = 0, Q = T = I", ""),
    "eg_plateau": ("eps_g of the symmetric (plateau) fixed point", ""),
    "eg_floor": ("final eps_g: ODE fixed point near the run's end (ReLU: the ODE at t_max)", ""),
    "run": ("SGD run (activation, trained layers, width K)", ""),
    "layers": ("trained layers (first: w only; both: w and v)", ""),
    "K_sim": ("student width K of the SGD run", "units"),
    "eg_star": ("final error eps_g* (mean over the last part of the run)", ""),
    "eg_star_law": ("final error of the asymptotic law", ""),
    "stuck": ("run stuck on a dead-unit plateau", ""),
    "ode_solved": ("the ODE from this seed's start finished within its step budget", ""),
    "eta": ("learning rate eta (erf first-layer fixed points)", ""),
    "K_erf": ("student width K (erf first layer)", "units"),
    "K_linear": ("student width K (linear first layer)", "units"),
    "K_both": ("student width K (erf both layers)", "units"),
    "erf_floor": ("erf first layer: final error eps_g* (ODE fixed point)", ""),
    "erf_floor_law": ("erf first layer: small-eta law (eta sigma^2/2pi)(L + M/sqrt 3)", ""),
    "erf_floor_residual": ("erf first layer: max |RHS| at the fixed point", "1/time"),
    "erf_floor_eigenvalue": ("erf first layer: largest real Jacobian eigenvalue", "1/time"),
    "linear_floor": ("linear first layer: final error eps_g* (ODE fixed point)", ""),
    "linear_floor_law": ("linear first layer: exact law K eta sigma^2/(2(2 - K eta))", ""),
    "denoising_floor": ("erf both layers: eps_g* continued from the denoising state", ""),
    "denoising_residual": ("erf both layers: max |RHS| at the denoising state, sigma = 0",
                           "1/time"),
    "denoising_eigenvalue": ("erf both layers: largest real Jacobian eigenvalue", "1/time"),
}
_SOURCES = {"sim": "simulation", "theory": "ODE"}


def describe(ds: xr.Dataset) -> xr.Dataset:
    """Set ``long_name`` (and ``units`` where there is one) on every variable and coordinate
    of ``ds`` from :data:`ATTRS`, in place; returns ``ds``."""
    for name in [*ds.data_vars, *ds.coords]:
        stem, _, source = str(name).rpartition("_")
        long_name, units = ATTRS.get(str(name)) or ATTRS[stem]
        if str(name) not in ATTRS:
            long_name = f"{long_name} ({_SOURCES[source]})"
        ds[name].attrs.update(long_name=long_name, **({"units": units} if units else {}))
    return ds


@partial(jax.jit, static_argnames=("g", "n_samples", "chunk"))
def _eg_mc(key, w, v, wstar, vstar, *, g, n_samples, chunk):
    def body(total, k):
        x = jax.random.normal(k, (chunk, w.shape[-1]), dtype=w.dtype)
        diff = (jax.vmap(lambda x: model.output(g, w, v, x))(x)
                - jax.vmap(lambda x: model.output(g, wstar, vstar, x))(x))
        return total + jnp.sum(diff.astype(jnp.float64) ** 2), None

    total, _ = jax.lax.scan(body, jnp.float64(0.0), jax.random.split(key, n_samples // chunk))
    return 0.5 * total / (n_samples // chunk * chunk)


def eg_monte_carlo(key, w, v, wstar, vstar, *, g: str = "erf", n_samples: int = 100_000,
                   chunk: int = 1000):
    """eps_g = 1/2 <(phi - phi*)^2> estimated on ``n_samples`` fresh Gaussian test inputs."""
    chunk = min(chunk, n_samples)
    return _eg_mc(key, jnp.asarray(w), jnp.asarray(v), jnp.asarray(wstar), jnp.asarray(vstar),
                  g=g, n_samples=n_samples, chunk=chunk)


def log10_gap(a, b, *, floor: float = 1e-10) -> np.ndarray:
    """|log10 a - log10 b| where both exceed ``floor`` (NaN elsewhere)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = (a > floor) & (b > floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, np.abs(np.log10(np.where(ok, a, 1.0))
                                   - np.log10(np.where(ok, b, 1.0))), np.nan)


def log_slope(times, eg) -> np.ndarray:
    """d ln eps / d ln t along the last axis (times > 0)."""
    times = np.asarray(times, dtype=np.float64)
    return np.gradient(np.log(np.asarray(eg, dtype=np.float64)), np.log(times), axis=-1)


def crossing_times(times, eg, level) -> np.ndarray:
    """First time eps falls below ``level`` (log-linear interpolation); NaN if never.

    ``eg`` has shape (..., time); ``level`` broadcasts against its leading shape.
    """
    times, eg = np.asarray(times, dtype=np.float64), np.asarray(eg, dtype=np.float64)
    level = np.broadcast_to(np.asarray(level, dtype=np.float64), eg.shape[:-1])
    below = eg < level[..., None]
    first = np.argmax(below, axis=-1)
    reached = below.any(axis=-1)
    i1 = np.maximum(first, 1)
    e1 = np.log(np.take_along_axis(eg, i1[..., None], -1)[..., 0])
    e0 = np.log(np.take_along_axis(eg, (i1 - 1)[..., None], -1)[..., 0])
    t1, t0 = times[i1], times[i1 - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((e0 - np.log(level)) / (e0 - e1), 0.0, 1.0)
    t = np.where(first == 0, times[0], t0 + frac * (t1 - t0))
    return np.where(reached, t, np.nan)


def tail_mean(times, values, fraction: float = 0.1) -> np.ndarray:
    """Mean of ``values`` (..., time) over the last ``fraction`` of the time span."""
    times = np.asarray(times, dtype=np.float64)
    mask = times >= times[-1] - fraction * (times[-1] - times[0])
    return np.asarray(values)[..., mask].mean(axis=-1)


def stuck(eg_late, v_late, R_late, eg_ref, *, v_dead: float = 0.05, r_dead: float = 0.1):
    """Dead-unit plateau flag of a both-layer run (the both-layer run's check).

    True when eps_g stays above 10 eg_ref over the late records (``eg_late``: (..., time)) while
    some unit has |v_k| < ``v_dead`` and max_n |R_kn| < ``r_dead`` at the end
    (``v_late``: (..., K), ``R_late``: (..., K, M)).
    """
    high = np.all(np.asarray(eg_late) > 10.0 * eg_ref, axis=-1)
    dead = np.any((np.abs(v_late) < v_dead) & (np.max(np.abs(R_late), axis=-1) < r_dead),
                  axis=-1)
    return high & dead
