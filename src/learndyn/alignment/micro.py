r"""The linearised two-point micro-model and its exact gradient flow (float64).

Reference: L. van Rossem, A. M. Saxe, ICML 2024 (arXiv:2402.09142), the model behind the
effective theory in :mod:`learndyn.alignment.theory`.

Parameters ybar (n_y), D_h (n_h x n_x), D_y (n_y x n_h); two data points with input difference dx,
target difference dy* and target mean ybar*. Outputs y^_{1,2} = ybar -+ D_y D_h dx / 2, targets
y_{1,2} = ybar* -+ dy*/2, and the loss

.. math:: L = \kappa\,\tfrac12\sum_{i=1,2}\|\hat y_i - y_i\|^2
            = \kappa\big(\|\bar y - \bar y^*\|^2 + \tfrac14\|D_yD_h dx - dy^*\|^2\big),

with kappa = 1 (``"half_sum"``) or 1/2 (``"half_mse"``: 1/2 MSE over two points, 1-D output).
Gradient flow d theta/dt = -eta_theta dL/d theta per block (eta_ybar, eta_h, eta_y), the gradient
taken by automatic differentiation of L itself (not of the reduced equations), so comparing it
with the (h, y, w) ODE tests the reduction. For kappa = 1 it reads dybar/dt = -2 eta_ybar (ybar -
ybar*), dD_h/dt = -eta_h D_y^T e dx^T/2, dD_y/dt = -eta_y e dh^T/2 with e = dy^ - dy*.

Initial states: :func:`init` draws the random test bed: dx, dy* uniformly random directions
with ||dx||^2 = dx2, ||dy*||^2 = dy2; ybar(0), ybar* ~ N(0, I); D_h entries N(0, sigma_h^2);
D_y = c dh^T/||dh||^2 with c ~ N(0, sigma_y^2 I) (so dy^(0) = c and D_y lies along dh, the
closure the theory assumes).
:func:`from_distances` builds a state with given (h, y, w), e.g. an ODE's start, so that the
micro-model runs beside it as its simulation (the rank-one scalar chain of the deep_linear link
is such a state). :func:`trajectories` integrates many runs, each on its own time grid, in one
compiled, vmapped solve.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import ode

__all__ = ["Params", "Task", "flow", "from_distances", "init", "loss", "observe", "trajectories",
           "trajectory"]


class Params(NamedTuple):
    ybar: jax.Array  # (n_y,)
    Dh: jax.Array  # (n_h, n_x)
    Dy: jax.Array  # (n_y, n_h)


class Task(NamedTuple):
    dx: jax.Array  # (n_x,)
    dy: jax.Array  # (n_y,) target difference dy*
    ybar: jax.Array  # (n_y,) target mean ybar*


def _direction(key, n: int, norm2) -> jax.Array:
    v = jax.random.normal(key, (n,), dtype=jnp.float64)
    return v * jnp.sqrt(norm2) / jnp.linalg.norm(v)


def init(key: jax.Array, *, n_x: int, n_h: int, n_y: int, dx2, dy2, sigma_h: float = 0.1,
         sigma_y: float = 0.05) -> tuple[Params, Task]:
    """Random task and initial parameters as in the module docstring (jit/vmap-safe)."""
    k = jax.random.split(key, 6)
    task = Task(_direction(k[0], n_x, dx2), _direction(k[1], n_y, dy2),
                jax.random.normal(k[2], (n_y,), dtype=jnp.float64))
    Dh = sigma_h * jax.random.normal(k[3], (n_h, n_x), dtype=jnp.float64)
    dh = Dh @ task.dx
    c = sigma_y * jax.random.normal(k[4], (n_y,), dtype=jnp.float64)
    Dy = jnp.outer(c, dh) / (dh @ dh)
    return Params(jax.random.normal(k[5], (n_y,), dtype=jnp.float64), Dh, Dy), task


def from_distances(h0, y0, w0, *, dx2, dy2, n_x: int, n_h: int, n_y: int
                   ) -> tuple[Params, Task]:
    """A state with ||dh||^2 = h0, ||dy^||^2 = y0, ||dy^||^2 - <dy*, dy^> = w0 and D_y along dh
    (jit/vmap-safe): dx = sqrt(dx2) e_1, dy* = sqrt(dy2) f_1, D_h = sqrt(h0/dx2) g_1 e_1^T,
    dy^ = c with c_1 = (y0 - w0)/sqrt(dy2) and c_2 = sqrt(y0 - c_1^2) (needs n_y >= 2 unless
    (y0 - w0)^2 = y0 dy2), D_y = c dh^T/h0, ybar = ybar* = 0 (no mean error)."""
    f64 = partial(jnp.asarray, dtype=jnp.float64)
    e = partial(jnp.zeros, dtype=jnp.float64)
    dx = e(n_x).at[0].set(jnp.sqrt(f64(dx2)))
    dy = e(n_y).at[0].set(jnp.sqrt(f64(dy2)))
    Dh = e((n_h, n_x)).at[0, 0].set(jnp.sqrt(f64(h0) / dx2))
    c1 = (f64(y0) - w0) / jnp.sqrt(f64(dy2))
    c = e(n_y).at[0].set(c1)
    if n_y > 1:
        c = c.at[1].set(jnp.sqrt(jnp.maximum(y0 - c1**2, 0.0)))
    Dy = jnp.outer(c, Dh @ dx) / h0
    return Params(e(n_y), Dh, Dy), Task(dx, dy, e(n_y))


def loss(params: Params, task: Task, kappa=1.0) -> jax.Array:
    """kappa * 1/2 sum_i ||y^_i - y_i||^2 over the two points."""
    d_out = params.Dy @ (params.Dh @ task.dx)
    out = jnp.stack([params.ybar - 0.5 * d_out, params.ybar + 0.5 * d_out])
    target = jnp.stack([task.ybar - 0.5 * task.dy, task.ybar + 0.5 * task.dy])
    return kappa * 0.5 * jnp.sum((out - target) ** 2)


def flow(t, params: Params, args) -> Params:
    """d theta/dt = -eta_theta dL/d theta; ``args = (task, (eta_ybar, eta_h, eta_y), kappa)``."""
    task, (eta_mean, eta_h, eta_y), kappa = args
    g = jax.grad(loss)(params, task, kappa)
    return Params(-eta_mean * g.ybar, -eta_h * g.Dh, -eta_y * g.Dy)


def observe(params: Params, task: Task, kappa=1.0) -> dict:
    """h, y, w, the loss, ||ybar - ybar*||^2 and the closure residual of one parameter set.

    closure = ||D_y - dy^ dh^T/h||_F / ||D_y||_F (zero when D_y acts only along dh).
    """
    dh = params.Dh @ task.dx
    d_out = params.Dy @ dh
    h = dh @ dh
    y = d_out @ d_out
    aligned = jnp.outer(d_out, dh) / h
    return {
        "h": h,
        "y": y,
        "w": y - task.dy @ d_out,
        "loss": loss(params, task, kappa),
        "mean_gap": jnp.sum((params.ybar - task.ybar) ** 2),
        "closure": jnp.linalg.norm(params.Dy - aligned) / jnp.linalg.norm(params.Dy),
    }


def trajectory(params: Params, task: Task, rates, times, *, kappa=1.0, rtol: float = 1e-12,
               atol: float = 1e-14) -> dict:
    """Integrate the gradient flow (Dopri8) and return :func:`observe` at every time.

    ``rates = (eta_ybar, eta_h, eta_y)``; each output has a leading time axis. vmap-safe.
    """
    path = ode.solve(flow, params, times, args=(task, rates, kappa), rtol=rtol, atol=atol)
    return jax.vmap(lambda p: observe(p, task, kappa))(path)


@jax.jit
def trajectories(params: Params, task: Task, rates, times, kappa) -> dict:
    """:func:`trajectory` of B runs at once (one compiled, vmapped solve): every argument has
    a leading axis of B (``rates`` (B, 3), ``times`` (B, T): each run on its own grid,
    ``kappa`` (B,)). Returns :func:`observe`'s values of shape (B, T)."""
    return jax.vmap(lambda p, k, r, t, kp: trajectory(p, k, r, t, kappa=kp))(
        params, task, rates, times, kappa)
