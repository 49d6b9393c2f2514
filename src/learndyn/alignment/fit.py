r"""Effective learning rates of a trained network, fitted to its measured (h, y, w) curves.

Reference: L. van Rossem, A. M. Saxe, *When Representations Align: Universality in
Representation Learning Dynamics*, ICML 2024 (arXiv:2402.09142), section 5: the effective
theory (:mod:`learndyn.alignment.theory`) with rates :math:`(\eta_h, \eta_y)` fitted per run
describes the representational distance of two points in many architectures.

Objective (unweighted, as the authors): from the measured :math:`(h_0, y_0, w_0)`,

.. math:: J(\eta_h, \eta_y) = \sum_t (h_t - \hat h_t)^2 + (y_t - \hat y_t)^2 + (w_t - \hat w_t)^2 .

Procedure (the authors' two stages, computed differently):

1. *Scale scan.* Fix the ratio by the rich fixed-point relation
   :math:`r = \eta_h/\eta_y = h_{final}^2/(dx2\, dy2)` and scan a common scale
   :math:`s = \eta_y` over a log grid (default 200 points, 1e-6..1e2). Every term of the ODE is
   linear in the rates, so :math:`z(t; s, r) = Z_r(s t)`: the whole scan is **one** solve of
   the unit-scale system (Dopri5, dense output, in the factor coordinates of
   :func:`learndyn.alignment.theory.rhs`), read at the times ``s t``. The solve stops once it
   sits at the fixed point (w = 0, y = dy2 to 1e-9), after which the state is constant.
   The same vmapped solve also scans ``ratios`` ratios spread log-evenly over r /
   ``ratio_range`` .. r ``ratio_range``, so a poor ratio guess (e.g. a lazy run, whose final h
   is not the rich fixed point) is not fatal.
2. *Local refinement* in :math:`(\log r, \log s)` (equivalently :math:`\log\eta_h,
   \log\eta_y`): a zooming grid (``ratios`` x ``scales_per_level`` points about the best point,
   its spans shrinking four-fold per level). Each level is one vmapped solve per ratio.
   Failed solves give NaN and are discarded.

Then the mean mode rate :math:`\eta_{\bar y}` is fitted on the loss curve with
:func:`learndyn.alignment.theory.loss` (using the fitted (y, w)): a log grid 1e-5..1 and a
bounded scalar refinement. Goodness of fit: :math:`R^2 = 1 - SS_{res}/SS_{tot}` per variable.
Rates are in the training loss ``convention`` (``"half_mse"`` rates are twice the ODE's), per
unit of ``times`` (epochs for networks).
"""

from __future__ import annotations

from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from ..core.precision import float64
from . import theory

__all__ = ["Fit", "fit_rates", "r_squared"]

_BUCKET = 4  # runs are fitted in multiples of this (one compiled solve for 1..4 runs)


class Fit(NamedTuple):
    """Fitted rates and goodness of fit (arrays over the leading axes of the inputs)."""

    eta_h: np.ndarray
    eta_y: np.ndarray
    eta_mean: np.ndarray
    fit_loss: np.ndarray
    r2_h: np.ndarray
    r2_y: np.ndarray
    r2_w: np.ndarray
    r2_loss: np.ndarray
    h_fit: np.ndarray
    y_fit: np.ndarray
    w_fit: np.ndarray
    loss_fit: np.ndarray


def r_squared(measured: np.ndarray, fitted: np.ndarray, axis: int = -1) -> np.ndarray:
    """Coefficient of determination :math:`1 - \\sum(m - f)^2 / \\sum(m - \\bar m)^2`."""
    m, f = np.asarray(measured, float), np.asarray(fitted, float)
    res = np.sum((m - f) ** 2, axis=axis)
    tot = np.sum((m - m.mean(axis=axis, keepdims=True)) ** 2, axis=axis)
    return 1.0 - res / tot


def _at_fixed_point(t, z, args, **kwargs):
    """w = 0 and y = dy2 (to 1e-9 relative): the only fixed point with h > 0."""
    dy2 = args[1]
    _, y, w = theory.from_factors(*z)
    tol = 1e-9 * jnp.maximum(dy2, 1.0)
    return (jnp.abs(w) <= tol) & (jnp.abs(y - dy2) <= tol)


def _unit_solution(z0, dx2, dy2, ratio, t1):
    """Dense solution with ODE rates (ratio, 1) on [0, t1], in the factor coordinates of
    :func:`learndyn.alignment.theory.rhs`; it stops early once at the fixed point."""
    return diffrax.diffeqsolve(
        diffrax.ODETerm(theory.rhs), diffrax.Dopri5(), 0.0, t1, None,
        theory.to_factors(z0[0], z0[1], z0[2]), args=(dx2, dy2, ratio, 1.0),
        saveat=diffrax.SaveAt(dense=True, t1=True), event=diffrax.Event(_at_fixed_point),
        stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-12),
        max_steps=4096, throw=False)


@jax.jit
def _solve(z0, dx2, dy2, ratio, t1):
    """Unit-scale dense solutions for L lanes (the only compiled solver); failed -> ok False."""
    sol = jax.vmap(_unit_solution)(z0, dx2, dy2, ratio, t1)
    ok = (sol.result == diffrax.RESULTS.successful) | sol.event_mask
    return sol.interpolation, ok, sol.ts[:, -1]


def _read(interp, ok, t_end, times):
    """(h, y, w) of every lane at ``times`` (L, M, T) -> (L, M, T, 3); NaN where failed.
    After ``t_end`` (the fixed point was reached) the state is constant."""
    times = jnp.minimum(times, t_end[:, None, None])
    factors = jax.vmap(lambda i, tt: jax.vmap(jax.vmap(i.evaluate))(tt))(interp, times)
    z = jnp.stack(theory.from_factors(*factors), axis=-1)
    return jnp.where(ok[:, None, None, None], z, jnp.nan)


@jax.jit
def _costs(interp, ok, t_end, scales, times, obs):
    """J for every lane and scale: lanes (L,), ``scales`` (L, M), ``obs`` (L, T, 3)."""
    z = _read(interp, ok, t_end, scales[:, :, None] * times[None, None, :])
    return jnp.sum((z - obs[:, None]) ** 2, axis=(2, 3))


_curves = jax.jit(_read)


def _pad(a: np.ndarray, width: int) -> np.ndarray:
    """Pad the last axis to ``width`` by repeating its last column."""
    return np.concatenate([a, np.repeat(a[:, -1:], width - a.shape[1], axis=1)], axis=1)


def _nanargmin(costs: np.ndarray) -> np.ndarray:
    """Flat index of the smallest finite cost per row (0 if all failed)."""
    c = np.where(np.isfinite(costs), costs, np.inf).reshape(costs.shape[0], -1)
    return np.argmin(c, axis=1)


@float64
def fit_rates(times: np.ndarray, h: np.ndarray, y: np.ndarray, w: np.ndarray, *,
              dx2: np.ndarray | float, dy2: np.ndarray | float,
              loss: np.ndarray | None = None, mean_gap0: np.ndarray | float | None = None,
              convention: theory.Convention = "half_mse",
              scales: np.ndarray | None = None, levels: int = 6, ratios: int = 9,
              ratio_range: float = 1e3,
              scales_per_level: int = 25) -> Fit:
    r"""Fit :math:`(\eta_h, \eta_y)` (and :math:`\eta_{\bar y}` if ``loss`` is given).

    Args:
        times: record times ``(T,)`` starting at the initial condition (e.g. every 10th epoch).
        h, y, w: measured curves ``(..., T)``; any leading axes are runs, fitted at once.
        dx2, dy2: squared input and target distances (broadcast to the leading axes).
        loss, mean_gap0: measured loss ``(..., T)`` and :math:`\|\bar y(0) - \bar y^*\|^2`.
        convention: the training loss convention (``"half_mse"``: 1/2 MSE; ``"half_sum"``).
        scales: stage-1 grid of the common scale (default ``logspace(-6, 2, 200)``).
        levels, ratios, scales_per_level: stage-2 zoom levels and grid size per level.
        ratio_range: stage 1 scans ratios within this factor of the fixed-point guess.

    Returns:
        :class:`Fit` with arrays of the leading shape (rates per unit of ``times``, NaN where
        every solve failed).
    """
    times = np.asarray(times, float)
    h, y, w = (np.asarray(a, float) for a in (h, y, w))
    lead = h.shape[:-1]
    n_t = h.shape[-1]
    if times.shape != (n_t,) or y.shape != h.shape or w.shape != h.shape:
        raise ValueError("times (T,) and h, y, w (..., T) must have matching shapes")
    flat = lambda a: np.broadcast_to(np.asarray(a, float), lead).reshape(-1)  # noqa: E731
    dx2_, dy2_ = flat(dx2), flat(dy2)
    obs = np.stack([h, y, w], axis=-1).reshape(-1, n_t, 3)
    n_real = obs.shape[0]
    n = -(-n_real // _BUCKET) * _BUCKET  # pad the runs (repeat the last): fewer compiled shapes
    pad = lambda a: np.concatenate([a, np.repeat(a[-1:], n - n_real, axis=0)])  # noqa: E731
    obs, dx2_, dy2_ = pad(obs), pad(dx2_), pad(dy2_)
    z0 = obs[:, 0, :]
    t = times - times[0]
    factor = theory.ode_rates(1.0, 1.0, convention)[0]  # ODE rate per convention rate
    scales = np.logspace(-6, 2, 200) if scales is None else np.asarray(scales, float)

    # stage 1: common scale s = eta_y at the rich fixed-point ratio (and `ratios` ratios about
    # it, so that both stages share one compiled solve); stage 2: zoom in (log r, log s)
    ratio0 = np.where(dy2_ > 0, obs[:, -1, 0] ** 2 / (dx2_ * np.where(dy2_ > 0, dy2_, 1.0)), 1.0)
    best_r, best_s = np.log(ratio0), np.zeros(n)
    best_cost = np.full(n, np.inf)
    u_r = np.linspace(-1.0, 1.0, ratios)
    u_r[ratios // 2] = 0.0
    span_r, span_s = np.log(ratio_range), 1.5
    lanes = lambda a: np.repeat(np.asarray(a), ratios, axis=0)  # noqa: E731
    z0_l, dx2_l, dy2_l, obs_l = (jnp.asarray(lanes(a)) for a in (z0, dx2_, dy2_, obs))
    t_j = jnp.asarray(t)
    for level in range(levels + 1):
        log_r = best_r[:, None] + span_r * u_r[None, :]                      # (n, K)
        if level == 0:
            log_s = np.broadcast_to(np.log(scales * factor), (n, ratios, scales.size))
        else:
            u_s = np.linspace(-1.0, 1.0, scales_per_level)
            log_s = np.broadcast_to((best_s[:, None] + span_s * u_s[None, :])[:, None, :],
                                    (n, ratios, scales_per_level))
        log_s = log_s.reshape(n * ratios, -1)
        interp, ok, t_end = _solve(z0_l, dx2_l, dy2_l, jnp.asarray(np.exp(log_r).reshape(-1)),
                                   jnp.asarray(np.exp(log_s.max(axis=1)) * t[-1]))
        # in blocks of scales_per_level scales: one compiled cost function for every level
        chunks = np.array_split(np.exp(log_s), -(-log_s.shape[1] // scales_per_level), axis=1)
        c = np.concatenate([np.asarray(_costs(interp, ok, t_end,
                                              jnp.asarray(_pad(a, scales_per_level)), t_j,
                                              obs_l))[:, :a.shape[1]] for a in chunks], axis=1)
        c = c.reshape(n, ratios, -1)
        idx = _nanargmin(c)
        k, m = np.unravel_index(idx, c.shape[1:])
        cand = c.reshape(n, -1)[np.arange(n), idx]
        better = np.isfinite(cand) & (cand <= best_cost)
        best_r = np.where(better, log_r[np.arange(n), k], best_r)
        best_s = np.where(better, log_s.reshape(n, ratios, -1)[np.arange(n), k, m], best_s)
        best_cost = np.where(better, cand, best_cost)
        span_r = span_r / 4 if level > 0 else 2 * span_r / (ratios - 1)
        span_s = span_s / 4 if level > 0 else span_s

    # the fitted curves: the best lane of the last level (re-solved only if it was not there)
    ode_eta_y = np.exp(best_s)
    ode_eta_h = np.exp(best_r) * ode_eta_y
    log_r = best_r[:, None] + np.zeros((1, ratios))
    interp, ok, t_end = _solve(z0_l, dx2_l, dy2_l, jnp.asarray(np.exp(log_r).reshape(-1)),
                               jnp.asarray(np.repeat(ode_eta_y, ratios) * t[-1]))
    pick = np.arange(n) * ratios
    interp = jax.tree.map(lambda a: a[pick], interp)
    fitted = np.asarray(_curves(interp, ok[pick], t_end[pick],
                                jnp.asarray(ode_eta_y[:, None, None] * t[None, None, :])))[:, 0]
    n = n_real
    fitted, obs, ode_eta_h, ode_eta_y, dy2_ = (a[:n] for a in (fitted, obs, ode_eta_h,
                                                               ode_eta_y, dy2_))
    hf, yf, wf = fitted[..., 0], fitted[..., 1], fitted[..., 2]
    fit_loss = np.sum((fitted - obs) ** 2, axis=(1, 2))
    r2 = [r_squared(obs[..., i], fitted[..., i]) for i in range(3)]

    eta_mean = np.full(n, np.nan)
    r2_loss = np.full(n, np.nan)
    loss_fit = np.full((n, n_t), np.nan)
    if loss is not None:
        loss_ = np.asarray(loss, float).reshape(n, n_t)
        gap0 = flat(0.0 if mean_gap0 is None else mean_gap0)
        for i in range(n):
            eta_mean[i], r2_loss[i], loss_fit[i] = _fit_mean_rate(
                t, loss_[i], yf[i], wf[i], dy2_[i], gap0[i], convention)

    shape = lambda a: np.asarray(a, float).reshape(lead)  # noqa: E731
    curve = lambda a: np.asarray(a, float).reshape(lead + (n_t,))  # noqa: E731
    return Fit(shape(ode_eta_h / factor), shape(ode_eta_y / factor), shape(eta_mean),
               shape(fit_loss), *(shape(a) for a in r2), shape(r2_loss),
               curve(hf), curve(yf), curve(wf), curve(loss_fit))


def _fit_mean_rate(t, loss, y, w, dy2, gap0, convention) -> tuple[float, float, np.ndarray]:
    """eta_ybar on the loss curve: log grid 1e-5..1, then a bounded scalar search."""
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(w))):
        return np.nan, np.nan, np.full_like(loss, np.nan)

    def predict(eta):
        eta = np.asarray(eta, float).reshape(-1, 1)
        return np.asarray(theory.loss(y[None, :], w[None, :], dy2=dy2, times=t,
                                      eta_mean=eta, mean_gap0=gap0, convention=convention))

    def cost(log_eta: float) -> float:
        return float(np.sum((predict(np.exp(log_eta))[0] - loss) ** 2))

    grid = np.log(np.logspace(-5, 0, 51))
    i = int(np.argmin(np.sum((predict(np.exp(grid)) - loss[None, :]) ** 2, axis=1)))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = scipy.optimize.minimize_scalar(cost, bounds=(lo, hi), method="bounded",
                                         options={"xatol": 1e-6})
    eta = float(np.exp(res.x))
    pred = predict(eta)[0]
    return eta, float(r_squared(loss, pred)), pred
