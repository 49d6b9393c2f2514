r"""The value of a control signal, computed through the unrolled average learning dynamics.

Carrasco-Davis, Masís & Saxe, *Meta-Learning Strategies through Value Maximization in Neural
Networks*, arXiv:2310.19919 (2023). A control c_k, k = 0..n-1, acts at times t_k = k dt
(dt = the network's learning rate alpha). The weights follow the controlled Euler scheme and
the value is the discounted Riemann sum of performance minus cost:

.. math:: W_{k+1} = W_k + \alpha F(W_k, c_k),\qquad
          V[c] = \alpha\sum_{k=0}^{n-1}\gamma^{t_k}\,\big(-L(W_k, c_k) - C(c_k)\big)

(gamma per unit of continuous time; F, L, C from :mod:`.controls`). The unroll is one
``lax.scan``, optionally in ``jax.checkpoint``-ed chunks so that reverse mode stores
O(n/m + m) states instead of O(n). For MAML-like problems the control is the initial weights
shared by T tasks, each running the uncontrolled flow:
:math:`V = -\alpha\sum_k \gamma^{t_k}\,\mathrm{mean}_\tau L_{\tau,k} - \tfrac\beta2\|W(0)\|^2`.

Closed forms and reductions that test this unroll are in :mod:`.reductions`.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import ConfigError
from ..core.precision import float64
from .controls import NONE, ControlType
from .data import Stats

__all__ = [
    "Problem",
    "as_jax",
    "check_control",
    "cost_curve",
    "discount",
    "loss_curve",
    "neutral_control",
    "rollout",
    "task_losses",
    "trajectory",
    "traced_value",
    "value",
    "value_and_grad",
]


@partial(jax.tree_util.register_dataclass,
         data_fields=["w0", "stats", "schedule", "params", "dt", "gamma", "lo", "hi"],
         meta_fields=["control_type", "n_steps", "control_shape", "init_control", "checkpoint"])
@dataclasses.dataclass(frozen=True)
class Problem:
    """An open-loop control problem (a pytree: jit, vmap and stack it freely).

    Attributes:
        w0: initial weights, a scalar (single neuron) or a tuple (W1, W2).
        stats: :class:`~learndyn.learning_effort.data.Stats` stacked over T tasks (leading axis).
        schedule: (n_steps,) index of the task active at each step.
        params: dict of the control type's constants (``lam``, ``beta``, ...).
        dt, gamma: step (= learning rate alpha) and discount per unit time; lo, hi: box bounds.
        control_type: :class:`~learndyn.learning_effort.controls.ControlType`.
        n_steps: n; control_shape: the control's shape per step (a tuple of shapes for gains).
        init_control: the control is the initial weights (MAML-like; no time axis).
        checkpoint: chunk length of the checkpointed scan (0: plain scan).
    """

    w0: Any
    stats: Stats
    schedule: Any
    params: dict
    dt: Any
    gamma: Any
    lo: Any
    hi: Any
    control_type: ControlType
    n_steps: int
    control_shape: tuple
    init_control: bool = False
    checkpoint: int = 0

    def replace(self, **changes) -> Problem:
        """A copy with fields or ``params`` entries changed (e.g. ``p.replace(beta=1.0)``)."""
        fields = {f.name for f in dataclasses.fields(self)}
        params = {k: v for k, v in changes.items() if k not in fields}
        unknown = set(params) - set(self.params)
        if unknown:
            raise ConfigError(f"{sorted(unknown)[0]}: not a field or parameter of this problem")
        rest = {k: v for k, v in changes.items() if k in fields}
        rest["params"] = {**rest.get("params", self.params), **params}
        return dataclasses.replace(self, **rest)

    @property
    def times(self) -> np.ndarray:
        """t_k = k dt, k = 0..n-1."""
        return np.arange(self.n_steps) * float(self.dt)

    @property
    def gains(self) -> bool:
        """The control is a tuple (G1, G2) shaped like the weights."""
        return bool(self.control_shape) and isinstance(self.control_shape[0], tuple)


# ---- controls -----------------------------------------------------------------------------
def _full_shapes(p: Problem):
    lead = () if p.init_control else (p.n_steps,)
    return tuple(lead + s for s in p.control_shape) if p.gains else lead + p.control_shape


def neutral_control(p: Problem):
    """The control at which the flow is uncontrolled, in the problem's shape (numpy float64).

    A tuple (G1, G2) for gains; an array otherwise; for MAML-like problems the initial weights
    ``p.w0``.
    """
    if p.init_control:
        return tuple(np.array(w, np.float64) for w in p.w0)
    shapes, c0 = _full_shapes(p), p.control_type.neutral
    return tuple(np.full(s, c0) for s in shapes) if p.gains else np.full(shapes, c0)


def check_control(p: Problem, control, name: str = "control"):
    """The control as float64 numpy arrays, after checking its structure and shape."""
    shapes = _full_shapes(p)
    if p.gains or p.init_control:
        if not isinstance(control, tuple | list) or len(control) != len(shapes):
            raise ConfigError(f"{name}: expected a tuple of {len(shapes)} arrays of shapes "
                              f"{shapes}, got {type(control).__name__}")
        out = tuple(np.asarray(c, np.float64) for c in control)
        got = tuple(c.shape for c in out)
    else:
        out = np.asarray(control, np.float64)
        got = out.shape
    if got != shapes:
        raise ConfigError(f"{name}: shape {got}, expected {shapes}")
    return out


#: steps per loop iteration of the compiled scan (fewer loop overheads on CPU)
UNROLL = 1


# ---- the unroll ---------------------------------------------------------------------------
def discount(p: Problem) -> jax.Array:
    """gamma^{t_k}, k = 0..n-1 (0 from step ``params["horizon"]`` on, where given)."""
    k = jnp.arange(p.n_steps)
    d = jnp.exp(k * (p.dt * jnp.log(p.gamma)))
    return jnp.where(k < p.params["horizon"], d, 0.0) if "horizon" in p.params else d


def _scan(ct: ControlType, p: Problem, w0, control, all_tasks: bool = False, every: int = 0):
    """Euler unroll: (final w, L (n,), C (n,)[, L on every task (n, T)][, w every ``every``])."""
    n, prm, dt, chunk = p.n_steps, p.params, p.dt, p.checkpoint

    one_task = p.stats.sigma_x.shape[0] == 1

    def step(w, xs):
        c, task, k = xs
        s = jax.tree.map(lambda a: a[0] if one_task else a[task], p.stats)
        out = {"L": ct.loss(w, c, s, prm), "C": ct.cost(c, prm)}
        if all_tasks:
            out["tasks"] = jax.vmap(lambda st: ct.loss(w, c, st, prm))(p.stats)
        if every:
            out["w"] = w
        new = jax.tree.map(lambda a, d: a + dt * d, w, ct.field(w, c, s, prm))
        if chunk:  # padded steps (k >= n) change nothing
            new = jax.tree.map(lambda a, b: jnp.where(k < n, a, b), new, w)
        return new, out

    xs = (control, p.schedule, jnp.arange(n))
    if not chunk:
        w, out = jax.lax.scan(step, w0, xs, unroll=UNROLL)
    else:
        m = -(-n // chunk)
        pad = m * chunk - n
        xs = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], pad, 0)])
                          .reshape((m, chunk) + a.shape[1:]), xs)
        inner = jax.checkpoint(lambda w, x: jax.lax.scan(step, w, x, unroll=UNROLL))
        w, out = jax.lax.scan(inner, w0, xs)
        out = jax.tree.map(lambda a: a.reshape((m * chunk,) + a.shape[2:])[:n], out)
    if every:
        out["w"] = jax.tree.map(lambda a: a[::every], out["w"])
    return w, out


def rollout(p: Problem, control, *, all_tasks: bool = False, every: int = 0) -> dict:
    """L_k and C_k (and, if asked, every task's loss and the weights every ``every`` steps).

    For MAML-like problems ``L`` is the mean over tasks and ``tasks`` the per-task losses.
    Traceable (no checks, no float64 switch): use inside your own jit/grad.
    """
    if not p.init_control:
        _, out = _scan(p.control_type, p, p.w0, control, all_tasks, every)
        return out

    def one(task):
        q = dataclasses.replace(p, schedule=jnp.full(p.n_steps, task))
        return _scan(NONE, q, control, jnp.zeros(p.n_steps), False, every)[1]

    per = jax.vmap(one)(jnp.arange(p.stats.sigma_x.shape[0]))
    out = {"L": per["L"].mean(0), "C": jnp.zeros(p.n_steps), "tasks": per["L"].T}
    if every:
        out["w"] = per["w"]
    return out


def traced_value(p: Problem, control) -> jax.Array:
    """V[c] as a traceable function (no checks, no float64 switch): for your own jit/grad."""
    out = rollout(p, control)
    v = p.dt * jnp.sum(discount(p) * (-out["L"] - out["C"]))
    if p.init_control:
        v = v - 0.5 * p.params["beta"] * sum(jnp.sum(w**2) for w in control)
    return v


_value_jit = jax.jit(traced_value)
_value_grad_jit = jax.jit(jax.value_and_grad(traced_value, argnums=1))
_rollout_jit = jax.jit(rollout, static_argnames=("all_tasks", "every"))


def as_jax(p: Problem) -> Problem:
    """The problem's arrays as jax arrays (float64 inside a float64 context)."""
    return jax.tree.map(jnp.asarray, p)


@float64
def value(p: Problem, control) -> float:
    """V[c] (see the module docstring), float64."""
    return float(_value_jit(as_jax(p), check_control(p, control)))


@float64
def value_and_grad(p: Problem, control):
    """(V, dV/dc) by reverse mode through the unroll (the discrete adjoint), float64."""
    return _value_grad_jit(as_jax(p), check_control(p, control))


@float64
def loss_curve(p: Problem, control) -> np.ndarray:
    """L_k, k = 0..n-1: the loss before each step's update (mean over tasks for MAML)."""
    return _rollout_jit(as_jax(p), check_control(p, control))["L"]


@float64
def cost_curve(p: Problem, control) -> np.ndarray:
    """C_k, k = 0..n-1."""
    return _rollout_jit(as_jax(p), check_control(p, control))["C"]


@float64
def task_losses(p: Problem, control) -> np.ndarray:
    """(n, T): every task's loss at each step (the inactive tasks' too, for continual runs)."""
    return _rollout_jit(as_jax(p), check_control(p, control), all_tasks=True)["tasks"]


@float64
def trajectory(p: Problem, control, *, every: int = 1):
    """Weights at steps 0, every, 2 every, ... (< n); MAML-like: a leading task axis."""
    if int(every) < 1:
        raise ConfigError(f"every: must be a positive integer, got {every}")
    return _rollout_jit(as_jax(p), check_control(p, control), every=int(every))["w"]
