"""Constructors of the control problems of Carrasco-Davis, Masís & Saxe (arXiv:2310.19919).

Each returns a :class:`~learndyn.learning_effort.theory.Problem` after checking its arguments
(one :class:`~learndyn.core.config.ConfigError` line naming the argument). Statistics are a
:class:`~learndyn.learning_effort.data.Task`, a :class:`~learndyn.learning_effort.data.Stats`
or a tuple (Sigma_x, Sigma_yx, Sigma_y).

================================ ==================== ======================= ==============
constructor                      control (per step)   cost                    bounds
================================ ==================== ======================= ==============
:func:`single_neuron_problem`    g (scalar)           beta g^2                [0, 0.5]
:func:`gain_problem`             (G1, G2)             exp(beta sum G^2) - 1   [-0.5, 0.5]
:func:`continual_problem`        (G1, G2), tasks A/B  exp(beta sum G^2) - 1   [-0.5, 0.5]
:func:`learning_rate_problem`    u (scalar)           beta (u - u0)^2         [-1, 1]
:func:`engagement_problem`       psi (one per task)   beta sum psi^2 (active) [0, 1]
                                                      beta sum (psi-1)^2      [0, 2]
:func:`category_problem`         psi (one per output) beta (sum psi^2 - O)^2/O [0, 2]
:func:`maml_problem`             (W1(0), W2(0))       beta/2 ||W(0)||^2       [-1, 1]
================================ ==================== ======================= ==============
"""

from __future__ import annotations

import math

import numpy as np

from ..core.config import ConfigError
from . import controls
from .controls import ControlType
from .data import Stats, Task, check_stats, two_gaussians
from .theory import Problem

__all__ = [
    "category_problem",
    "continual_problem",
    "engagement_problem",
    "gain_problem",
    "learning_rate_problem",
    "maml_problem",
    "single_neuron_problem",
    "two_layer_problem",
]

#: reverse mode through more than this many (step x weight) numbers is checkpointed
CHECKPOINT_ABOVE = 5e6


def _stats(stats, name: str = "stats") -> Stats:
    if isinstance(stats, Task):
        stats = stats.stats
    if not isinstance(stats, tuple) or len(stats) != 3:
        raise ConfigError(f"{name}: expected a Task, Stats or (sigma_x, sigma_yx, sigma_y)")
    return check_stats(*stats, name=name)


def _stack(stats: list[Stats], name: str) -> Stats:
    shapes = {tuple(a.shape for a in s) for s in stats}
    if len(shapes) != 1:
        raise ConfigError(f"{name}: the tasks' statistics must have equal shapes, got {shapes}")
    return Stats(*(np.stack(a) for a in zip(*stats)))


def _common(dt, gamma, n_steps, bounds) -> tuple[float, float, int, float, float]:
    if not (isinstance(n_steps, int | np.integer) and n_steps >= 1):
        raise ConfigError(f"n_steps: must be a positive integer, got {n_steps!r}")
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"dt: must be > 0, got {dt}")
    if not 0 < gamma <= 1:
        raise ConfigError(f"gamma: the discount must lie in (0, 1], got {gamma}")
    lo, hi = (float(b) for b in bounds)
    if not lo <= hi:
        raise ConfigError(f"bounds: lower bound {lo} exceeds upper bound {hi}")
    return float(dt), float(gamma), int(n_steps), lo, hi


def _scalars(**values) -> dict:
    out = {}
    for name, v in values.items():
        v = float(v)
        if not (math.isfinite(v) and v >= 0):
            raise ConfigError(f"{name}: must be finite and >= 0, got {v}")
        out[name] = np.float64(v)
    return out


def _weights(w1_0, w2_0, stats: Stats) -> tuple[np.ndarray, np.ndarray]:
    w1, w2 = np.asarray(w1_0, np.float64), np.asarray(w2_0, np.float64)
    d, o = stats.sigma_x.shape[-1], stats.sigma_y.shape[-1]
    if w1.ndim != 2 or w1.shape[1] != d:
        raise ConfigError(f"w1_0: shape {w1.shape}, expected (hidden, {d})")
    if w2.shape != (o, w1.shape[0]):
        raise ConfigError(f"w2_0: shape {w2.shape}, expected ({o}, {w1.shape[0]})")
    return w1, w2


def _checkpoint(checkpoint, n_steps: int, size: int) -> int:
    if checkpoint is None:
        return int(math.isqrt(n_steps)) if n_steps * size > CHECKPOINT_ABOVE else 0
    if int(checkpoint) < 0:
        raise ConfigError(f"checkpoint: must be >= 0 (0: off), got {checkpoint}")
    return int(checkpoint)


def two_layer_problem(control_type: ControlType, tasks, w1_0, w2_0, control_shape, *,
                      lam: float, beta: float, gamma: float, dt: float, n_steps: int, bounds,
                      checkpoint: int | None = None, schedule=None, **params) -> Problem:
    """A control problem for a two-layer linear network with any :class:`ControlType`.

    Args:
        control_type: field, loss, cost and neutral value (see :mod:`.controls`).
        tasks: list of statistics (one task unless ``schedule`` picks among several).
        w1_0, w2_0: initial weights (H x D), (O x H).
        control_shape: the control's shape per step, or ``f(w1, w2) -> shape``; a tuple of
            shapes makes the control a tuple of arrays (as for per-weight gains).
        lam, beta, gamma, dt, n_steps, bounds: see :class:`~.theory.Problem`.
        checkpoint: chunk length of the checkpointed scan (None: automatic, 0: off).
        schedule: (n_steps,) index of the active task per step (default: task 0).
        params: further constants the control type reads from ``params``.
    """
    dt, gamma, n, lo, hi = _common(dt, gamma, n_steps, bounds)
    stats = [_stats(s, f"stats[{i}]" if len(tasks) > 1 else "stats") for i, s in enumerate(tasks)]
    w1, w2 = _weights(w1_0, w2_0, stats[0])
    if schedule is None:
        schedule = np.zeros(n, np.int32)
    schedule = np.asarray(schedule, np.int32)
    if schedule.shape != (n,) or schedule.min() < 0 or schedule.max() >= len(stats):
        raise ConfigError(f"schedule: {n} task indices in [0, {len(stats) - 1}] expected")
    shape = control_shape(w1, w2) if callable(control_shape) else tuple(control_shape)
    return Problem(
        w0=(w1, w2), stats=_stack(stats, "stats"), schedule=schedule,
        params={**_scalars(lam=lam, beta=beta), **params}, dt=np.float64(dt),
        gamma=np.float64(gamma), lo=np.float64(lo), hi=np.float64(hi),
        control_type=control_type, n_steps=n, control_shape=shape,
        checkpoint=_checkpoint(checkpoint, n, w1.size + w2.size))


def single_neuron_problem(mu: float = 2.0, sigma: float = 1.0, lam: float = 0.1,
                          beta: float = 0.3, gamma: float = 0.99, dt: float = 1e-3,
                          n_steps: int = 600, bounds=(0.0, 0.5), *, w0: float = 0.0,
                          task: Task | None = None) -> Problem:
    """y^ = (1 + g) w x on :func:`~learndyn.learning_effort.data.two_gaussians` (mu, sigma),
    w(0) = ``w0``, quadratic cost beta g^2 (``task`` replaces the data set)."""
    dt, gamma, n, lo, hi = _common(dt, gamma, n_steps, bounds)
    stats = _stats(two_gaussians(mu, sigma) if task is None else task)
    if stats.sigma_x.shape != (1, 1) or stats.sigma_y.shape != (1, 1):
        raise ConfigError("task: the single neuron needs one input and one output")
    return Problem(
        w0=np.float64(w0), stats=_stack([stats], "stats"), schedule=np.zeros(n, np.int32),
        params=_scalars(lam=lam, beta=beta), dt=np.float64(dt), gamma=np.float64(gamma),
        lo=np.float64(lo), hi=np.float64(hi), control_type=controls.SINGLE_NEURON, n_steps=n,
        control_shape=())


def _like_weights(w1, w2) -> tuple:
    return w1.shape, w2.shape


def gain_problem(stats, w1_0, w2_0, *, lam: float = 0.01, beta: float = 0.3,
                 gamma: float = 0.99, dt: float = 5e-3, n_steps: int = 4000, bounds=(-0.5, 0.5),
                 checkpoint: int | None = None) -> Problem:
    """Per-weight gains G1, G2 (W~ = W (.) (1 + G)) of a two-layer linear network.

    ``checkpoint``: chunk length of the checkpointed scan (None: automatic, 0: off).
    """
    return two_layer_problem(controls.GAIN, [stats], w1_0, w2_0, _like_weights, lam=lam,
                             beta=beta, gamma=gamma, dt=dt, n_steps=n_steps, bounds=bounds,
                             checkpoint=checkpoint)


def continual_problem(stats_a, stats_b, w1_0, w2_0, *, switch_every: int, lam: float = 0.001,
                      beta: float = 0.3, gamma: float = 0.99, dt: float = 5e-3,
                      n_steps: int = 4000, bounds=(-0.5, 0.5),
                      checkpoint: int | None = None) -> Problem:
    """Gains (as :func:`gain_problem`) while the task alternates A, B, A, ... every
    ``switch_every`` steps; L_k is the active task's loss (the schedule is known in advance)."""
    if not (isinstance(switch_every, int | np.integer) and switch_every >= 1):
        raise ConfigError(f"switch_every: must be a positive integer, got {switch_every!r}")
    schedule = ((np.arange(int(n_steps)) // switch_every) % 2).astype(np.int32)
    return two_layer_problem(controls.GAIN, [stats_a, stats_b], w1_0, w2_0, _like_weights,
                             lam=lam, beta=beta, gamma=gamma, dt=dt, n_steps=n_steps,
                             bounds=bounds, checkpoint=checkpoint, schedule=schedule)


def learning_rate_problem(stats, w1_0, w2_0, *, lam: float = 0.01, beta: float = 0.1,
                          gamma: float = 0.99, dt: float = 5e-3, n_steps: int = 3000,
                          bounds=(-1.0, 1.0), u0: float = 0.0,
                          checkpoint: int | None = None) -> Problem:
    """A scalar learning-rate control: F = (1 + u) F_0, cost beta (u - u0)^2."""
    return two_layer_problem(controls.LEARNING_RATE, [stats], w1_0, w2_0, (), lam=lam,
                             beta=beta, gamma=gamma, dt=dt, n_steps=n_steps, bounds=bounds,
                             checkpoint=checkpoint, u0=np.float64(u0))


def engagement_problem(stats, w1_0, w2_0, groups, *, variant: str = "active",
                       lam: float = 0.0, beta: float = 0.1, gamma: float = 0.99,
                       dt: float = 5e-3, n_steps: int = 4000, bounds=None,
                       checkpoint: int | None = None) -> Problem:
    """Task engagement psi_i: task i's output error is scaled by psi_i.

    ``groups`` (outputs x tasks, 0/1): which outputs belong to which task (each output to one).
    ``variant``: "active" (cost beta sum psi^2, bounds [0, 1]) or "attention" (cost
    beta sum (psi - 1)^2, bounds [0, 2]); one control type (cost beta sum (psi - r)^2 with
    ``params["reference"]`` r = 0 or 1), so both variants stack into one vmapped program.
    """
    kinds = {"active": (0.0, (0.0, 1.0)), "attention": (1.0, (0.0, 2.0))}
    if variant not in kinds:
        raise ConfigError(f"variant: 'active' or 'attention', got {variant!r}")
    reference, default = kinds[variant]
    g = np.asarray(groups, np.float64)
    o = _stats(stats).sigma_y.shape[0]
    if g.ndim != 2 or g.shape[0] != o or not np.all(np.isin(g, (0.0, 1.0))) or not np.all(
            g.sum(1) == 1):
        raise ConfigError(f"groups: a 0/1 matrix (outputs = {o}) x tasks with one 1 per row")
    return two_layer_problem(controls.ENGAGEMENT, [stats], w1_0, w2_0, (g.shape[1],), lam=lam,
                             beta=beta, gamma=gamma, dt=dt, n_steps=n_steps,
                             bounds=default if bounds is None else bounds,
                             checkpoint=checkpoint, groups=g, reference=np.float64(reference))


def category_problem(stats, w1_0, w2_0, *, lam: float = 0.0, beta: float = 0.3,
                     gamma: float = 0.99, dt: float = 5e-3, n_steps: int = 3000,
                     bounds=(0.0, 2.0), checkpoint: int | None = None) -> Problem:
    """Category proportions psi_c: output c's squared error is weighted by psi_c^2; the cost
    beta (sum psi^2 - O)^2 / O lets the learner reallocate at constant sum psi^2."""
    return two_layer_problem(controls.CATEGORY, [stats], w1_0, w2_0, lambda a, b: b.shape[:1],
                             lam=lam, beta=beta, gamma=gamma, dt=dt, n_steps=n_steps,
                             bounds=bounds, checkpoint=checkpoint)


def maml_problem(tasks, w1_0, w2_0, *, n_inner: int, n_steps: int | None = None,
                 lam: float = 0.0, beta: float = 0.0, gamma: float = 1.0, dt: float = 5e-3,
                 bounds=(-1.0, 1.0), checkpoint: int | None = None) -> Problem:
    """MAML-like: the control is the initial weights shared by ``tasks``; each task runs the
    uncontrolled flow, V = -dt sum_{k < n_inner} gamma^{t_k} mean_tau L_tau,k - beta/2
    ||W(0)||^2. The unroll has ``n_steps`` (default ``n_inner``) steps, so problems with
    different inner horizons but equal ``n_steps`` stack into one vmapped program.
    ``w1_0, w2_0`` fix the shapes (and are the neutral control)."""
    if not tasks:
        raise ConfigError("tasks: need at least one task")
    n_steps = n_inner if n_steps is None else n_steps
    if not (isinstance(n_inner, int | np.integer) and 1 <= n_inner <= n_steps):
        raise ConfigError(f"n_inner: must be an integer in [1, n_steps = {n_steps}], got "
                          f"{n_inner!r}")
    p = two_layer_problem(controls.NONE, list(tasks), w1_0, w2_0, _like_weights, lam=lam,
                          beta=beta, gamma=gamma, dt=dt, n_steps=n_steps, bounds=bounds,
                          checkpoint=checkpoint, horizon=np.int64(n_inner))
    return p.replace(init_control=True)
