"""Effective single-neuron dynamics of Lufkin, Saxe & Grant (NeurIPS 2024), float64.

For a ReLU neuron y_hat = relu(w.x) trained on the two-class task (p0 = p1 = 1/2, loss
(y_hat - y)^2), sign symmetry of each class gives exactly

    -grad L = E_1[x 1{s > 0}] - (1/2)(Sigma0 + Sigma1) w,      s = w.x,

with Sigma_c the covariance of x in class c. Taking s Gaussian given x_i (mean a_i sigma_s x_i,
variance sigma_s^2 (1 - a_i^2), a = Sigma1 w / sigma_s, sigma_s^2 = w^T Sigma1 w) gives
E_1[x_i 1{s > 0}] = phi(a_i) / 2 with

    phi(a) = E_x[ x erf( a x / sqrt(2 (1 - a^2)) ) ]      (x ~ one site's marginal),

odd, phi(+-1) = +-E|x|, Gaussian: sqrt(2/pi) a (exact), Rademacher: erf(a / sqrt(2(1-a^2))),
small a: sqrt(2/pi) [a + (3 - kappa)/6 a^3 + O(a^5)]. The effective dynamics in SGD steps
(Euler step 1 per SGD step of rate eta):

    w <- w + (eta / 2) [ phi(a(w)) - (Sigma0 + Sigma1) w ].

Elliptical data have E[x | s] linear in s, so the drive is exactly c_ell a with
c_ell = E|s / sigma_s| (:func:`c_elliptical`): :func:`phi` returns that line for them, never
the marginal-based phi (the shell's kurtosis is below 3, yet it does not localize).
With phi = c a the fixed points are Fourier modes; the stable one for xi1 > xi0 is uniform,
||w*|| = c sqrt(s1) / (s0 + s1), s_c the row sums of Sigma_c (:func:`linear_fixed_point`).

:func:`integrate_many` is our Gaussian closure for K neurons with a fixed averaging read-out
(not from the paper): dw_k/dt = (eta/K) [phi(a_k)/2 - (1/K) sum_c sum_j M_c(j, k)],
M_c(j, k) = Sigma_c w_j (1/4 + arcsin(rho_jk)/(2 pi)) + Sigma_c w_k sigma_j sqrt(1-rho_jk^2)
/ (2 pi sigma_k) (Stein's lemma; exact for j = k, so K = 1 is the single-neuron map).
"""

from __future__ import annotations

import functools
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from ..core.precision import float64
from . import data

__all__ = [
    "PhiTable", "c_elliptical", "integrate", "integrate_many", "interpolate", "linear_fixed_point",
    "phi",
    "phi_expansion", "phi_quadrature", "phi_rademacher", "phi_slope", "phi_table",
    "predicted_regime",
    "small_a_fit",
]

#: kurtosis at or below which a single neuron is predicted to localize within the run
LOCALIZING_KURTOSIS = 2.0
#: kurtosis at or above which (Gaussian to super-Gaussian) it is predicted not to
DELOCALIZED_KURTOSIS = 2.99


def predicted_regime(marginal: data.Marginal, *, L: int | None = None) -> str | None:
    """"localized" for clearly sub-Gaussian marginals (kurtosis <= 2), "delocalized" for
    elliptical data (exact linear drive) and kurtosis >= 2.99, None in between (the
    amplifier (3 - kappa)/6 is weak there and the outcome depends on time and noise)."""
    if isinstance(marginal, data.Elliptical):
        return "delocalized"
    kappa = data.kurtosis(marginal, L=L)
    if kappa <= LOCALIZING_KURTOSIS:
        return "localized"
    return "delocalized" if kappa >= DELOCALIZED_KURTOSIS else None

_SQRT_2_PI = math.sqrt(2.0 / math.pi)


def c_elliptical(marginal: data.Elliptical, L: int) -> float:
    """c_ell = E|s/sigma_s| = sqrt(L / E r^2) E[r] Gamma(L/2) / (sqrt(pi) Gamma((L+1)/2))."""
    return marginal.abs_mean(L)


def _linear_coefficient(marginal: data.Marginal, L: int | None) -> float | None:
    if isinstance(marginal, data.Elliptical):
        if L is None:
            raise TypeError("the elliptical drive depends on L: pass L=")
        return c_elliptical(marginal, L)
    if isinstance(marginal, data.Gaussian):
        return _SQRT_2_PI
    return None


def _nodes(marginal: data.Marginal) -> tuple[np.ndarray, np.ndarray]:
    """x and weights of the latent quadrature, without nodes that cannot matter for phi or
    phi' (w (|x| + x^2) < 1e-30: the Gaussian tail beyond them)."""
    z, x, w = data.quadrature(marginal)
    keep = w * (np.abs(x) + x**2) > 1e-30
    return x[keep], w[keep]


def phi_quadrature(a: np.ndarray, marginal: data.Marginal) -> np.ndarray:
    """phi by the latent quadrature for any single-site marginal (also the Gaussian, whose
    closed form :func:`phi` uses; float64 NumPy in and out)."""
    a = np.asarray(a, dtype=np.float64)
    x, w = _nodes(marginal)
    flat = np.clip(a.ravel(), -1.0, 1.0)
    out = np.empty_like(flat)
    inner = np.abs(flat) < 1.0
    scale = flat[inner] / np.sqrt(2.0 * np.maximum(1.0 - flat[inner] ** 2, 1e-12))
    vals = np.empty(scale.shape)
    for i in range(0, len(scale), 128):  # (128, nodes) blocks keep memory small
        vals[i:i + 128] = special.erf(scale[i:i + 128, None] * x[None, :]) @ (w * x)
    out[inner] = vals
    out[~inner] = np.sign(flat[~inner]) * marginal.abs_mean()
    return out.reshape(a.shape)


@float64
def phi(a, marginal: data.Marginal, *, L: int | None = None) -> np.ndarray:
    """phi(a) = E[x erf(a x / sqrt(2(1 - a^2)))] for the marginal, array like ``a`` (float64).

    Gaussian: sqrt(2/pi) a; elliptical (needs ``L``): the exact linear drive c_ell a;
    otherwise quadrature over the latent variable (|a| >= 1 gives sign(a) E|x|).
    """
    a = np.asarray(a, dtype=np.float64)
    c = _linear_coefficient(marginal, L)
    if c is not None:
        return c * a
    return phi_quadrature(a, marginal)


@float64
def phi_slope(a, marginal: data.Marginal, *, L: int | None = None) -> np.ndarray:
    """phi'(a) = sqrt(2/pi) (1 - a^2)^(-3/2) E[x^2 exp(-a^2 x^2 / (2(1 - a^2)))] (|a| < 1)."""
    a = np.asarray(a, dtype=np.float64)
    c = _linear_coefficient(marginal, L)
    if c is not None:
        return np.full_like(a, c)
    x, w = _nodes(marginal)
    flat = a.ravel()
    q = np.maximum(1.0 - flat**2, 1e-24)
    out = np.empty_like(flat)
    for i in range(0, len(flat), 128):
        e = np.exp(-(flat[i:i + 128, None] ** 2) * x[None, :] ** 2 / (2 * q[i:i + 128, None]))
        out[i:i + 128] = _SQRT_2_PI * q[i:i + 128] ** -1.5 * (e @ (w * x**2))
    return out.reshape(a.shape)


@float64
def phi_rademacher(a) -> np.ndarray:
    """phi for +-1 inputs (NLGP as g -> inf): erf(a / sqrt(2(1 - a^2)))."""
    a = np.clip(np.asarray(a, dtype=np.float64), -1.0, 1.0)
    return special.erf(a / np.sqrt(2.0 * np.maximum(1.0 - a**2, 1e-300)))


@float64
def phi_expansion(a, kurtosis: float) -> np.ndarray:
    """Small-a form sqrt(2/pi) [a + (3 - kappa)/6 a^3] (the localization amplifier)."""
    a = np.asarray(a, dtype=np.float64)
    return _SQRT_2_PI * (a + (3.0 - kurtosis) / 6.0 * a**3)


def small_a_fit(a: np.ndarray, phi_values: np.ndarray, *, a_max: float = 0.3) -> float:
    """b from the least-squares fit phi/sqrt(2/pi) - a = b a^3 + c a^5 on |a| <= a_max
    (b = (3 - kappa)/6 for marginals with a finite sixth moment)."""
    a, y = np.asarray(a, np.float64), np.asarray(phi_values, np.float64)
    keep = np.abs(a) <= a_max
    a, y = a[keep], y[keep] / _SQRT_2_PI - a[keep]
    coef, *_ = np.linalg.lstsq(np.stack([a**3, a**5], axis=1), y, rcond=None)
    return float(coef[0])


class PhiTable(NamedTuple):
    """phi tabulated on theta = arcsin(a), uniform on [-pi/2, pi/2], with dphi/dtheta, for
    cubic Hermite interpolation inside jitted code (:func:`interpolate`)."""

    step: float
    values: np.ndarray
    slopes: np.ndarray


@functools.cache
def _table(marginal: data.Marginal, L: int | None, n: int, notebook: bool) -> PhiTable:
    theta = np.linspace(-np.pi / 2, np.pi / 2, n)
    a = np.sin(theta)
    if notebook:  # the reference notebook's small-a form, without sqrt(2/pi) on the cubic
        kappa = data.kurtosis(marginal, L=L)
        values = _SQRT_2_PI * a + (3.0 - kappa) / 6.0 * a**3
        slopes = (_SQRT_2_PI + (3.0 - kappa) / 2.0 * a**2) * np.cos(theta)
    else:
        values = phi(a, marginal, L=L)
        slopes = phi_slope(a, marginal, L=L) * np.cos(theta)
        slopes[[0, -1]] = 0.0
    values = 0.5 * (values - values[::-1])  # exactly odd
    slopes = 0.5 * (slopes + slopes[::-1])
    return PhiTable(float(theta[1] - theta[0]), values, slopes)


def phi_table(marginal: data.Marginal, *, L: int | None = None, n: int = 1001,
              notebook_conventions: bool = False) -> PhiTable:
    """phi on an odd-symmetric grid in theta = arcsin(a) (cached per marginal)."""
    return _table(marginal, L, n, notebook_conventions)


def interpolate(table, a: jax.Array) -> jax.Array:
    """phi(a) from a :class:`PhiTable` (arrays may be traced): cubic Hermite in theta."""
    step, values, slopes = table
    theta = jnp.arcsin(jnp.clip(a, -1.0, 1.0)) + jnp.pi / 2
    j = jnp.clip(jnp.floor(theta / step).astype(jnp.int32), 0, values.shape[0] - 2)
    t = theta / step - j
    h00, h10 = (1 + 2 * t) * (1 - t) ** 2, t * (1 - t) ** 2
    h01, h11 = t**2 * (3 - 2 * t), t**2 * (t - 1)
    return (h00 * values[j] + h10 * step * slopes[j] + h01 * values[j + 1]
            + h11 * step * slopes[j + 1])


def _drive(w, table, S1):
    Sw = S1 @ w
    return interpolate(table, Sw / jnp.sqrt(w @ Sw))


@partial(jax.jit, static_argnums=(5, 6))
def _euler(w0, table, S01, S1, rate, n_records, every):
    def record(w, _):
        def body(_, w):
            return w + rate * (_drive(w, table, S1) - S01 @ w)

        w = jax.lax.fori_loop(0, every, body, w)
        return w, w

    _, ws = jax.lax.scan(record, w0, None, length=n_records)
    return jnp.concatenate([w0[None], ws])


def _check_run(steps: int, record_every: int) -> None:
    if record_every < 1 or steps < record_every:
        raise ValueError(f"need 1 <= record_every <= steps, got {record_every}, {steps}")


@float64
def integrate(w0, m: data.Marginal, *, L: int = 40, xi0: float = 1.0, xi1: float = 3.0,
              lr: float = 0.05, steps: int = 2000, record_every: int = 10,
              notebook_conventions: bool = False) -> np.ndarray:
    """The effective map w <- w + (lr/2)[phi(a(w)) - (Sigma0 + Sigma1) w] from ``w0``.

    Sigma_c are the exact covariances of the marginal (:func:`data.covariance`).
    ``w0`` (..., L), nonzero; returns (..., steps // record_every + 1, L): w at steps
    0, record_every, ... ``notebook_conventions``: the reference notebook's variant,
    w <- w + (lr/2)[sqrt(2/pi) a + (3 - kappa)/6 a^3 - (Sigma0 + Sigma1) w / 2] (comparison only).
    """
    _check_run(steps, record_every)
    w0 = np.asarray(w0, dtype=np.float64)
    if w0.shape[-1] != L:
        raise ValueError(f"w0 has {w0.shape[-1]} sites, L = {L}")
    if np.any(np.linalg.norm(w0, axis=-1) == 0):
        raise ValueError("the effective dynamics are undefined at w = 0")
    S0, S1 = (data.covariance(m, L=L, xi=xi) for xi in (xi0, xi1))
    S01 = (S0 + S1) * (0.5 if notebook_conventions else 1.0)
    table = phi_table(m, L=L, notebook_conventions=notebook_conventions)
    table = (table.step, jnp.asarray(table.values), jnp.asarray(table.slopes))
    flat = w0.reshape(-1, L)
    run = jax.vmap(_euler, in_axes=(0, None, None, None, None, None, None))
    out = run(jnp.asarray(flat), table, jnp.asarray(S01), jnp.asarray(S1), lr / 2.0,
              steps // record_every, record_every)
    return np.asarray(out).reshape(w0.shape[:-1] + out.shape[1:])


def _many_drift(W, table, S0, S1):
    K = W.shape[0]
    out = 0.5 * jax.vmap(lambda w: _drive(w, table, S1))(W)
    for S in (S0, S1):
        WS = W @ S
        G = WS @ W.T
        sd = jnp.sqrt(jnp.diag(G))
        rho = jnp.clip(G / (sd[:, None] * sd[None, :]), -1.0, 1.0)
        P = 0.25 + jnp.arcsin(rho) / (2 * jnp.pi)
        Q = sd[:, None] * jnp.sqrt(1.0 - rho**2) / (2 * jnp.pi)
        out = out - (P.T @ WS + (Q.sum(0) / sd)[:, None] * WS) / K
    return out


@partial(jax.jit, static_argnums=(5, 6))
def _euler_many(W0, table, S0, S1, rate, n_records, every):
    def record(W, _):
        W = jax.lax.fori_loop(0, every, lambda _, W: W + rate * _many_drift(W, table, S0, S1), W)
        return W, W

    _, Ws = jax.lax.scan(record, W0, None, length=n_records)
    return jnp.concatenate([W0[None], Ws])


@float64
def integrate_many(W0, m: data.Marginal, *, L: int = 40, xi0: float = 1.0, xi1: float = 3.0,
                   lr: float = 1.0, steps: int = 2000, record_every: int = 10) -> np.ndarray:
    """Our Gaussian-closure ODE for K ReLU neurons (no bias) with the fixed read-out
    y_hat = mean_k relu(w_k.x), trained at network rate ``lr`` (per-neuron rate lr/K).

    ``W0`` (..., K, L); returns (..., steps // record_every + 1, K, L).
    """
    _check_run(steps, record_every)
    W0 = np.asarray(W0, dtype=np.float64)
    K = W0.shape[-2]
    S0, S1 = (jnp.asarray(data.covariance(m, L=L, xi=xi)) for xi in (xi0, xi1))
    table = phi_table(m, L=L)
    table = (table.step, jnp.asarray(table.values), jnp.asarray(table.slopes))
    flat = W0.reshape(-1, K, L)
    run = jax.vmap(_euler_many, in_axes=(0, None, None, None, None, None, None))
    out = run(jnp.asarray(flat), table, S0, S1, lr / K, steps // record_every, record_every)
    return np.asarray(out).reshape(W0.shape[:-2] + out.shape[1:])


@float64
def linear_fixed_point(*, L: int, xi0: float, xi1: float, c: float = _SQRT_2_PI,
                       marginal: data.Marginal | None = None) -> np.ndarray:
    """The stable fixed point of the linear drive phi = c a: the uniform vector with norm
    c sqrt(s1) / (s0 + s1), s_c = row sum of Sigma_c (Gaussian data unless ``marginal``)."""
    m = data.Gaussian() if marginal is None else marginal
    s0, s1 = (data.covariance(m, L=L, xi=xi)[0].sum() for xi in (xi0, xi1))
    return np.full(L, c * math.sqrt(s1) / (s0 + s1) / math.sqrt(L))
