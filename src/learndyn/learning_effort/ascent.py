r"""Open-loop optimisation of the whole control series by gradient ascent on V.

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919. The gradient dV/dc comes from reverse mode
through the unroll (the discrete adjoint). Two methods, as in the paper's code:

- ``"ascent"`` (gains, engagement, category): projected gradient ascent
  :math:`c \leftarrow \mathrm{clip}(c + s\,\nabla_c V,\ lo,\ hi)`; the published step sizes s
  refer to V normalised with the factor alpha (:mod:`.theory`);
- ``"adam"`` (learning rate, MAML): Adam with the AMSGrad correction (optax) on -V, each update
  followed by clipping to the bounds.

Every iteration records V at the control it starts from; the iterations run inside one compiled
``lax.scan`` per chunk (one compilation whatever the number of iterations). With box bounds the
optimum satisfies the KKT conditions: dV/dc_i = 0 where lo < c_i < hi, >= 0 at hi, <= 0 at lo.
:func:`kkt_residual` is the norm of their violation (the projected gradient).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..core.config import ConfigError
from ..core.engine import DivergenceError
from ..core.precision import float64
from ..core.study import Progress
from .theory import Problem, as_jax, check_control, neutral_control, traced_value

__all__ = [
    "AscentDivergenceError",
    "Result",
    "initial_control",
    "kkt_residual",
    "optimise",
    "optimise_batch",
    "projected_gradient",
    "stack_problems",
]


class AscentDivergenceError(DivergenceError):
    """The value or its gradient became non-finite during the ascent."""

    def __init__(self, iteration: int, problem: int | None = None):
        self.step, self.seed, self.iteration = iteration, 0, iteration
        where = "" if problem is None else f" (problem {problem} of the batch)"
        RuntimeError.__init__(self, f"control optimisation diverged: non-finite value or gradient "
                              f"at iteration {iteration}{where}; try a smaller step")


class Result(NamedTuple):
    """``control`` (same structure as the initial one), ``values`` (V at the control each
    iteration starts from), ``value`` (V of the returned control), ``kkt`` and ``kkt_init``
    (:func:`kkt_residual` at the returned and the initial control)."""

    control: Any
    values: np.ndarray
    value: float
    kkt: float
    kkt_init: float


def _clip(p: Problem, c):
    return jax.tree.map(lambda a: jnp.clip(a, p.lo, p.hi), c)


def _projected(p: Problem, c, g):
    def one(a, d):
        return jnp.where(a <= p.lo, jnp.maximum(d, 0.0),
                         jnp.where(a >= p.hi, jnp.maximum(-d, 0.0), jnp.abs(d)))

    return jax.tree.map(one, c, g)


def _kkt(p: Problem, c) -> jax.Array:
    g = jax.grad(traced_value, argnums=1)(p, c)
    return jnp.sqrt(sum(jnp.sum(a**2) for a in jax.tree.leaves(_projected(p, c, g))))


_kkt_jit = jax.jit(_kkt)


@float64
def kkt_residual(p: Problem, control) -> float:
    """|| projected gradient ||: the violation of the KKT conditions of the box-bounded ascent."""
    return float(_kkt_jit(as_jax(p), check_control(p, control)))


@float64
def projected_gradient(p: Problem, control):
    """Per component: |dV/dc| inside the box, max(dV/dc, 0) at lo, max(-dV/dc, 0) at hi."""
    q, c = as_jax(p), check_control(p, control)
    return _projected(q, c, jax.grad(traced_value, argnums=1)(q, c))


def initial_control(p: Problem, *, noise: float = 0.0, seed: int = 0):
    """The neutral control plus N(0, noise^2) entries, clipped to the bounds (numpy)."""
    rng = np.random.default_rng(seed)
    c = neutral_control(p)
    leaves = c if isinstance(c, tuple) else (c,)
    out = tuple(np.clip(a + noise * rng.standard_normal(a.shape), float(p.lo), float(p.hi))
                for a in leaves)
    return out if isinstance(c, tuple) else out[0]


def _optimizer(method: str, learning_rate: float = 0.0):
    """Adam(AMSGrad); the learning rate lives in the optimiser state (no recompilation)."""
    if method == "adam":
        return optax.inject_hyperparams(optax.amsgrad)(learning_rate=learning_rate)
    return None


def _ascend_chunk(method: str, length: int, p: Problem, c, opt_state, step, n_valid):
    """``length`` iterations (the first ``n_valid`` count); stops updating once non-finite."""
    value_grad = jax.value_and_grad(traced_value, argnums=1)
    opt = _optimizer(method)

    def body(carry, i):
        c, opt_state, bad = carry
        v, g = value_grad(p, c)
        finite = jnp.isfinite(v) & jnp.all(jnp.stack(
            [jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(g)]))
        if method == "adam":
            upd, new_state = opt.update(jax.tree.map(jnp.negative, g), opt_state, c)
            new = _clip(p, optax.apply_updates(c, upd))
        else:
            new_state, new = opt_state, _clip(p, jax.tree.map(lambda a, d: a + step * d, c, g))
        go = (i < n_valid) & finite & (bad < 0)
        bad = jnp.where((i < n_valid) & ~finite & (bad < 0), i, bad)
        keep = partial(jax.tree.map, lambda a, b: jnp.where(go, a, b))
        return (keep(new, c), keep(new_state, opt_state), bad), v

    (c, opt_state, bad), values = jax.lax.scan(body, (c, opt_state, jnp.int32(-1)),
                                               jnp.arange(length, dtype=jnp.int32))
    return c, opt_state, bad, values


_chunk_one = jax.jit(_ascend_chunk, static_argnums=(0, 1))
_chunk_many = jax.jit(jax.vmap(_ascend_chunk, in_axes=(None, None, 0, 0, 0, None, None)),
                      static_argnums=(0, 1))
_values_many = jax.jit(jax.vmap(traced_value))
_kkt_many = jax.jit(jax.vmap(_kkt))


def stack_problems(problems) -> Problem:
    """Problems of equal shapes and types stacked along a leading axis (for vmapped sweeps)."""
    problems = list(problems)
    first = jax.tree.structure(problems[0])
    for i, q in enumerate(problems[1:], start=1):
        if jax.tree.structure(q) != first:
            raise ConfigError(f"problems[{i}]: differs in type, horizon or shape from problems[0]")
    return jax.tree.map(lambda *a: np.stack([np.asarray(x) for x in a]), *problems)


def optimise(p: Problem, *, iterations: int, step: float = 1.0, init=None,
             method: str = "ascent", progress: Progress | None = None,
             chunk: int = 100) -> Result:
    r"""Maximise V over the whole control series (see the module docstring).

    Args:
        p: the problem.
        iterations: number of ascent iterations.
        step: ascent step s (``"ascent"``) or Adam learning rate (``"adam"``).
        init: the initial control (default: :func:`neutral_control`); clipped to the bounds.
        method: ``"ascent"`` or ``"adam"``.
        progress: called as progress(done, total, label) after every chunk of iterations.
        chunk: iterations per compiled call.

    Returns:
        :class:`Result` (numpy float64).

    Raises:
        AscentDivergenceError: naming the first iteration whose V or gradient is not finite.
    """
    out = _optimise(stack_problems([p]), iterations, step,
                    None if init is None else _add_axis(check_control(p, init, "init")),
                    method, progress, chunk, single=True)
    return Result(jax.tree.map(lambda a: a[0], out.control), out.values[0], float(out.value[0]),
                  float(out.kkt[0]), float(out.kkt_init[0]))


def _add_axis(c):
    return jax.tree.map(lambda a: np.asarray(a)[None], c)


def optimise_batch(problems: Problem, *, iterations: int, step: float = 1.0, init=None,
                   method: str = "ascent", progress: Progress | None = None,
                   chunk: int = 100) -> Result:
    """:func:`optimise` for problems stacked with :func:`stack_problems`, in one vmapped program
    (e.g. a sweep over beta or gamma). Every field of the :class:`Result` has a leading axis."""
    return _optimise(problems, iterations, step, init, method, progress, chunk, single=False)


@float64
def _optimise(problems, iterations, step, init, method, progress, chunk, *, single):
    if method not in ("ascent", "adam"):
        raise ConfigError(f"method: 'ascent' or 'adam', got {method!r}")
    if not (isinstance(iterations, int | np.integer) and iterations >= 1):
        raise ConfigError(f"iterations: must be a positive integer, got {iterations!r}")
    if not (np.isfinite(step) and step > 0):
        raise ConfigError(f"step: must be > 0, got {step}")
    q = as_jax(problems)
    batch = int(np.shape(problems.dt)[0])
    one = jax.tree.map(lambda a: a[0], problems)
    if init is None:
        init = _add_axis(neutral_control(one))
        init = jax.tree.map(lambda a: np.repeat(a, batch, 0), init)
    else:
        check_control(one, jax.tree.map(lambda a: np.asarray(a)[0], init), "init")
    c = jax.vmap(_clip)(q, jax.tree.map(jnp.asarray, init))
    opt = _optimizer(method, float(step))
    opt_state = None if opt is None else jax.vmap(opt.init)(c)
    kkt_init = np.asarray(_kkt_many(q, c))
    length = int(min(chunk, iterations))
    values, done = [], 0
    while done < iterations:
        n_valid = min(length, iterations - done)
        c, opt_state, bad, v = _chunk_many(method, length, q, c, opt_state, float(step),
                                           jnp.int32(n_valid))
        bad = np.asarray(bad)
        if np.any(bad >= 0):
            b = int(np.argmax(bad >= 0))
            raise AscentDivergenceError(done + int(bad[b]), None if single else b)
        values.append(np.asarray(v)[:, :n_valid])
        done += n_valid
        if progress is not None:
            progress(done, iterations, "control ascent")
    return Result(c, np.concatenate(values, axis=1), np.asarray(_values_many(q, c)),
                  np.asarray(_kkt_many(q, c)), kkt_init)
