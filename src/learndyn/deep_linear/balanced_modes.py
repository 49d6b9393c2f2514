r"""lambda-balanced two-layer networks, reduced descriptions: B4-B6 (float64).

The reduced companions of :mod:`learndyn.deep_linear.balanced` (see there for the setting and
references); public through :mod:`learndyn.deep_linear.theory`.

- B4 :func:`mode_trajectory`: one aligned mode, tau da/dt = sqrt(lambda^2 + 4a^2)(s - a), in
  closed form for any lambda (lambda = 0: Saxe's sigmoid);
- B5 :func:`product_rhs`, :func:`product_trajectory`: the network function alone (equal dims);
- B6 :func:`final_representations`: the t -> infinity representations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..core import ode
from ..core.config import ConfigError
from ..core.precision import float64
from .model import split_squares

__all__ = [
    "final_representations",
    "mode_lambda_rhs",
    "mode_trajectory",
    "product_rhs",
    "product_trajectory",
]


def _f64(x):
    return jnp.asarray(x, dtype=jnp.float64)


def broadcast_f64(*arrays):
    """float64 arrays broadcast explicitly (works under ``jax_numpy_rank_promotion='raise'``)."""
    arrays = [_f64(a) for a in arrays]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    return [jnp.broadcast_to(a, shape) for a in arrays]


def _phi(x, t):
    """(1 - e^{-x t}) / x, equal to t at x = 0 (x >= 0)."""
    safe = jnp.where(x > 0, x, 1.0)
    return jnp.where(x > 0, -jnp.expm1(-safe * t) / safe, t)


def checked_times(times) -> np.ndarray:
    """``times`` as a flat float64 array, checked non-empty, finite and >= 0."""
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if t.size == 0 or np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError("times must be non-empty, finite and >= 0")
    return t


# ---- B4: one aligned mode -----------------------------------------------------------------
def mode_lambda_rhs(t, a, args):
    """tau da/dt = sqrt(lambda^2 + 4a^2)(s - a); ``args = (s, lam, tau)``."""
    s, lam, tau = args
    return jnp.sqrt(lam**2 + 4.0 * a**2) * (s - a) / tau


@float64
def mode_trajectory(s, a0, times, lam=0.0, tau: float = 1.0):
    r"""Product strength a(t) = w2 w1 of one aligned mode of a lambda-balanced network.

    Solves tau da/dt = sqrt(lambda^2 + 4a^2)(s - a) (:func:`mode_lambda_rhs`). With
    r0 = sqrt(lambda^2 + 4 a0^2), w1 = sqrt((r0 - lambda)/2), w2 = sign(a0) sqrt((r0 + lambda)/2),
    Lambda = sqrt(s^2 + lambda^2/4), c = cosh(Lambda t), h = sinh(Lambda t):

    .. math:: u_1 = c\,w_1 + \tfrac{h}{\Lambda}(s w_2 - \tfrac\lambda2 w_1),\quad
              u_2 = c\,w_2 + \tfrac{h}{\Lambda}(s w_1 + \tfrac\lambda2 w_2),

    .. math:: a(t) = \frac{u_1u_2}{1 + \tfrac12\left[(\cosh 2\Lambda t - 1)
              \tfrac{2 s a_0 + \lambda^2/2}{\Lambda^2}
              + \sinh(2\Lambda t)\tfrac{r_0}{\Lambda}\right]}

    (t in units of tau; B1 with F = [[-lambda/2, s], [s, lambda/2]]). It is evaluated in the
    eigenbasis of F: with c_+- the components of (w1, w2) along the eigenvectors for +-Lambda
    and eps = e^{-Lambda t}, u eps = p_+ c_+ + p_- c_- eps^2 and the denominator times eps^2 is
    eps^2 + c_+^2 phi + c_-^2 eps^2 phi, phi = (1 - eps^2)/(2 Lambda) (= t at Lambda = 0): only
    decaying exponentials and no cancelling terms, so it is accurate for all t, also on the way
    into the saddle (reversal at lambda = 0: a(t) = s e^{-2st}/(2 - e^{-2st}) stays > 0).
    Valid for any sign of s, a0 and lambda (a0 = 0 starts at the saddle). lambda = 0 gives Saxe's
    s / (1 + (s/a0 - 1) e^{-2st}); a(t; lambda) = a(t; -lambda).
    Arguments broadcast; the result has shape (len(times), *broadcast shape).
    """
    s, a0, lam = (x[None] for x in broadcast_f64(s, a0, lam))  # leading time axis
    t = _f64(checked_times(times)).reshape((-1,) + (1,) * (s.ndim - 1)) / tau
    return _mode_core(s, a0, lam, t)


@jax.jit
def _mode_core(s, a0, lam, t):
    w1sq, w2sq = split_squares(a0**2, lam)  # (r0 -+ lambda)/2 without cancellation
    w1 = jnp.sqrt(w1sq)
    w2 = jnp.where(a0 < 0, -1.0, 1.0) * jnp.sqrt(w2sq)
    sign = jnp.where(s < 0, -1.0, 1.0)  # F(s) = D F(|s|) D with D = diag(1, -1)
    root = jnp.sqrt(lam**2 + 4.0 * s**2)
    den = root + 2.0 * jnp.abs(s)
    X = jnp.where(den > 0, lam / jnp.where(den > 0, den, 1.0), 0.0)
    A = 1.0 / jnp.sqrt(2.0 * (1.0 + X**2))  # eigenvectors (G, sign H)/sqrt2, (H, -sign G)/sqrt2
    G, H = A * (1.0 - X), A * (1.0 + X)
    c_plus = G * w1 + sign * H * w2
    c_minus = H * w1 - sign * G * w2
    Lam = root / 2.0
    eps2 = jnp.exp(-2.0 * Lam * t)
    phi = _phi(2.0 * Lam, t)  # (1 - e^{-2 Lambda t}) / (2 Lambda)
    u1 = G * c_plus + H * c_minus * eps2
    u2 = sign * (H * c_plus - G * c_minus * eps2)
    d = eps2 + phi * (c_plus**2 + c_minus**2 * eps2)
    return u1 * u2 / d


# ---- B5: product-only dynamics (equal dims) -----------------------------------------------
def _sqrtm_shift(A, shift):
    """(A + shift I)^{1/2} for symmetric PSD A."""
    w, v = jnp.linalg.eigh(A)
    return (v * jnp.sqrt(jnp.maximum(w, 0.0) + shift)[None, :]) @ v.T


def product_rhs(t, W, args):
    """tau dW/dt = (WW^T + lambda^2/4)^{1/2}(Sigma - W) + (Sigma - W)(W^TW + lambda^2/4)^{1/2}.

    ``args = (sigma_yx, lam, tau)``; valid for N_i = N_h = N_o (then W2 W2^T =
    (WW^T + lambda^2/4)^{1/2} + lambda/2 and W1^T W1 = (W^TW + lambda^2/4)^{1/2} - lambda/2).
    """
    sigma, lam, tau = args
    E = sigma - W
    shift = lam**2 / 4.0
    return (_sqrtm_shift(W @ W.T, shift) @ E + E @ _sqrtm_shift(W.T @ W, shift)) / tau


@float64
def product_trajectory(W0, sigma_yx, times, lam=0.0, tau: float = 1.0, *, rtol: float = 1e-11,
                       atol: float = 1e-13):
    """Integrate :func:`product_rhs` from W(0) = ``W0`` (N x N); shape (len(times), N, N)."""
    W0 = _f64(W0)
    if W0.ndim != 2 or W0.shape[0] != W0.shape[1]:
        raise ConfigError(f"the product-only ODE needs N_i = N_h = N_o (square W), got {W0.shape}")
    return ode.solve(product_rhs, W0, checked_times(times),
                     args=(_f64(sigma_yx), _f64(lam), tau),
                     rtol=rtol, atol=atol)


# ---- B6: t -> infinity --------------------------------------------------------------------
def final_representations(sigma_yx, lam) -> dict:
    """The t -> infinity limits on the task subspace (B invertible).

    W2W1 -> Sigma_yx, W1tW1 -> V_r (Lambda - lambda/2) V_r^T, W2W2t -> U_r (Lambda + lambda/2)
    U_r^T over the r modes with s > 0 (Lambda - lambda/2 and Lambda + lambda/2 evaluated without
    cancellation). For N_i = N_h = N_o and full-rank Sigma_yx these are the full matrices;
    otherwise directions off the task subspace keep init-dependent values (compare the
    projections U_r U_r^T R U_r U_r^T, V_r V_r^T R V_r V_r^T).
    lambda = 0: both are square roots of the task (V S V^T, U S U^T), task-specific;
    lambda -> +inf: W1tW1 ~ V S^2 V^T / lambda (small), W2W2t ~ lambda I (large, task-agnostic).
    """
    sigma_yx = np.asarray(sigma_yx, np.float64)
    U, s, Vt = np.linalg.svd(sigma_yx, full_matrices=False)
    r = int(np.sum(s > 1e-12 * max(float(s.max(initial=0.0)), 1.0)))
    U, s, V = U[:, :r], s[:r], Vt[:r].T
    minus, plus = split_squares(s**2, np.float64(lam))
    return {"W2W1": sigma_yx, "W1tW1": (V * minus) @ V.T, "W2W2t": (U * plus) @ U.T}
