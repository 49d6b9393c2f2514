"""The training loop: ``lax.scan`` inside ``jit``, ``vmap`` over seeds, recording on a schedule.

A simulation is three pure functions over a pytree ``state`` and a pytree ``args`` of constants
(data, hyper-parameters; shared by all seeds):

- ``init(key, args) -> state``
- ``step(state, key, t, args) -> state``  one update; ``key`` is fresh for every step ``t``
  (``fold_in(seed_key, t)``), so online data can be sampled inside the compiled loop;
- ``observe(state, args) -> {name: array}``  the quantities recorded.

:func:`simulate` runs them for every seed at once and records at chosen step counts. Steps
between records run in a ``fori_loop``; records are grouped into chunks, one compiled call each,
so the host wakes up only between chunks (for the progress bar and the divergence check). The
first non-finite state stops the run with :class:`DivergenceError` naming the step, and
``stop_when`` may end a run early at a chunk boundary (e.g. once every seed has converged).

:func:`gradient_step` builds ``step`` from a loss and an ``optax`` optimiser, for full-batch
(``batch = args``) or online (``batch = sample(key, args)``) training.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .study import Progress

__all__ = [
    "DivergenceError",
    "Recording",
    "TrainState",
    "gradient_step",
    "chunks",
    "record_steps",
    "run_keys",
    "simulate",
]

Init = Callable[[jax.Array, Any], Any]
Step = Callable[[Any, jax.Array, jax.Array, Any], Any]
Observe = Callable[[Any, Any], dict[str, jax.Array]]


class DivergenceError(RuntimeError):
    """Training produced a non-finite value."""

    def __init__(self, step: int, seed: int):
        self.step, self.seed = step, seed
        super().__init__(
            f"training diverged: non-finite values at step {step} (seed {seed}); "
            "try a smaller learning rate"
        )


class Recording(NamedTuple):
    """What :func:`simulate` returns: ``values[name]`` has shape ``(seed, record, ...)``."""

    steps: np.ndarray
    values: dict[str, np.ndarray]
    final: Any


def record_steps(num_steps: int, num_records: int, *, spacing: str = "linear") -> np.ndarray:
    """``num_records`` distinct step counts from 0 to ``num_steps`` inclusive.

    ``spacing="log"`` spaces them geometrically after step 0 (rounded, kept strictly
    increasing), so the count is exactly ``num_records`` whatever ``num_steps`` is.
    """
    if num_records < 2 or num_records > num_steps + 1:
        raise ValueError(
            f"num_records must be between 2 and num_steps + 1 = {num_steps + 1}, got {num_records}"
        )
    if spacing == "linear":
        steps = np.rint(np.linspace(0, num_steps, num_records)).astype(np.int64)
    elif spacing == "log":
        steps = np.concatenate(
            [[0], np.rint(np.geomspace(1, num_steps, num_records - 1)).astype(np.int64)]
        )
    else:
        raise ValueError(f"spacing must be 'linear' or 'log', got {spacing!r}")
    steps[-1] = num_steps  # geomspace(1, n, 1) is [1]: with two records the end was lost
    for i in range(1, num_records):  # repair rounding collisions, keeping the end fixed
        steps[i] = max(steps[i], steps[i - 1] + 1)
    for i in range(num_records - 2, -1, -1):
        steps[i] = min(steps[i], steps[i + 1] - 1)
    return steps


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _run_seed(step: Step, observe: Observe, state, key, starts, stops, n_valid, args):
    """One seed through the intervals ``[starts[i], stops[i])``, observing after each of the
    first ``n_valid`` (the rest pad the call to a shared compiled shape and observe nothing)."""

    def interval(carry, bounds):
        def body(t, inner):
            s, bad = inner
            s = step(s, jax.random.fold_in(key, t), t, args)
            bad = jnp.where((bad < 0) & ~_all_finite(s), t, bad)
            return s, bad

        return jax.lax.fori_loop(bounds[0], bounds[1], body, carry), None

    def record(carry, xs):
        i, bounds = xs[0], xs[1:]
        carry, _ = interval(carry, bounds)
        obs = jax.lax.cond(i < n_valid, lambda s: observe(s, args),
                           lambda s: jax.tree.map(jnp.zeros_like, shapes), carry[0])
        return carry, obs

    shapes = jax.eval_shape(observe, state, args)
    xs = jnp.stack([jnp.arange(starts.shape[0], dtype=starts.dtype), starts, stops], axis=1)
    (state, bad), obs = jax.lax.scan(record, (state, jnp.int32(-1)), xs)
    return state, bad, obs


@partial(jax.jit, static_argnums=(0, 1, 2))
def _advance(step: Step, observe: Observe, batched: bool, state, keys, starts, stops, n_valid,
             args):
    """All seeds (and, if ``batched``, all values along the leading axis of ``args``)."""
    seeds = jax.vmap(partial(_run_seed, step, observe), in_axes=(0, 0, None, None, None, None))
    if batched:  # same seeds for every value: common random numbers across a sweep
        seeds = jax.vmap(seeds, in_axes=(0, None, None, None, None, 0))
    return seeds(state, keys, starts, stops, n_valid, args)


@partial(jax.jit, static_argnums=(0, 1))
def _start(init: Init, batched: bool, keys, args):
    def seeds(args):
        return jax.vmap(lambda k: init(k, args))(keys)

    return jax.vmap(seeds)(args) if batched else seeds(args)


def run_keys(record_at, seeds) -> tuple[np.ndarray, list[int], jax.Array, jax.Array]:
    """Checked record steps, integer seeds, and every seed's (init, step) keys: key(s) split
    in two, so a seed's run does not depend on the seeds beside it."""
    record_at = np.asarray(record_at, dtype=np.int64)
    if record_at[0] != 0 or np.any(np.diff(record_at) <= 0):
        raise ValueError("record_at must start at 0 and be strictly increasing")
    seeds = [int(s) for s in seeds]
    base = jnp.stack([jax.random.key(s) for s in seeds])
    init_keys, step_keys = jax.vmap(jax.random.split, out_axes=1)(base)
    return record_at, seeds, init_keys, step_keys


def chunks(steps: np.ndarray, n_chunks: int) -> list[np.ndarray]:
    """Split record indices 1.. into groups covering roughly equal numbers of steps."""
    total = steps[-1]
    edges = np.searchsorted(steps, np.linspace(0, total, n_chunks + 1)[1:], side="left")
    groups, lo = [], 1
    for hi in edges:
        hi = max(int(hi) + 1, lo + 1)
        if lo < len(steps):
            groups.append(np.arange(lo, min(hi, len(steps))))
        lo = hi
    return [g for g in groups if len(g)]


def simulate(
    init: Init,
    step: Step,
    observe: Observe,
    *,
    seeds: Sequence[int],
    record_at: np.ndarray,
    args: Any = None,
    progress: Progress | None = None,
    label: str = "",
    n_chunks: int = 20,
    batched: bool = False,
    stop_when: Callable[[np.ndarray, dict[str, np.ndarray]], bool] | None = None,
    vmap_seeds: bool = True,
) -> Recording:
    """Train one model per seed (vmapped) and record ``observe`` at steps ``record_at``.

    Args:
        init, step, observe: pure functions (see the module docstring); pass module-level
            functions or keep the same objects to re-use the compiled program.
        seeds: integer seeds; seed ``s`` uses ``key(s)`` split into init and step keys.
        record_at: increasing step counts, the first one 0 (from :func:`record_steps`).
        args: constants passed to the functions (not vmapped over seeds).
        progress: called with (steps done, total steps, label) after each chunk.
        n_chunks: how often control returns to Python.
        batched: every leaf of ``args`` carries a leading axis of B values (e.g. sweep points
            that keep array shapes); all B x seeds runs are vmapped into one program.
        stop_when: called after each chunk with the steps recorded so far and their values;
            returning True ends the run there (the rest of ``record_at`` is not run).
        vmap_seeds: False runs every seed as its own call of one compiled single-seed
            program, the seeds concurrently in threads (one per CPU core; XLA releases the
            GIL). Same numbers; faster on CPU where a vmapped step costs more than the seeds
            apart (e.g. the transformer: two seeds vmapped take 3x one seed's time).

    Returns:
        :class:`Recording` with ``values[name]`` of shape ``(seed, record, ...)``, or
        ``(B, seed, record, ...)`` when ``batched``; ``steps`` are the records made (all of
        ``record_at`` unless ``stop_when`` ended the run).

    Raises:
        DivergenceError: at the first step that produced a non-finite state.
    """
    record_at, seeds, init_keys, step_keys = run_keys(record_at, seeds)
    state = _start(init, batched, init_keys, args)
    seed_axis = 1 if batched else 0
    _raise_if_diverged(state, seeds, 0, batched)
    # the record at step 0 (a zero-length interval) rides with the first chunk, so `observe`
    # is compiled once, inside the training program
    groups = chunks(record_at, n_chunks) or [np.arange(1, 1)]
    groups[0] = np.concatenate([[0], groups[0]]).astype(np.int64)
    width = max(len(g) for g in groups)  # records per call: one compiled shape
    pieces = []
    total = int(record_at[-1])
    calls = [slice(None)] if vmap_seeds else [slice(i, i + 1) for i in range(len(seeds))]
    states = [state] if vmap_seeds else [
        jax.tree.map(lambda x, c=c: x[(slice(None),) * seed_axis + (c,)], state) for c in calls]
    keys = [step_keys[c] for c in calls]
    n_threads = min(len(calls), os.cpu_count() or 1)

    x64 = jax.config.jax_enable_x64  # thread-local: the worker threads take the caller's

    def advance(state, keys, starts, stops, n_valid):
        with jax.enable_x64(x64):
            state, bad, obs = _advance(step, observe, batched, state, keys, starts, stops,
                                       n_valid, args)
            return state, np.asarray(bad), jax.tree.map(np.asarray, obs)

    with cf.ThreadPoolExecutor(n_threads) as pool:
        for group in groups:
            stops = record_at[group]
            starts = record_at[np.maximum(group - 1, 0)]
            pad = width - len(group)  # zero-length intervals keep one compiled shape
            starts = np.concatenate([starts, np.full(pad, stops[-1])]).astype(np.int32)
            stops = np.concatenate([stops, np.full(pad, stops[-1])]).astype(np.int32)
            outs = list(pool.map(advance, states, keys, *map(itertools.repeat, (
                starts, stops, np.int32(len(group))))))
            states = [o[0] for o in outs]
            bad = np.concatenate([o[1] for o in outs], axis=seed_axis)
            if np.any(bad >= 0):
                where = np.unravel_index(
                    np.argmin(np.where(bad >= 0, bad, np.iinfo(np.int64).max)), bad.shape)
                raise DivergenceError(int(bad[where]) + 1, seeds[int(where[-1])])
            n = len(group)
            pieces.append({k: np.concatenate([o[2][k] for o in outs], axis=seed_axis)
                           .take(np.arange(n), axis=seed_axis + 1) for k in outs[0][2]})
            values = {k: np.concatenate([p[k] for p in pieces], axis=seed_axis + 1)
                      for k in pieces[0]}
            done = int(group[-1]) + 1
            stop = stop_when is not None and done < len(record_at) and bool(
                stop_when(record_at[:done], values))
            if progress is not None:
                progress(total if stop else int(stops[-1]), total, label)
            if stop:
                break
    final = states[0] if vmap_seeds else jax.tree.map(
        lambda *x: jnp.concatenate(x, axis=seed_axis), *states)
    return Recording(record_at[:done], values, final)


def _raise_if_diverged(state: Any, seeds: list[int], step: int, batched: bool) -> None:
    check = jax.vmap(jax.vmap(_all_finite)) if batched else jax.vmap(_all_finite)
    finite = np.asarray(check(state))
    if not finite.all():
        where = np.unravel_index(np.argmin(finite), finite.shape)
        raise DivergenceError(step, seeds[int(where[-1])])


class TrainState(NamedTuple):
    """Parameters and optimiser state of a gradient-trained model."""

    params: Any
    opt_state: Any


def gradient_step(
    loss: Callable[[Any, Any], jax.Array],
    optimizer: optax.GradientTransformation,
    *,
    sample: Callable[[jax.Array, Any], Any] | None = None,
) -> Step:
    """A ``step`` function for :func:`simulate` that applies ``optimizer`` to ``grad(loss)``.

    ``loss(params, batch)``; the batch is ``args`` itself (full-batch training) or, when
    ``sample`` is given, ``sample(key, args)`` drawn fresh inside the compiled loop (online).
    The state is a :class:`TrainState` (build it with ``TrainState(p, optimizer.init(p))``).
    """

    def step(state: TrainState, key: jax.Array, t: jax.Array, args: Any) -> TrainState:
        batch = args if sample is None else sample(key, args)
        grads = jax.grad(loss)(state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return TrainState(optax.apply_updates(state.params, updates), opt_state)

    return step
