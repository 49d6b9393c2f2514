"""What is measured on deep linear networks.

- mode strength u_alpha = U_alpha^T (W_D ... W_1) V_alpha, the network's strength on task mode
  alpha (Saxe et al. 2014);
- level times: the first time u_alpha reaches a fraction of s_alpha (s_alpha / 2: the
  half-learning time), by linear interpolation between records;
- loss drops: the peaks of the log-loss rate -d ln L/dt, one per stage of stage-like learning.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.signal import find_peaks

from .model import product

__all__ = [
    "half_times",
    "level_times",
    "loss_drop_times",
    "mode_strengths",
    "symmetric_strength",
]


def mode_strengths(weights: Sequence[jax.Array], U: jax.Array, V: jax.Array) -> jax.Array:
    """u_alpha = U[:, alpha]^T W_prod V[:, alpha] for every mode (shape (r,))."""
    W = product(weights)
    return jnp.einsum("or,oi,ir->r", U.astype(W.dtype), W, V.astype(W.dtype))


def symmetric_strength(weights: Sequence[jax.Array], U: jax.Array, V: jax.Array) -> jax.Array:
    """||W_1 v_alpha + W_2^T u_alpha||^2 / 4 per mode (two-layer nets only).

    From small random weights the symmetric part (a + b)/2 of a = W_1 v, b = W_2^T u grows like
    e^{s t} while the antisymmetric part decays, so this is the effective initial mode strength
    u0_eff from which the Saxe sigmoid describes the mode.
    """
    W1, W2 = weights
    both = W1 @ V.astype(W1.dtype) + W2.T @ U.astype(W1.dtype)
    return jnp.sum(both**2, axis=0) / 4.0


def level_times(times: np.ndarray, u: np.ndarray, s: np.ndarray, level: float = 0.5) -> np.ndarray:
    """First time each mode reaches ``level`` * s (linear interpolation); NaN if it never does.

    ``u`` has shape (..., time, mode); the result has shape (..., mode).
    """
    times, u, s = np.asarray(times), np.asarray(u), np.asarray(s)
    frac = u / s - level  # crosses zero from below
    above = frac >= 0
    first = np.argmax(above, axis=-2)
    reached = above.any(axis=-2)
    i1 = np.maximum(first, 1)
    f1 = np.take_along_axis(frac, i1[..., None, :], axis=-2)[..., 0, :]
    f0 = np.take_along_axis(frac, (i1 - 1)[..., None, :], axis=-2)[..., 0, :]
    t1, t0 = times[i1], times[i1 - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(f1 > f0, t0 + (t1 - t0) * (-f0) / (f1 - f0), t1)
    t = np.where(first == 0, times[0], t)
    return np.where(reached, t, np.nan)


def half_times(times: np.ndarray, u: np.ndarray, s: np.ndarray) -> np.ndarray:
    """First time each mode reaches half its singular value (see :func:`level_times`)."""
    return level_times(times, u, s, 0.5)


def loss_drop_times(times: np.ndarray, loss: np.ndarray, *, contrast: float = 1.5,
                    floor: float = 1e-3) -> np.ndarray:
    """Times of the distinct drops of a loss curve: peaks of the log-loss rate -d ln L / dt.

    A drop counts when its rate stands ``contrast`` times above the slower stretches (plateaus)
    on both sides of it (peak prominence ln(contrast) in log rate), so small late drops count as
    much as large early ones. A drop is seen when a plateau follows it: the last drop turns into
    the final exponential convergence, whose log-rate saturates instead of peaking. Only times
    while L > ``floor`` * L(0) are searched.
    """
    times, loss = np.asarray(times), np.asarray(loss)
    rate = -np.gradient(np.log(np.maximum(loss, np.finfo(np.float64).tiny)), times)
    log_rate = np.log(np.maximum(rate, 1e-300))
    peaks, _ = find_peaks(log_rate, prominence=np.log(contrast))
    return times[peaks[loss[peaks] > floor * loss[0]]]
