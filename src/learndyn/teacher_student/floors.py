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

from collections.abc import Sequence

import numpy as np
import xarray as xr

from . import theory

__all__ = ["denoising_floor", "first_layer_floor", "sweep"]


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


def sweep(M: int, sigma: float, *, erf_K: Sequence[int], erf_lrs: Sequence[float],
          linear_K: Sequence[int], linear_lr: float, linear_sigma: float,
          both_K: Sequence[int], both_lr: float) -> xr.Dataset:
    """Every fixed point of the module docstring for the given widths and rates (T = I,
    v* = 1), with the laws, residuals and largest Jacobian eigenvalues (NaN eps_g* where
    Newton did not converge). Each kind shares one compiled Jacobian (inert padding)."""
    def row(fp, residual=None, eigenvalue=True):
        return (fp.eg if fp.converged else np.nan, fp.residual if residual is None
                else residual, fp.max_real_eigenvalue if eigenvalue else np.nan)

    erf = np.array([[row(first_layer_floor(K, M, lr=lr, sigma=sigma, width=max(erf_K)))
                     for K in erf_K] for lr in erf_lrs]).transpose(2, 0, 1)
    lin = np.array([row(first_layer_floor(K, M, lr=linear_lr, sigma=linear_sigma,
                                          activation="linear", width=max(linear_K)),
                        eigenvalue=False) for K in linear_K]).T
    both = np.array([row(*denoising_floor(K, M, lr=both_lr, sigma=sigma, width=max(both_K)))
                     for K in both_K]).T
    e, k = ("eta", "K_erf"), "K_both"
    return xr.Dataset(
        {"erf_floor_theory": (e, erf[0]), "erf_floor_residual": (e, erf[1]),
         "erf_floor_eigenvalue": (e, erf[2]),
         "erf_floor_law": (e, np.asarray(theory.erf_floor_law(
             np.asarray(erf_K)[None, :], M, np.asarray(erf_lrs)[:, None], sigma))),
         "linear_floor_theory": ("K_linear", lin[0]),
         "linear_floor_law": ("K_linear", theory.linear_floor_law(np.asarray(linear_K),
                                                                  linear_lr, linear_sigma)),
         "denoising_floor_theory": (k, both[0]), "denoising_residual": (k, both[1]),
         "denoising_eigenvalue": (k, both[2])},
        coords={"eta": list(erf_lrs), "K_erf": list(erf_K), "K_linear": list(linear_K),
                "K_both": list(both_K)})
