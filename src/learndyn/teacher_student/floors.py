r"""Final errors of over-parameterised students with label noise: ODE fixed points from
informed starts (Goldt et al., NeurIPS 2019, Sec. 3-4).

With label noise sigma a student of K = M + L units trained online settles at a fixed point of
the ODEs of :mod:`.theory`, its final error eps_g*:

- first layer only (v = v* = 1, T = I), erf: the first M units specialise (R = I) and the L
  surplus units shrink to Q_jj ~ lr sigma^2/2 (start of the search); for small lr
  eps_g* = (lr sigma^2/2 pi)(L + M/sqrt 3) (:func:`.theory.erf_floor_law`);
- first layer only, linear: every unit carries 1/K of the summed teacher (start of the
  search); exactly eps_g* = K lr sigma^2 / (2 (2 - K lr)) (:func:`.theory.linear_floor_law`);
- both layers, erf, K = c M: the denoising configuration (c students copy each teacher unit
  with v = v*/c, :func:`.theory.denoising_state`) is an exact fixed point at sigma = 0; with
  noise the fixed point continued from it has eps_g* falling with c.

First-layer students of any K are solved inside a student of ``width`` units whose extra units
have v = 0 (fixed): they have zero drift and do not touch the others' equations, so every K
shares one compiled right-hand side and Jacobian.
"""

from __future__ import annotations

import numpy as np

from . import theory

__all__ = ["denoising_floor", "first_layer_floor"]


def first_layer_floor(K: int, M: int, *, lr: float, sigma: float, activation: str = "erf",
                      width: int | None = None) -> theory.FixedPoint:
    """The first-layer fixed point of a K-unit student (v = v* = 1, T = I) from the informed
    start of the module docstring, solved inside a ``width``-unit student (default K)."""
    width = max(K, width or K)
    T = np.eye(M)
    if activation == "linear":
        Q = np.full((K, K), M / K**2) + 1e-3 * np.eye(K)
        R = np.tile(T.sum(0) / K, (K, 1))
    else:
        Q = np.diag(np.concatenate([np.ones(M), np.full(K - M, max(lr * sigma**2 / 2, 1e-12))]))
        R = np.zeros((K, M))
        R[:M] = np.eye(M)
    Qp, Rp, v = np.eye(width), np.zeros((width, M)), np.zeros(width)
    Qp[:K, :K], Rp[:K], v[:K] = Q, R, 1.0
    return theory.fixed_point(Qp, Rp, T, v, np.ones(M), lr=lr, sigma=sigma,
                              activation=activation)


def denoising_floor(K: int, M: int, *, lr: float, sigma: float, width: int | None = None
                    ) -> tuple[theory.FixedPoint, float]:
    """Both layers, erf, K = c M: the fixed point continued from the denoising configuration
    at noise ``sigma``, and max |RHS| of the configuration itself at sigma = 0 (zero up to
    rounding: an exact fixed point). Solved inside a ``width``-unit student whose extra units
    (Q_jj = 1, R = 0, v = 0) stay inert also with v trained (erf is odd: dv_j = 0)."""
    width = max(K, width or K)
    T, vstar = np.eye(M), np.ones(M)
    Q, R, v = (np.asarray(x) for x in theory.denoising_state(T, vstar, K))
    Qp, Rp, vp = np.eye(width), np.zeros((width, M)), np.zeros(width)
    Qp[:K, :K], Rp[:K], vp[:K] = Q, R, v
    start = theory.OrderParameters(Qp, Rp, vp)
    drift = theory.drift(start, T, vstar, (lr, lr, 0.0, 0.0), train_second_layer=True)
    fp = theory.fixed_point(Qp, Rp, T, vp, vstar, lr=lr, sigma=sigma, train_second_layer=True)
    return fp, max(float(np.abs(d).max()) for d in drift)
