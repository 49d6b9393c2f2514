"""The training loop: ``lax.scan`` inside ``jit``, ``vmap`` over seeds, recording on a schedule.

A simulation is three pure functions over a pytree ``state`` and a pytree ``args`` of constants
(data, hyper-parameters; shared by all seeds):

- ``init(key, args) -> state``
- ``step(state, key, t, args) -> state``  one update; ``key`` is fresh for every step ``t``
  (``fold_in(seed_key, t)``), so online data can be sampled inside the compiled loop; with a
  :class:`Stream` the step receives its row of a block of data drawn ahead instead of a key;
- ``observe(state, args) -> {name: array}``  the quantities recorded.

:func:`simulate` is the only host loop of learndyn. It runs the three functions for every seed
at once and records at chosen step counts. The step counts between records run in a
``fori_loop`` inside one compiled call; the host wakes up between calls (progress, the
divergence check, an early stop). Records are split into ``n_chunks`` groups (``stop_when`` is
asked after each group, so where a run stops does not depend on the machine's speed), and each
group runs in calls of at most about ``chunk_seconds`` of work (the step budget adapts to the
measured speed), so Ctrl-C is honoured within seconds at any size. Step counts are 64-bit when
JAX's 64-bit mode is on (as in :func:`learndyn.run`): step ``t`` uses ``fold_in(seed_key, t)``
for ``t < 2**31`` and ``fold_in(fold_in(seed_key, t >> 31), t mod 2**31)`` beyond. The first
non-finite state (or whatever the cheap ``finite`` test looks at) stops the run with
:class:`DivergenceError` naming the step.

Seeds are vmapped into one program (``groups=1``), or, on a CPU, split into groups run
concurrently in threads, each group vmapped (``groups=k``; XLA releases the GIL;
``vmap_seeds=False`` is one seed per thread). On an accelerator all seeds are always one
vmapped program on the device. The numbers do not depend on the grouping, the chunking or the
seeds beside.

:func:`gradient_step` builds ``step`` from a loss and an ``optax`` optimiser, for full-batch
(``batch = args``) or online (``batch = sample(key, args)``) training.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import checkpoint
from .config import ConfigError
from .study import Progress

__all__ = [
    "DivergenceError",
    "Recording",
    "Stream",
    "TrainState",
    "chunks",
    "gradient_step",
    "record_steps",
    "run_keys",
    "simulate",
]

Init = Callable[[jax.Array, Any], Any]
Step = Callable[[Any, jax.Array, jax.Array, Any], Any]
Observe = Callable[[Any, Any], dict[str, jax.Array]]

HI = 2**31  # step t uses key fold_in(seed_key, t) below HI, fold_in(fold_in(., t // HI), t % HI)


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


class Stream(NamedTuple):
    """Online data drawn in blocks inside the compiled loop from a state carried per seed.

    ``init(key, args) -> stream state`` (``key``: the seed's step key); ``draw(stream state,
    args) -> (stream state, block)`` with ``block`` of ``size`` rows, row ``j`` the data of the
    ``j``-th step of the block. Blocks start at multiples of ``size``, so a run's data depend
    only on its key and the step, not on where records fall. Build a stream once (module level
    or cached): it is part of the compiled program's identity.
    """

    init: Callable[[jax.Array, Any], Any]
    draw: Callable[[Any, Any], tuple[Any, jax.Array]]
    size: int


def record_steps(num_steps: int, num_records: int, *, spacing: str = "linear") -> np.ndarray:
    """``num_records`` distinct step counts from 0 to ``num_steps`` inclusive (int64).

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


def _run_seed(step: Step, observe: Observe, stream: Stream | None, finite, carry, key, segs,
              args):
    """One seed through the segments ``segs`` = rows (start, stop, record?): steps
    ``start..stop-1``, then ``observe`` if the segment ends at a record (zeros otherwise, so
    calls padded with empty segments share one compiled shape)."""
    finite = finite or _all_finite
    shapes = jax.eval_shape(observe, carry[0], args)

    def steps(c, lo, hi, base, first):
        def body(t, inner):
            s, stream_state, block, bad = inner
            if stream is None:
                data = jax.random.fold_in(base, _low(t))
            else:
                data = jax.lax.dynamic_index_in_dim(block, t - first, keepdims=False)
            s = step(s, data, t, args)
            bad = jnp.where((bad < 0) & ~finite(s), t, bad)
            return s, stream_state, block, bad

        return jax.lax.fori_loop(lo, hi, body, c)

    def segment(c, seg):
        start, stop, flag = seg[0], seg[1], seg[2]
        if stream is None:
            # segments never cross a multiple of HI (the host splits them there)
            high = _high(start)
            base = jax.lax.cond(high > 0, lambda: jax.random.fold_in(key, high), lambda: key)
            c = steps(c, start, stop, base, start)
        else:
            G = stream.size

            def block(b, c):
                stream_state, data = stream.draw(c[1], args)
                c = (c[0], stream_state, data, c[3])
                return steps(c, b * G, jnp.minimum(stop, b * G + G), key, b * G)

            head = jnp.minimum(stop, -(-start // G) * G)  # the rest of a block drawn earlier
            c = steps(c, start, head, key, (start // G) * G)
            c = jax.lax.fori_loop(-(-start // G), -(-stop // G), block, c)
        obs = jax.lax.cond(flag > 0, lambda s: observe(s, args),
                           lambda s: jax.tree.map(jnp.zeros_like, shapes), c[0])
        return c, obs

    return jax.lax.scan(segment, carry, segs)


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _advance(step: Step, observe: Observe, stream: Stream | None, finite, batched: bool, carry,
             keys, segs, args):
    """All seeds (and, if ``batched``, all values along the leading axis of ``args``)."""
    seeds = jax.vmap(partial(_run_seed, step, observe, stream, finite),
                     in_axes=(0, 0, None, None))
    if batched:  # same seeds for every value: common random numbers across a sweep
        seeds = jax.vmap(seeds, in_axes=(0, None, None, 0))
    return seeds(carry, keys, segs, args)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _start(init: Init, stream: Stream | None, batched: bool, init_keys, step_keys, args):
    def seeds(args):
        def one(init_key, step_key):
            state = init(init_key, args)
            if stream is None:
                return state, None, None, _int(-1)
            stream_state = stream.init(step_key, args)
            block = jax.eval_shape(stream.draw, stream_state, args)[1]
            return state, stream_state, jnp.zeros(block.shape, block.dtype), _int(-1)

        return jax.vmap(one)(init_keys, step_keys)

    return jax.vmap(seeds)(args) if batched else seeds(args)


def _high(t: jax.Array) -> jax.Array:
    """``t // 2**31`` (always 0 for 32-bit step counts)."""
    return t // HI if t.dtype == jnp.int64 else jnp.zeros_like(t)


def _low(t: jax.Array) -> jax.Array:
    """``t mod 2**31``."""
    return t % HI if t.dtype == jnp.int64 else t


def _int(x) -> jax.Array:
    return jnp.asarray(x, jnp.int64 if jax.config.jax_enable_x64 else jnp.int32)


def run_keys(record_at, seeds) -> tuple[np.ndarray, list[int], jax.Array, jax.Array]:
    """Checked record steps, integer seeds, and every seed's (init, step) keys: key(s) split
    in two, so a seed's run does not depend on the seeds beside it."""
    record_at = np.asarray(record_at, dtype=np.int64)
    if record_at.ndim != 1 or len(record_at) < 1 or record_at[0] != 0 or np.any(
            np.diff(record_at) <= 0):
        raise ValueError("record_at must start at 0 and be strictly increasing")
    if record_at[-1] >= HI and not jax.config.jax_enable_x64:
        raise ConfigError(f"a run of {record_at[-1]} steps (2**31 or more) needs JAX's 64-bit "
                          "mode (learndyn.run turns it on; or use `with jax.enable_x64(True):`)")
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


def _segments(record_at: np.ndarray, group: np.ndarray) -> list[tuple[int, int, int]]:
    """The group's records as (start, stop, 1) intervals, split where they cross a multiple
    of 2**31 (the pieces before such a cut carry 0: no record)."""
    out = []
    for i in group:
        start, stop = int(record_at[max(i - 1, 0)]), int(record_at[i])
        cuts = list(range((start // HI + 1) * HI, stop, HI))
        for a, b in zip([start, *cuts], [*cuts, stop]):
            out.append((a, b, int(b == stop)))
    return out


def _next_call(segments: list[tuple[int, int, int]], budget: int, width: int):
    """Take the next call off ``segments`` (in place): at most ``width`` segments and about
    ``budget`` steps; a segment longer than the budget is cut (its first piece does not
    record)."""
    call, steps = [], 0
    while segments and len(call) < width and (not call or steps < budget):
        start, stop, flag = segments[0]
        if stop - start > budget - steps and call:
            break
        if stop - start > max(budget - steps, 1):
            cut = start + max(budget - steps, 1)
            call.append((start, cut, 0))
            segments[0] = (cut, stop, flag)
            break
        call.append(segments.pop(0))
        steps += stop - start
    return call


def _check_memory(shapes: Any) -> None:
    """Refuse, before allocating, a run whose state alone exceeds the memory available."""
    need = 3 * sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize  # state, grads, temps
                   for x in jax.tree.leaves(shapes) if not jax.dtypes.issubdtype(
                       x.dtype, jax.dtypes.prng_key))
    have = available_memory()
    if have and need > have:
        raise ConfigError(f"this run needs at least {need / 2**30:.1f} GiB for the state of its "
                          f"models, more than the {have / 2**30:.1f} GiB available; use smaller "
                          "sizes or fewer seeds")


def available_memory() -> int | None:
    """Bytes of memory available to a run: the device's limit on an accelerator, else the
    host's available memory (None if unknown)."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        return stats.get("bytes_limit")
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


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
    groups: int | None = None,
    stream: Stream | None = None,
    finite: Callable[[Any], jax.Array] | None = None,
    chunk_seconds: float = 2.0,
) -> Recording:
    """Train one model per seed and record ``observe`` at steps ``record_at``.

    Args:
        init, step, observe: pure functions (see the module docstring); pass module-level
            functions or keep the same objects to re-use the compiled program.
        seeds: integer seeds; seed ``s`` uses ``key(s)`` split into init and step keys.
        record_at: increasing step counts, the first one 0 (from :func:`record_steps`).
        args: constants passed to the functions (not vmapped over seeds).
        progress: called with (steps done, total steps, label) before the first call (0 steps
            done: it compiles) and after every call that advanced.
        n_chunks: records are split into this many groups; ``stop_when`` is asked after each.
        batched: every leaf of ``args`` carries a leading axis of B values (e.g. sweep points
            that keep array shapes); all B x seeds runs are vmapped into one program.
        stop_when: called after each group with the steps recorded so far and their values;
            returning True ends the run there (the rest of ``record_at`` is not run).
        vmap_seeds: False runs every seed as its own call of one compiled single-seed
            program, the seeds concurrently in threads (``groups=len(seeds)``); faster on CPU
            where a vmapped step costs more than the seeds apart (e.g. the transformer).
        groups: split the seeds into this many groups, each one vmapped program, run
            concurrently in threads (default 1: all seeds in one program). The numbers do not
            depend on it.
        stream: draw online data in blocks from a state carried per seed (:class:`Stream`);
            ``step`` then receives its row of the block instead of a key.
        finite: a cheap test ``finite(state) -> bool`` used for the divergence check (default:
            every inexact leaf of the state is finite).
        chunk_seconds: about how long one compiled call may run before the host wakes up.

    Returns:
        :class:`Recording` with ``values[name]`` of shape ``(seed, record, ...)``, or
        ``(B, seed, record, ...)`` when ``batched``; ``steps`` are the records made (all of
        ``record_at`` unless ``stop_when`` ended the run).

    Raises:
        DivergenceError: at the first step that produced a non-finite state.
        ConfigError: a state larger than the memory available, or 2**31 steps or more
            without 64-bit mode.
    """
    record_at, seeds, init_keys, step_keys = run_keys(record_at, seeds)
    shapes = jax.eval_shape(lambda k1, k2, a: _start(init, stream, batched, k1, k2, a),
                            init_keys, step_keys, args)
    _check_memory(shapes)
    seed_axis = 1 if batched else 0
    checkpoints = checkpoint.current()
    key = checkpoint.fingerprint(label, record_at.tobytes(), seeds, batched, n_chunks,
                                 stream.size if stream else None,
                                 [(x.shape, str(x.dtype)) for x in jax.tree.leaves(shapes)])
    file = checkpoints.claim() if checkpoints else None
    saved = checkpoint.load(file, key)
    if saved is not None and saved["complete"]:  # a finished call of an interrupted run
        return Recording(saved["steps"], saved["values"],
                         checkpoint.restore(shapes[0], saved["final"]))
    saver = checkpoint.Saver(file, key, checkpoints.every if checkpoints else 0.0)
    if saved is None:
        carry = _start(init, stream, batched, init_keys, step_keys, args)
        _raise_if_diverged(carry[0], seeds, 0, batched)
    else:
        carry = checkpoint.restore(shapes, saved["carry"])
    n_groups = len(seeds) if not vmap_seeds else max(1, min(groups or 1, len(seeds)))
    if jax.default_backend() != "cpu":
        n_groups = 1  # on an accelerator all seeds are one vmapped program on the device
    parts = [p for p in np.array_split(np.arange(len(seeds)), n_groups) if len(p)]

    def take(tree, part):
        return jax.tree.map(lambda x: x[(slice(None),) * seed_axis + (part,)], tree)

    def joined(carries):
        return carries[0] if len(carries) == 1 else jax.tree.map(
            lambda *x: jnp.concatenate(x, axis=seed_axis), *carries)

    carries = [carry] if len(parts) == 1 else [take(carry, p) for p in parts]
    keys = [step_keys[p] for p in parts]
    # the record at step 0 (a zero-length interval) rides with the first group, so `observe`
    # is compiled once, inside the training program
    record_groups = chunks(record_at, n_chunks) or [np.arange(1, 1)]
    record_groups[0] = np.concatenate([[0], record_groups[0]]).astype(np.int64)
    width = max(len(g) for g in record_groups)  # segments per call: one compiled shape
    total = int(record_at[-1])
    x64 = jax.config.jax_enable_x64  # thread-local: the worker threads take the caller's
    int_dtype = np.int64 if x64 else np.int32

    def advance(carry, keys, segs):
        with jax.enable_x64(x64):
            carry, obs = _advance(step, observe, stream, finite, batched, carry, keys, segs,
                                  args)
            return carry, np.asarray(carry[3]), jax.tree.map(np.asarray, obs)

    pieces: list[dict[str, np.ndarray]] = []
    budget, done_steps, stopped, first = 64, 0, False, 0
    if saved is not None:  # resume after the last saved group
        pieces, budget = saved["pieces"], saved["budget"]
        done_steps, first = saved["done_steps"], saved["group"]
    if progress is not None:
        progress(done_steps, total, label)  # the first call compiles: a display may say so
    values = {k: np.concatenate([p[k] for p in pieces], axis=seed_axis + 1)
              for k in pieces[0]} if pieces else {}
    with cf.ThreadPoolExecutor(len(parts)) as pool:
        for index, group in enumerate(record_groups[first:], start=first):
            segments = _segments(record_at, group)
            while segments:
                call = _next_call(segments, budget, width)
                segs = np.zeros((width, 3), int_dtype)
                segs[:, :2] = call[-1][1]  # padding: empty segments at the call's end
                segs[:len(call)] = call
                began = time.monotonic()
                outs = list(pool.map(advance, carries, keys, [segs] * len(parts)))
                elapsed = time.monotonic() - began
                carries = [o[0] for o in outs]
                bad = np.concatenate([o[1] for o in outs], axis=seed_axis)
                if np.any(bad >= 0):
                    where = np.unravel_index(
                        np.argmin(np.where(bad >= 0, bad, np.iinfo(np.int64).max)), bad.shape)
                    raise DivergenceError(int(bad[where]) + 1, seeds[int(where[-1])])
                recorded = np.flatnonzero(segs[:len(call), 2])
                pieces.append({k: np.concatenate([o[2][k] for o in outs], axis=seed_axis)
                               .take(recorded, axis=seed_axis + 1) for k in outs[0][2]})
                n = sum(b - a for a, b, _ in call)
                done_steps = call[-1][1]
                if n and elapsed > 0:  # aim the next call at chunk_seconds (at most 8x more)
                    budget = int(np.clip(n * chunk_seconds / elapsed, max(1, budget // 8),
                                         8 * budget))
                if progress is not None and n:
                    progress(done_steps, total, label)
            values = {k: np.concatenate([p[k] for p in pieces], axis=seed_axis + 1)
                      for k in pieces[0]}
            done = int(group[-1]) + 1
            if stop_when is not None and done < len(record_at) and bool(
                    stop_when(record_at[:done], values)):
                stopped = True
                if progress is not None:
                    progress(total, total, label)
                break
            saver.progress(index + 1, joined(carries), pieces, done_steps, budget)
    final = joined(carries)[0]
    steps = record_at[:done] if stopped else record_at
    saver.done(steps, values, final)
    return Recording(steps, values, final)


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
