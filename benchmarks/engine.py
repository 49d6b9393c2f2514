"""Benchmark: the compiled engine against the best plain alternative.

Problem: a two-layer linear network 16 -> 32 -> 16 trained by full-batch gradient descent on a
random linear teacher (64 examples), 8 seeds, float32, the loss recorded at 21 evenly spaced
steps. Compared, interleaved in one process:

- ``engine``: :func:`learndyn.core.engine.simulate` (seeds vmapped, steps in a ``fori_loop``
  inside ``lax.scan`` inside ``jit``, the host woken only between chunks);
- ``python loop``: what one writes without the engine, done well: a Python ``for`` loop calling
  ONE jitted update of all seeds at once (``jit(vmap(update))``), the losses read back at the
  record steps. Same steps, same precision, same initial weights.

Both compute the same numbers (checked: max relative loss difference, in ``how_measured``).
Run through ``benchmarks/run.py`` (one core, pinned); alone: ``python benchmarks/engine.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from harness import Row, compare, interleave
from learndyn.core.engine import TrainState, gradient_step, record_steps, simulate

N_IN, N_HIDDEN, N_OUT, N_DATA, SEEDS = 16, 32, 16, 64, 8
LR, INIT_SCALE, DTYPE = 0.05, 0.1, jnp.float32
OPT = optax.sgd(LR)


def make_args(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_IN, N_DATA)) / np.sqrt(N_IN)
    teacher = rng.normal(size=(N_OUT, N_IN))
    return {"X": jnp.asarray(X, DTYPE), "Y": jnp.asarray(teacher @ X, DTYPE)}


def loss(params, batch):
    W1, W2 = params
    residual = batch["Y"] - W2 @ (W1 @ batch["X"])
    return 0.5 * jnp.mean(jnp.sum(residual**2, axis=0))


def init_params(key):
    k1, k2 = jax.random.split(key)
    return (INIT_SCALE * jax.random.normal(k1, (N_HIDDEN, N_IN), DTYPE),
            INIT_SCALE * jax.random.normal(k2, (N_OUT, N_HIDDEN), DTYPE))


def init(key, args):
    params = init_params(key)
    return TrainState(params, OPT.init(params))


def observe(state, args):
    return {"loss": loss(state.params, args)}


STEP = gradient_step(loss, OPT)


def update(params, opt_state, batch):
    grads = jax.grad(loss)(params, batch)
    updates, opt_state = OPT.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


vmapped_update = jax.jit(jax.vmap(update, in_axes=(0, 0, None)))
vmapped_loss = jax.jit(jax.vmap(loss, in_axes=(0, None)))


def python_loop(seeds, num_steps: int, record_at, args) -> np.ndarray:
    """All seeds in one jitted, vmapped update per Python iteration; (seed, record) losses."""
    keys = jnp.stack([jax.random.split(jax.random.key(s))[0] for s in seeds])  # engine's keys
    params = jax.vmap(init_params)(keys)
    opt_state = jax.vmap(OPT.init)(params)
    records = set(int(r) for r in record_at)
    losses = [vmapped_loss(params, args)]
    for t in range(1, num_steps + 1):
        params, opt_state = vmapped_update(params, opt_state, args)
        if t in records:
            losses.append(vmapped_loss(params, args))
    return np.asarray(jnp.stack(losses, axis=1))


def rows(quick: bool = False, cores: str = "1 core", repeat: int = 5) -> list[Row]:
    steps = 1_000 if quick else 5_000
    args, seeds = make_args(), list(range(SEEDS))
    record_at = record_steps(steps, 21)
    out = {}

    def engine():
        out["engine"] = simulate(init, STEP, observe, seeds=seeds, record_at=record_at,
                                 args=args).values["loss"]

    def loop():
        out["loop"] = python_loop(seeds, steps, record_at, args)

    t = interleave({"engine": engine, "loop": loop}, repeat=repeat)
    gap = float(np.max(np.abs(out["engine"] - out["loop"]) / out["loop"]))
    how = (f"{N_IN}x{N_HIDDEN}x{N_OUT} linear net, full-batch GD, {SEEDS} seeds x {steps} "
           f"steps, float32 both, {cores}; loss at 21 steps, max rel. difference {gap:.1e}")
    return [compare("engine: 2-layer linear net, 8 seeds, float32", t, "engine", "loop",
                    work=SEEDS * steps, unit="seed-steps/s", how=how,
                    label="Python loop over a jitted vmapped step (in-run)")]


if __name__ == "__main__":
    from harness import table

    print(table(rows(quick=True)))
