"""What is measured on receptive fields (Lufkin, Saxe & Grant, NeurIPS 2024).

All functions act on the last axis (sites of the ring) and work on NumPy or JAX arrays:

- IPR(w) = sum_i w_i^4 / (sum_i w_i^2)^2 in [1/L, 1]: 1/L for uniform weights, 1 for one site;
  random Gaussian weights have IPR ~ 3/L;
- peak site argmax_i |w_i|; receptive-field centre, the circular mean of the sites under
  p_i = w_i^2 / sum w^2, and spread 1 - |sum_i p_i exp(2 pi i i / L)| (0: one site, 1: flat);
- circular distance between sites, cosine between two weight vectors.
"""

from __future__ import annotations

import numpy as np

__all__ = ["circular_distance", "cosine", "ipr", "peak_site", "rf_center", "rf_spread"]


def ipr(w):
    """Inverse participation ratio over the last axis."""
    w2 = w**2
    return (w2**2).sum(-1) / w2.sum(-1) ** 2


def peak_site(w) -> np.ndarray:
    """Site of the largest |w_i| (integer array)."""
    return np.argmax(np.abs(np.asarray(w)), axis=-1)


def _phasor(w) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    L = w.shape[-1]
    p = w**2 / (w**2).sum(-1, keepdims=True)
    return p @ np.exp(2j * np.pi * np.arange(L) / L)


def rf_center(w) -> np.ndarray:
    """Circular mean site in [0, L) under p_i proportional to w_i^2."""
    L = np.shape(w)[-1]
    return np.mod(np.angle(_phasor(w)) * L / (2 * np.pi), L)


def rf_spread(w) -> np.ndarray:
    """1 - |sum_i p_i e^(2 pi i i/L)|: 0 for a single site, 1 for a flat profile."""
    return 1.0 - np.abs(_phasor(w))


def circular_distance(i, j, L: int) -> np.ndarray:
    """min(|i - j|, L - |i - j|) on a ring of L sites."""
    d = np.abs(np.asarray(i) - np.asarray(j)) % L
    return np.minimum(d, L - d)


def cosine(u, v) -> np.ndarray:
    """Cosine between weight vectors over the last axis."""
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    return (u * v).sum(-1) / np.sqrt((u**2).sum(-1) * (v**2).sum(-1))
