"""Quadrature over the latent Gaussian variable z of a marginal x = T(z) (Lufkin, Saxe &
Grant, NeurIPS 2024: every single-site quantity of the ring data is a 1-D Gaussian integral).

:func:`rule` is composite Gauss-Legendre on z >= 0 (geometric panels near 0, width 0.1 to 40);
:func:`quadrature` evaluates T at its nodes in float64, :func:`hermite_coefficients` gives the
Mehler-series coefficients c_m = E[T(z) h_m(z)] through bounded Hermite functions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["density", "expect", "hermite_coefficients", "quadrature", "rule"]


def density(z):
    """The standard normal density."""
    return np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)


@functools.cache
def rule(nodes: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre panels on [0, 40]: geometric from 1e-7 to 1 (steps of erf(g z) down to
    g ~ 1e6 and of erf at a -> 1), then width 0.1 (heavy tails, Hermite functions)."""
    edges = np.concatenate([[0.0], np.geomspace(1e-7, 1.0, 41), np.arange(1.1, 40.05, 0.1)])
    t, w = np.polynomial.legendre.leggauss(nodes)
    a, b = edges[:-1, None], edges[1:, None]
    return ((b - a) / 2 * t + (a + b) / 2).ravel(), ((b - a) / 2 * w).ravel()


@functools.cache
def quadrature(marginal) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes z >= 0, x = T(z) and weights (float64) with E[f(z, x)] = sum(w f(z, x)) for every
    f even under (z, x) -> (-z, -x) (x^4, |x|, x erf(a x), x h_n(z) for odd n, ...)."""
    if not getattr(marginal, "single_site", True):
        raise TypeError(f"{marginal.label}: no single-site transform x = T(z)")
    z, wz = rule()
    c = marginal.constants()
    with jax.enable_x64(True):  # one compiled call, not one per operation
        x = np.asarray(jax.jit(type(marginal).apply)(
            jnp.asarray(z), {k: jnp.float64(v) for k, v in c.items()}))
    w = 2.0 * wz * density(z)
    for arr in (z, x, w):
        arr.setflags(write=False)
    return z, x, w


def expect(marginal, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """E[fn(z, x)] over the marginal (fn even under sign flip; reduced over its last axis)."""
    z, x, w = quadrature(marginal)
    return np.sum(fn(z, x) * w, axis=-1)


@functools.cache
def hermite_coefficients(marginal, n: int) -> np.ndarray:
    """c_m = E[T(z) h_m(z)] for odd m = 1, 3, ..., <= n (h_m = He_m / sqrt(m!)), float64.

    Computed with Hermite functions psi_m = h_m sqrt(phi), which stay bounded at every order.
    """
    z, wz = rule()
    _, x, _ = quadrature(marginal)
    root = np.sqrt(density(z))
    weight = 2.0 * wz * x * root
    prev, cur = root, z * root  # psi_0, psi_1
    out = [np.sum(weight * cur)]
    for m in range(1, n - 1, 2):
        prev = (z * cur - np.sqrt(m) * prev) / np.sqrt(m + 1)  # psi_{m+1}
        cur = (z * prev - np.sqrt(m + 1) * cur) / np.sqrt(m + 2)  # psi_{m+2}
        out.append(np.sum(weight * cur))
    out = np.asarray(out)
    out.setflags(write=False)
    return out
