"""The compiled online-SGD loop of teacher-student runs (Goldt et al., NeurIPS 2019).

The seeds are split into one group per CPU core; each group runs in one program (``vmap``), the
groups concurrently in threads (XLA releases the GIL: 32 seeds at N = 500 train 1.4x faster on
2 cores than in one program). Steps between records run in a ``fori_loop`` inside a
``lax.scan`` over records, and records are grouped into chunks, one compiled call each, so
Python wakes up only between chunks (progress, divergence check).

Every step sees a fresh input x ~ N(0, I_N) and a label-noise variable zeta ~ N(0, 1), drawn
inside the loop from the run's :class:`data.Stream` five steps at a time (:func:`data.draw`);
the draw that straddles a record is kept in the carry and finished after it, so a run's data
depend only on its seed and the step.

Divergence: the first step whose error Delta = phi - y is not finite is reported as a
:class:`~learndyn.core.engine.DivergenceError` (a weight that overflowed makes the next error
non-finite; checking the scalar Delta costs nothing, checking the weights halved the speed).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.engine import DivergenceError, chunks, run_keys
from ..core.study import Progress
from . import data as inputs
from . import model

__all__ = ["Recording", "run"]


class Recording(NamedTuple):
    """``values[name]``: (seed, record, ...) float64 order parameters; ``final``: the networks."""

    steps: np.ndarray
    values: dict[str, np.ndarray]
    final: model.Networks


class _Carry(NamedTuple):
    nets: model.Networks
    stream: inputs.Stream
    data: jax.Array  # (GROUP, N + 1): the numbers of the current group of steps
    bad: jax.Array  # first step (0-based) with a non-finite error Delta, -1 if none


def _seed(carry: _Carry, starts, stops, hyper, *, g, train_v, N, dtype):
    G = inputs.steps_per_draw(N)

    def steps(c: _Carry, lo, hi, first) -> _Carry:
        def step(t, nb):  # only the networks and the flag travel through the step loop
            nets, bad = nb
            z = jax.lax.dynamic_index_in_dim(c.data, t - first, keepdims=False)
            nets, delta = model.sgd_update(nets, z[:N], z[N], g=g, train_v=train_v, **hyper)
            return nets, jnp.where((bad < 0) & ~jnp.isfinite(delta), t, bad)

        nets, bad = jax.lax.fori_loop(lo, hi, step, (c.nets, c.bad))
        return c._replace(nets=nets, bad=bad)

    def interval(c: _Carry, bounds):
        start, stop = bounds

        def group(b, c: _Carry) -> _Carry:
            stream, data = inputs.draw(c.stream, N, dtype)
            c = c._replace(stream=stream, data=data)
            return steps(c, b * G, jnp.minimum(stop, b * G + G), b * G)

        head = jnp.minimum(stop, -(-start // G) * G)  # rest of a group drawn before start
        c = steps(c, start, head, (start // G) * G)
        c = jax.lax.fori_loop(-(-start // G), -(-stop // G), group, c)
        return c, model.order_parameters(c.nets)

    return jax.lax.scan(interval, carry, (starts, stops))


@partial(jax.jit, static_argnames=("g", "train_v"))
def _advance(carry, starts, stops, hyper, *, g, train_v):
    N, dtype = carry.nets.w.shape[-1], carry.nets.w.dtype
    one = partial(_seed, g=g, train_v=train_v, N=N, dtype=dtype)
    return jax.vmap(one, in_axes=(0, None, None, None))(carry, starts, stops, hyper)


@partial(jax.jit, static_argnames=("N", "K", "M", "dtype"))
def _start(init_keys, data_keys, init_args, *, N, K, M, dtype):
    def one(init_key, data_key):
        nets = model.init(init_key, N=N, K=K, M=M, dtype=dtype, **init_args)
        data = jnp.zeros((inputs.steps_per_draw(N), N + 1), dtype)
        return _Carry(nets, inputs.stream(data_key, N, dtype), data, jnp.int32(-1))

    carry = jax.vmap(one)(init_keys, data_keys)
    return carry, jax.vmap(model.order_parameters)(carry.nets)


def run(*, g: str, N: int, K: int, M: int, train_v: bool, dtype: str, seeds, record_at,
        hyper: dict, init_args: dict, progress: Progress | None = None, label: str = "",
        n_chunks: int = 20, threads: int | None = None) -> Recording:
    """Train one student per seed online and record its order parameters at ``record_at``.

    Args:
        g, N, K, M, train_v, dtype: activation, sizes, whether v is trained, precision.
        seeds: integer seeds; seed s uses ``key(s)`` split into init and data keys.
        record_at: increasing step counts starting at 0.
        hyper: ``lr``, ``lr2``, ``sigma``, ``weight_decay`` (scalars of ``dtype``).
        init_args: keyword arguments of :func:`model.init` other than key, sizes and dtype.
        progress: called with (steps done, total, label) after each chunk.
        threads: seed groups run concurrently (default: one per CPU core; 1 = all seeds in
            one vmapped program). The numbers do not depend on it.

    Raises:
        DivergenceError: naming the first step (1-based) with a non-finite error.
    """
    record_at, seeds, init_keys, data_keys = run_keys(record_at, seeds)
    dt = jnp.dtype(dtype)
    hyper = {k: jnp.asarray(v, dtype=dt) for k, v in hyper.items()}
    n_parts = threads or os.cpu_count() or 1
    parts = [p for p in np.array_split(np.arange(len(seeds)), n_parts) if len(p)]

    x64 = jax.config.jax_enable_x64  # thread-local: the worker threads take the caller's

    def start(part):
        with jax.enable_x64(x64):
            return _start(init_keys[part], data_keys[part], init_args, N=N, K=K, M=M, dtype=dt)

    def advance(carry, starts, stops):
        with jax.enable_x64(x64):
            carry, obs = _advance(carry, starts, stops, hyper, g=g, train_v=train_v)
            return carry, np.asarray(carry.bad), jax.tree.map(np.asarray, obs)

    def joined(trees):
        return jax.tree.map(lambda *x: np.concatenate(x), *trees)

    with cf.ThreadPoolExecutor(len(parts)) as pool:
        carries, obs0 = zip(*pool.map(start, parts))
        pieces = [{k: x[:, None] for k, x in joined(obs0).items()}]
        groups = chunks(record_at, n_chunks)
        width = max(len(gr) for gr in groups)
        for group in groups:
            stops, starts = record_at[group], record_at[group - 1]
            pad = width - len(group)  # empty intervals keep one compiled shape
            starts = np.concatenate([starts, np.full(pad, stops[-1])]).astype(np.int32)
            stops = np.concatenate([stops, np.full(pad, stops[-1])]).astype(np.int32)
            out = list(pool.map(advance, carries, [starts] * len(parts), [stops] * len(parts)))
            carries = [o[0] for o in out]
            bad = np.concatenate([o[1] for o in out])
            if np.any(bad >= 0):
                i = int(np.argmin(np.where(bad >= 0, bad, np.iinfo(np.int64).max)))
                raise DivergenceError(int(bad[i]) + 1, seeds[i])
            n = len(group)
            pieces.append({k: x[:, :n] for k, x in joined([o[2] for o in out]).items()})
            if progress is not None:
                progress(int(stops[-1]), int(record_at[-1]), label)
    values = {k: np.concatenate([p[k] for p in pieces], axis=1) for k in pieces[0]}
    nets = jax.tree.map(lambda *x: jnp.concatenate(x), *[c.nets for c in carries])
    return Recording(record_at, values, nets)
