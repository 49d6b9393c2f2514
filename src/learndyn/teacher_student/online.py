"""Online SGD of teacher-student runs through the engine (Goldt et al., NeurIPS 2019).

Every step sees a fresh input x ~ N(0, I_N) and a label-noise variable zeta ~ N(0, 1), drawn
inside the compiled loop from the run's XORWOW :class:`data.Stream` five substream advances at
a time (:func:`data.draw`, an engine :class:`~learndyn.core.engine.Stream`), so a run's data
depend only on its seed and the step. The seeds are split into one vmapped group per CPU core,
the groups run concurrently in threads (32 seeds at N = 500 train 1.4x faster on 2 cores than in
one program). Divergence is detected on the scalar error Delta = phi - y of each step (a weight
that overflowed makes the next error non-finite; checking the scalar costs nothing, checking the
weights halved the speed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.engine import Recording, Stream, simulate
from ..core.study import Progress
from . import data as inputs
from . import model

__all__ = ["State", "run"]


class State(NamedTuple):
    """The networks of one seed and the error Delta of the step that produced them."""

    nets: model.Networks
    delta: jax.Array


@cache
def _program(g: str | None, N: int, K: int, M: int, train_v: bool, dtype: str):
    """(init, step, observe, stream, finite) of one shape; cached: one compiled program each.
    ``g`` None: the activation is the index ``args["g"]`` (several activations, one program)."""
    dt = jnp.dtype(dtype)

    def init(key, args):
        return State(model.init(key, N=N, K=K, M=M, dtype=dt, **args["init"]),
                     jnp.zeros((), dt))

    def step(state, z, t, args):
        nets, delta = model.sgd_update(state.nets, z[:N], z[N], train_v=train_v,
                                       g=args["g"] if g is None else g, **args["hyper"])
        return State(nets, delta)

    def observe(state, args):
        return model.order_parameters(state.nets)

    stream = Stream(init=lambda key, args: inputs.stream(key, N, dt),
                    draw=lambda s, args: inputs.draw(s, N, dt),
                    size=inputs.steps_per_draw(N))
    return init, step, observe, stream, lambda state: jnp.isfinite(state.delta)


def run(*, g: str | Sequence[str], N: int, K: int, M: int, train_v: bool, dtype: str, seeds,
        record_at,
        hyper: dict, init_args: dict, progress: Progress | None = None, label: str = "",
        n_chunks: int = 20, threads: int | None = None, batched: bool = False) -> Recording:
    """Train one student per seed online and record its order parameters at ``record_at``.

    Args:
        g, N, K, M, train_v, dtype: activation, sizes, whether v is trained, precision; with
            ``batched``, ``g`` may be one activation per setting (one program for all).
        seeds: integer seeds; seed s uses ``key(s)`` split into init and data keys.
        record_at: increasing step counts starting at 0.
        hyper: ``lr``, ``lr2``, ``sigma``, ``weight_decay`` (scalars of ``dtype``).
        init_args: keyword arguments of :func:`model.init` other than key, sizes and dtype.
        batched: every value of ``hyper`` and ``init_args`` has a leading axis of B settings
            (same shapes, e.g. several learning rates, or widths up to K through
            ``init_args["active"]``), all run in one vmapped program with the same seeds.
        progress: called with (steps done, total, label) as the run goes.
        threads: seed groups run concurrently (default: one per CPU core; 1 = all seeds in
            one vmapped program). The numbers do not depend on it.

    Returns:
        :class:`~learndyn.core.engine.Recording`: ``values`` Q, R, T, v, vstar (seed, record,
        ...) in float64, (B, seed, record, ...) if ``batched``; ``final`` the :class:`State`
        of every seed.

    Raises:
        DivergenceError: naming the first step (1-based) with a non-finite error.
    """
    names = [g] if isinstance(g, str) else list(g)
    single = len(set(names)) == 1
    init, step, observe, stream, finite = _program(names[0] if single else None, N, K, M,
                                                   train_v, str(dtype))
    args = {"hyper": {k: jnp.asarray(v, dtype=dtype) for k, v in hyper.items()},
            "init": init_args}
    if not single:
        args["g"] = jnp.asarray([model.ACTIVATIONS.index(name) for name in names])
    return simulate(init, step, observe, seeds=seeds, record_at=np.asarray(record_at),
                    args=args, progress=progress, label=label, n_chunks=n_chunks,
                    groups=threads or os.cpu_count() or 1, stream=stream, finite=finite,
                    batched=batched)
