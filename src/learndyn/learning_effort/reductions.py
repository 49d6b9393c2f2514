r"""Closed forms and reductions of the controlled dynamics [derived here, not in the paper].

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919; they test the unroll of :mod:`.theory`.

- Single neuron, constant g: k_g = (1+g)^2 Sigma_x + lambda, w* = (1+g) Sigma_yx / k_g; the
  Euler scheme gives exactly w_n = w* + (w0 - w*)(1 - alpha k_g)^n and the flow
  w(t) = w* + (w0 - w*) e^{-k_g t} (:func:`single_neuron_constant`); for a time-varying g,
  w(t) = e^{-K(t)}[w0 + int_0^t e^{K(s)} (1+g(s)) Sigma_yx ds], K = int k_g, exact for a
  piecewise-constant g (:func:`single_neuron_flow`).
- Learning-rate control is a time warp: F_u = (1+u) F_0, so the controlled unroll is the
  uncontrolled field integrated with steps alpha (1 + u_k), i.e. W_u(t) ~ W_0(tau(t)) with
  tau_k = alpha sum_{j<k} (1 + u_j) (:func:`warped_times`, :func:`variable_step_euler`,
  :func:`time_warp_errors`).
- Modes: with Sigma_x = c I, lambda = 0 and small aligned balanced weights, c u_alpha follows
  Saxe's sigmoid for singular value s_alpha of Sigma_yx (:func:`mode_error`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..core import ode
from ..core.config import ConfigError
from ..core.precision import float64
from ..deep_linear.model import init_aligned
from ..deep_linear.theory import flow_field, mode_saxe
from .controls import NONE
from .problems import learning_rate_problem
from .theory import Problem, as_jax, loss_curve, trajectory

__all__ = [
    "mode_error",
    "single_neuron_constant",
    "single_neuron_flow",
    "time_warp_errors",
    "uncontrolled_flow",
    "uncontrolled_flow_loss",
    "variable_step_euler",
    "warped_times",
]


def _single(p: Problem):
    if p.control_type.name != "single_neuron":
        raise ConfigError("p: needs a single-neuron problem")
    s = jax.tree.map(lambda a: float(np.asarray(a)[0, 0, 0]), p.stats)
    return s, float(p.params["lam"]), float(p.dt), float(p.w0)


def single_neuron_constant(p: Problem, g: float) -> tuple[np.ndarray, np.ndarray]:
    """(Euler w_k exactly, flow w(t_k)) for constant g, k = 0..n (float64 numpy)."""
    s, lam, dt, w0 = _single(p)
    a = 1.0 + g
    k_g = a * a * s.sigma_x + lam
    w_star = a * s.sigma_yx / k_g
    k = np.arange(p.n_steps + 1)
    return w_star + (w0 - w_star) * (1.0 - dt * k_g) ** k, w_star + (w0 - w_star) * np.exp(
        -k_g * k * dt)


def single_neuron_flow(p: Problem, g) -> np.ndarray:
    """The continuous flow w(t_k), k = 0..n, under g held constant on [t_k, t_{k+1}).

    w(t) = e^{-K(t)}[w0 + int_0^t e^{K(s)} (1 + g(s)) Sigma_yx ds] evaluated exactly per step.
    """
    s, lam, dt, w0 = _single(p)
    a = 1.0 + np.asarray(g, np.float64)
    k_g = a * a * s.sigma_x + lam
    w_star, decay = a * s.sigma_yx / k_g, np.exp(-k_g * dt)
    w = np.empty(p.n_steps + 1)
    w[0] = w0
    for k in range(p.n_steps):
        w[k + 1] = w_star[k] + (w[k] - w_star[k]) * decay[k]
    return w


def warped_times(p: Problem, u) -> np.ndarray:
    """tau_k = dt sum_{j<k} (1 + u_j), k = 0..n."""
    return float(p.dt) * np.concatenate([[0.0], np.cumsum(1.0 + np.asarray(u, np.float64))])


@float64
def variable_step_euler(p: Problem, u):
    """The *uncontrolled* field integrated with steps dt (1 + u_k): weights at k = 0..n."""
    q = as_jax(p)
    s = jax.tree.map(lambda a: a[0], q.stats)

    def step(w, h):
        new = tuple(a + h * d for a, d in zip(w, NONE.field(w, None, s, q.params)))
        return new, w

    w, ws = jax.lax.scan(step, q.w0, q.dt * (1.0 + jnp.asarray(u, jnp.float64)))
    return tuple(jnp.concatenate([a, b[None]]) for a, b in zip(ws, w))


@float64
def uncontrolled_flow(p: Problem, times, *, rtol: float = 1e-10):
    """The uncontrolled gradient flow (task 0) at ``times`` by adaptive high-order integration.

    Returns (W1(t), W2(t)) stacked over times (core.ode.solve, rtol ``rtol``).
    """
    q = as_jax(p)
    s = jax.tree.map(lambda a: a[0], q.stats)

    def rhs(t, w, args):
        return flow_field(*w, s.sigma_yx, s.sigma_x, lam=q.params["lam"])

    return ode.solve(rhs, q.w0, np.asarray(times, np.float64), rtol=rtol, atol=1e-14)


@float64
def uncontrolled_flow_loss(p: Problem, times, *, rtol: float = 1e-10) -> np.ndarray:
    """The population loss along :func:`uncontrolled_flow` (increasing ``times``, >= 0)."""
    q = as_jax(p)
    s = jax.tree.map(lambda a: a[0], q.stats)
    w1, w2 = uncontrolled_flow(p, times, rtol=rtol)
    return jax.vmap(lambda a, b: NONE.loss((a, b), None, s, q.params))(w1, w2)


def time_warp_errors(p: Problem, u, *, fine_dt: float = 1e-3) -> tuple[float, float]:
    """How exactly learning-rate control is a time warp (``p`` a learning-rate problem).

    Returns (max |W_u - W_var| / max |W|, the controlled unroll against the variable-step Euler
    integration of the uncontrolled field; max relative loss error of the controlled unroll
    refined to steps <= ``fine_dt`` (u held per original step) against the high-accuracy
    uncontrolled flow at the warped times tau_k = dt sum_{j<k} (1 + u_j)).
    """
    u = np.asarray(u, np.float64)
    ws, var = trajectory(p, u), variable_step_euler(p, u)
    scale = max(float(np.max(np.abs(a))) for a in ws)
    exact = max(float(np.max(np.abs(a - b[:-1]))) for a, b in zip(ws, var)) / scale
    r = max(1, int(round(float(p.dt) / fine_dt)))
    fine = p.replace(dt=np.float64(float(p.dt) / r), n_steps=p.n_steps * r,
                     schedule=np.zeros(p.n_steps * r, np.int32), checkpoint=0)
    u_fine = np.repeat(u, r)
    loss = loss_curve(fine, u_fine)[::r]
    tau = warped_times(fine, u_fine)[: p.n_steps * r : r]
    keep = np.concatenate([[True], np.diff(tau) > 0])  # u = -1 stops time
    ref = uncontrolled_flow_loss(p, tau[keep])
    return exact, float(np.max(np.abs(loss[keep] / ref - 1.0)))


def mode_error(task, *, hidden: int, u0: float = 1e-3, dt: float = 1e-3, n_steps: int = 6000,
               seed: int = 0) -> float:
    """max over modes and time of |c u_alpha - u_Saxe(t)| / s_1 for a task with Sigma_x = c I.

    The network starts aligned and balanced with every c u_alpha = ``u0`` (lambda = 0, no
    control); u_Saxe is deep_linear's closed form s/(1 + (s/u0 - 1) e^{-2st}).
    """
    c = float(task.sigma_x[0, 0])
    if not np.allclose(task.sigma_x, c * np.eye(task.n_in), rtol=0, atol=1e-14):
        raise ConfigError("task: the mode solution needs Sigma_x proportional to I")
    U, s, Vt = np.linalg.svd(task.sigma_yx, full_matrices=False)
    r = int(np.sum(s > 1e-10 * s[0]))
    U, s, V = U[:, :r], s[:r], Vt[:r].T
    with jax.enable_x64(True):
        w1, w2 = init_aligned(jax.random.key(seed), jnp.asarray(U), jnp.asarray(V),
                              n_hidden=hidden, depth=2, u0=jnp.asarray(u0 / c),
                              dtype=jnp.float64)
    p = learning_rate_problem(task, np.asarray(w1), np.asarray(w2), lam=0.0, dt=dt,
                              n_steps=n_steps, beta=0.0)
    every = max(1, n_steps // 200)
    a, b = trajectory(p, np.zeros(n_steps), every=every)
    strengths = c * np.einsum("or,toh,thi,ir->tr", U, b, a, V)
    times = np.arange(0, n_steps, every) * dt
    with jax.enable_x64(True):
        ref = np.asarray(mode_saxe(s[None], u0, times[:, None]))
    return float(np.max(np.abs(strengths - ref)) / s[0])
