"""What is measured on deep linear networks.

- mode strength u_alpha = U_alpha^T (W_D ... W_1) V_alpha, the network's strength on task mode
  alpha (Saxe et al. 2014);
- level times: the first time u_alpha reaches a fraction of s_alpha (s_alpha / 2: the
  half-learning time), by linear interpolation between records;
- loss drops: the peaks of the log-loss rate -d ln L/dt, one per stage of stage-like learning;
- two-layer nets (Dominé et al., ICLR 2025): the Neural Tangent Kernel from the
  representations, the kernel distance between two times (Fort et al. 2020), relative
  representation change, all at once over a trajectory (:func:`trajectory_summary`);
- lambda sweeps: the largest difference between +lambda and -lambda
  (:func:`mirror_difference`) and the steps in |lambda| where a quantity fails to fall
  (:func:`count_not_falling`);
- :func:`label`: the long_name and units of these quantities in a dataset.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy.signal import find_peaks

from .model import product

__all__ = [
    "half_times",
    "kernel_distance",
    "label",
    "level_times",
    "loss_acceleration",
    "loss_drop_times",
    "mode_strengths",
    "ntk",
    "ntk_distance",
    "ntk_from_representations",
    "count_not_falling",
    "mirror_difference",
    "relative_change",
    "symmetric_strength",
    "trajectory_summary",
]


def mode_strengths(weights: Sequence[jax.Array], U: jax.Array, V: jax.Array) -> jax.Array:
    """u_alpha = U[:, alpha]^T W_prod V[:, alpha] for every mode (shape (r,))."""
    W = product(weights)
    return jnp.einsum("or,oi,ir->r", U.astype(W.dtype), W, V.astype(W.dtype))


def symmetric_strength(weights: Sequence[jax.Array], U: jax.Array, V: jax.Array, *,
                       orthogonalise: bool = False) -> jax.Array:
    """||h_alpha||^2 per mode, h_alpha = (W_1 v_alpha + W_2^T u_alpha)/2 (two-layer nets only).

    From small random weights the symmetric part (a + b)/2 of a = W_1 v, b = W_2^T u grows like
    e^{s t} while the antisymmetric part decays, so this is the effective initial mode strength
    u0_eff from which the Saxe sigmoid describes the mode, as long as the modes' hidden vectors
    h_alpha do not compete (N_h much larger than the number of modes).

    ``orthogonalise``: the finite-width correction. Once a stronger mode is learned, the part of
    h_alpha along its hidden direction decays, so a mode grows only from the part of h_alpha
    orthogonal to the hidden vectors of the modes before it (columns in order of decreasing s):
    ||P_perp h_alpha||^2 = R_alpha alpha^2 of the QR decomposition of [h_1, h_2, ...].
    """
    W1, W2 = weights
    both = W1 @ V.astype(W1.dtype) + W2.T @ U.astype(W1.dtype)  # 2 h_alpha
    if orthogonalise:
        return jnp.diagonal(jnp.linalg.qr(both, mode="r")) ** 2 / 4.0
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


def loss_acceleration(times: np.ndarray, loss: np.ndarray, *, floor: float = 1e-6) -> np.ndarray:
    """How much the log-loss rate -d ln L/dt grows: its maximum over its initial value.

    An exponential (lazy, kernel-like) loss curve keeps a constant rate (about 1); a sigmoidal
    (rich) one starts on a plateau with a tiny rate and speeds up by orders of magnitude. Rates
    are finite differences between records, over times while L > ``floor`` L(0) (below that
    round-off dominates). ``loss`` has shape (..., time).
    """
    times, loss = np.asarray(times), np.asarray(loss, dtype=np.float64)
    log = np.log(np.maximum(loss, np.finfo(np.float64).tiny))
    rate = -np.diff(log, axis=-1) / np.diff(times)
    valid = loss[..., 1:] > floor * loss[..., :1]
    return np.max(np.where(valid, rate, -np.inf), axis=-1) / rate[..., 0]


# ---- NTK of two-layer linear networks -----------------------------------------------------
def ntk_from_representations(rep_in, rep_out, X):
    r"""NTK from the representations: K = I_{N_o} (x) (X^T R_in X) + R_out (x) (X^T X).

    ``rep_in`` = W1^T W1 (N_i x N_i), ``rep_out`` = W2 W2^T (N_o x N_o), X (N_i x P); outputs
    ordered (output unit, sample), output-major, so K has shape (N_o P, N_o P). Leading batch
    axes of the representations are allowed (the same on both).
    """
    rep_in, rep_out, X = jnp.asarray(rep_in), jnp.asarray(rep_out), jnp.asarray(X)
    n_o, p = rep_out.shape[-1], X.shape[-1]
    a = jnp.swapaxes(X, -1, -2) @ rep_in @ X  # (..., P, P)
    g = X.T @ X
    eye = jnp.eye(n_o, dtype=a.dtype)
    k = (eye[:, None, :, None] * a[..., None, :, None, :]
         + rep_out[..., :, None, :, None] * g[None, :, None, :])
    return k.reshape(k.shape[:-4] + (n_o * p, n_o * p))


def ntk(W1, W2, X):
    r"""Empirical NTK of f(x) = W2 W1 x on inputs X (columns), by the block formula.

    .. math:: K_{(o,p),(o',p')} = \sum_\theta \partial_\theta f_o(x_p)\,
              \partial_\theta f_{o'}(x_{p'}) = \delta_{oo'}\,x_p^TW_1^TW_1x_{p'}
              + (W_2W_2^T)_{oo'}\,x_p^Tx_{p'}

    i.e. K = I (x) X^T W1^T W1 X + W2 W2^T (x) X^T X, shape (N_o P, N_o P), output-major.
    """
    W1, W2 = jnp.asarray(W1), jnp.asarray(W2)
    return ntk_from_representations(jnp.swapaxes(W1, -1, -2) @ W1,
                                    W2 @ jnp.swapaxes(W2, -1, -2), X)


def kernel_distance(K0, K1):
    """S = 1 - <K0, K1>_F / (||K0||_F ||K1||_F) over the last two axes (Fort et al. 2020).

    0 for kernels equal up to scale, up to 1 for orthogonal ones.
    """
    K0, K1 = jnp.asarray(K0), jnp.asarray(K1)
    inner = jnp.sum(K0 * K1, axis=(-2, -1))
    return 1.0 - inner / jnp.sqrt(jnp.sum(K0**2, axis=(-2, -1)) * jnp.sum(K1**2, axis=(-2, -1)))


def ntk_distance(rep_in0, rep_out0, rep_in1, rep_out1, X):
    """:func:`kernel_distance` of the NTKs of two sets of representations, without forming K.

    With A = X^T R_in X and G = X^T X, <K, K'>_F = N_o <A, A'> + tr(R_out') <A, G>
    + tr(R_out) <G, A'> + <R_out, R_out'> <G, G> (Kronecker products factorise), so the cost
    does not grow with N_o P squared. Batch axes broadcast (numpy).
    """
    X = np.asarray(X, np.float64)
    g = X.T @ X
    a0 = np.swapaxes(X, -1, -2) @ np.asarray(rep_in0) @ X
    a1 = np.swapaxes(X, -1, -2) @ np.asarray(rep_in1) @ X
    r0, r1 = np.asarray(rep_out0), np.asarray(rep_out1)
    n_o = r0.shape[-1]

    def dot(p, q):
        return np.sum(p * q, axis=(-2, -1))

    def tr(m):
        return np.trace(m, axis1=-2, axis2=-1)

    def inner(a, r, b, q):
        return n_o * dot(a, b) + tr(q) * dot(a, g) + tr(r) * dot(g, b) + dot(r, q) * dot(g, g)

    return 1.0 - inner(a0, r0, a1, r1) / np.sqrt(inner(a0, r0, a0, r0) * inner(a1, r1, a1, r1))


def relative_change(R, R0):
    """||R - R0||_F / ||R0||_F over the last two axes (numpy; batch axes broadcast)."""
    R, R0 = np.asarray(R), np.asarray(R0)
    return np.sqrt(np.sum((R - R0) ** 2, axis=(-2, -1)) / np.sum(R0**2, axis=(-2, -1)))


def trajectory_summary(blocks: dict, U: np.ndarray, V: np.ndarray, X: np.ndarray) -> dict:
    """What a two-layer trajectory shows, from its QQ^T blocks with axes (..., time, rows, cols).

    ``blocks`` = {"W2W1", "W1tW1", "W2W2t"} (as from
    :func:`learndyn.deep_linear.theory.qqt_trajectory`); U (N_o, r), V (N_i, r) the task's
    singular vectors, X the inputs. Returns, over (..., time): ``mode_strength``
    u_a^T W2W1 v_a, ``rep_in_mode`` v_a^T W1^TW1 v_a and ``rep_out_mode`` u_a^T W2W2^T u_a
    (with a trailing mode axis), ``ntk_distance`` (kernel distance to time 0),
    ``rep_in_change`` and ``rep_out_change`` (:func:`relative_change` from time 0).
    """
    r_in, r_out = blocks["W1tW1"], blocks["W2W2t"]
    first = (slice(None),) * (r_in.ndim - 3) + (slice(0, 1),)
    return {
        "mode_strength": np.einsum("or,...oi,ir->...r", U, blocks["W2W1"], V),
        "rep_in_mode": np.einsum("ir,...ij,jr->...r", V, r_in, V),
        "rep_out_mode": np.einsum("or,...op,pr->...r", U, r_out, U),
        "ntk_distance": ntk_distance(r_in[first], r_out[first], r_in, r_out, X),
        "rep_in_change": relative_change(r_in, r_in[first]),
        "rep_out_change": relative_change(r_out, r_out[first]),
    }


def mirror_difference(values: np.ndarray, lams: np.ndarray, axis: int = -1) -> float:
    """max |x(lambda) - x(-lambda)| over the lambdas whose mirror image is on the grid.

    ``values`` carries the lambda grid ``lams`` along ``axis``; NaN entries are ignored.
    """
    values, lams = np.moveaxis(np.asarray(values), axis, 0), np.asarray(lams)
    worst = 0.0
    for i in np.flatnonzero(lams > 0):
        j = np.flatnonzero(lams == -lams[i])
        if j.size:
            worst = max(worst, float(np.nanmax(np.abs(values[i] - values[j[0]]))))
    return worst


def count_not_falling(values: np.ndarray, lams: np.ndarray) -> int:
    """Number of (leading index, step between neighbouring |lambda|) where ``values`` fails to
    fall strictly: both signs of a |lambda| must lie below both signs of the next smaller one.

    ``values`` has shape (..., lam).
    """
    values, lams = np.asarray(values), np.asarray(lams)
    mags = np.unique(np.abs(lams))
    count = 0
    for lo, hi in zip(mags[:-1], mags[1:]):
        small = values[..., np.abs(lams) == lo].min(axis=-1)
        large = values[..., np.abs(lams) == hi].max(axis=-1)
        count += int(np.sum(~(large < small)))
    return count


LABELS = {  # variable or coordinate: (long_name, units)
    "mode_strength_sim": ("mode strength ũ_αᵀW_D⋯W₁ṽ_α (gradient descent)", ""),
    "mode_strength_theory": ("mode strength ũ_αᵀW_D⋯W₁ṽ_α (theory)", ""),
    "loss_sim": ("loss (c/2)‖Y − W_D⋯W₁X‖²_F (gradient descent)", ""),
    "loss_theory": ("loss ½Σ_α(s_α − u_α)² + const (theory)", ""),
    "t_half_sim": ("half-learning time: first u_α ≥ s_α/2 (gradient descent)", "τ"),
    "t_half_theory": ("half-learning time (theory)", "τ"),
    "u0_eff": ("initial mode strength the theory starts from (random init: the free part "
               "‖P⊥h_α‖² of h_α = (W₁ṽ_α + W₂ᵀũ_α)/2)", ""),
    "free_fraction": ("free part ‖P⊥h_α‖²/‖h_α‖² of the mode's hidden vector (1: aligned)",
                      ""),
    "run": ("network: init and depth", ""), "depth": ("depth D (weight matrices)", ""),
    "init": ("initialisation", ""), "seed": ("seed", ""), "time": ("time t/τ", "τ"),
    "step": ("gradient-descent step", "steps"), "mode": ("task mode α", ""),
    "s": ("singular value s_α of Σ_yx", ""), "lam": ("λ = W₂ᵀW₂ − W₁W₁ᵀ (a multiple of I)", ""),
    "lam_unequal": ("λ (unequal widths)", ""), "lam_reversal": ("λ (reversal)", ""),
}


def label(ds: xr.Dataset, labels: dict | None = None, *, strict: bool = False) -> xr.Dataset:
    """Set long_name (and units) from ``labels`` ({name: (long_name, units)}, default
    :data:`LABELS`) on every variable and coordinate it names; with ``strict`` a name it does
    not know raises KeyError, else that variable keeps its own attrs."""
    labels = LABELS if labels is None else labels
    for name in ds.variables:
        if strict or str(name) in labels:
            long_name, units = labels[str(name)]
            ds[name].attrs.update(long_name=long_name, **({"units": units} if units else {}))
    return ds
