"""Whitened regression tasks for deep linear networks (Saxe, McClelland & Ganguli, ICLR 2014).

A task is inputs X (N_i x P) and targets Y (N_o x P) with a reduction constant c (1 = sum over
items, 1/P = mean). Its correlations are Sigma_xx = c X X^T and Sigma_yx = c Y X^T; the theory
needs whitened inputs, Sigma_xx = I, and then the loss is

    L(W) = (c/2) ||Y - W X||_F^2 = 1/2 ||W - Sigma_yx||_F^2 + 1/2 (tr Sigma_yy - ||Sigma_yx||_F^2).

Learning decouples along the SVD Sigma_yx = U S V^T ("modes", s_1 >= s_2 >= ... > 0).

- :func:`toy_task`: prescribed singular values, Haar-random singular vectors, X = I, c = 1.
- :func:`hierarchy_task`: items at the leaves of a binary tree, one-hot inputs, features made by
  sign-flipping diffusion down the tree (Saxe et al.'s hierarchical dataset).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.config import ConfigError

__all__ = ["Task", "haar_orthogonal", "hierarchy_task", "make_task", "toy_task"]


class Task(NamedTuple):
    """A whitened regression task and the SVD of its input-output correlation."""

    X: np.ndarray
    Y: np.ndarray
    c: float
    sigma_yx: np.ndarray
    U: np.ndarray  # (N_o, r) left singular vectors of the r modes with s > 0
    s: np.ndarray  # (r,) singular values, decreasing
    V: np.ndarray  # (N_i, r) right singular vectors

    @property
    def loss_offset(self) -> float:
        """1/2 (tr Sigma_yy - ||Sigma_yx||_F^2): the loss no linear map can remove."""
        sigma_yy = self.c * self.Y @ self.Y.T
        return 0.5 * float(np.trace(sigma_yy) - np.sum(self.sigma_yx**2))


def haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed n x n orthogonal matrix (QR of a Gaussian with sign correction)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def make_task(X: np.ndarray, Y: np.ndarray, c: float, *, name: str = "custom",
              rtol: float = 1e-10) -> Task:
    """Check whitening (Sigma_xx = I) and compute the modes of Sigma_yx."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    sigma_xx = c * X @ X.T
    if not np.allclose(sigma_xx, np.eye(len(sigma_xx)), rtol=0.0, atol=rtol):
        raise ConfigError(f"dataset '{name}': inputs are not whitened (Sigma_xx != I); the "
                          "theory needs Sigma_xx = I (use c = 1 for one-hot items)")
    sigma_yx = c * Y @ X.T
    U, s, Vt = np.linalg.svd(sigma_yx, full_matrices=False)
    r = int(np.sum(s > 1e-10 * max(s.max(initial=0.0), 1.0)))
    return Task(X, Y, float(c), sigma_yx, U[:, :r], s[:r], Vt[:r].T)


def toy_task(n_in: int, n_out: int, singular_values: tuple[float, ...], *, seed: int) -> Task:
    """Sigma_yx = U diag(s) V^T with Haar-random U, V; X = I, Y = Sigma_yx, c = 1."""
    s = np.asarray(singular_values, dtype=np.float64)
    if len(s) > min(n_in, n_out):
        raise ConfigError(f"singular_values: {len(s)} modes do not fit in a {n_out} x {n_in} "
                          "correlation matrix")
    if np.any(s <= 0) or np.any(np.diff(s) >= 0):
        raise ConfigError("singular_values: must be positive and strictly decreasing")
    rng = np.random.default_rng(seed)
    U = haar_orthogonal(n_out, rng)[:, : len(s)]
    V = haar_orthogonal(n_in, rng)[:, : len(s)]
    sigma_yx = U @ np.diag(s) @ V.T
    return make_task(np.eye(n_in), sigma_yx, 1.0, name="toy")


def hierarchy_task(levels: int, n_features: int, flip_prob: float, *, seed: int) -> Task:
    """P = 2**levels items (tree leaves), one-hot inputs, N_f features by diffusion on the tree.

    Each feature takes a root value +/-1 with probability 1/2; every child copies its parent's
    value and flips its sign with probability ``flip_prob``. Singular values group by tree level
    (1 root mode, 1 first split, 2, 4, ...); finite ``n_features`` splits the groups.
    """
    rng = np.random.default_rng(seed)
    values = rng.choice([-1.0, 1.0], size=(n_features, 1))
    for _ in range(levels):
        children = np.repeat(values, 2, axis=1)
        flips = rng.random(children.shape) < flip_prob
        values = np.where(flips, -children, children)
    n_items = 2**levels
    return make_task(np.eye(n_items), values, 1.0, name="hierarchy")
