"""Benchmark: the compiled engine against a plain Python loop of jitted steps.

Problem: a two-layer linear network 16 -> 32 -> 16 trained by full-batch gradient descent on a
random linear teacher (64 examples), 8 seeds, 20,000 steps, float32, the loss recorded at 101
evenly spaced steps.

Methods, measured side by side in the same process:

- ``engine``: :func:`learndyn.core.engine.simulate` (seeds vmapped, steps in a ``fori_loop``
  inside ``lax.scan`` inside ``jit``, control back in Python only between 20 chunks). Timed twice
  with the same shapes: the first call includes tracing and compilation, the second does not.
- ``python-loop``: what people usually write: for each seed, a Python ``for`` loop calling one
  jitted update per step, reading the loss back at the record steps. Its step count is shrunk
  (``--ref-steps``) because it is slow; throughput is reported per step, so the two compare.

- ``bare``: an upper bound for comparison: one ``jit(scan(vmap(update)))`` over all steps with
  no recording and no divergence check.

All start from the same initial weights and follow the same update; their losses at common
steps are compared as a sanity check. Each timing is the best of ``--repeat`` runs.

Usage: ``python benchmarks/engine.py [--steps N] [--ref-steps N] [--seeds N]``. Prints a table
and writes ``benchmarks/results/engine.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from learndyn.core.engine import TrainState, gradient_step, record_steps, simulate

N_IN, N_HIDDEN, N_OUT, N_DATA = 16, 32, 16, 64
LR, INIT_SCALE = 0.05, 0.1
DTYPE = jnp.float32
OPT = optax.sgd(LR)
RESULTS = Path(__file__).parent / "results" / "engine.json"


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


# ---- the reference: one jitted update per Python iteration ---------------------------------


@jax.jit
def ref_update(params, opt_state, batch):
    grads = jax.grad(loss)(params, batch)
    updates, opt_state = OPT.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


ref_loss = jax.jit(loss)


def python_loop(seeds, num_steps, record_at, args):
    """Train each seed in turn with a Python loop; return the losses at ``record_at``."""
    records = set(int(r) for r in record_at)
    out = []
    for seed in seeds:
        init_key, _ = jax.random.split(jax.random.key(seed))  # the engine's key derivation
        params = init_params(init_key)
        opt_state = OPT.init(params)
        losses = [float(ref_loss(params, args))]
        for t in range(1, num_steps + 1):
            params, opt_state = ref_update(params, opt_state, args)
            if t in records:
                losses.append(float(ref_loss(params, args)))
        out.append(losses)
    return np.array(out)


@partial(jax.jit, static_argnums=0)
def bare_scan(num_steps, params, opt_state, batch):
    """An upper bound: all seeds, all steps in one scan; no recording, no divergence check."""

    def body(carry, _):
        return jax.vmap(ref_update, in_axes=(0, 0, None))(*carry, batch), None

    (params, opt_state), _ = jax.lax.scan(body, (params, opt_state), None, length=num_steps)
    return jax.vmap(loss, in_axes=(0, None))(params, batch)


def bare(seeds, num_steps, args):
    keys = jnp.stack([jax.random.split(jax.random.key(s))[0] for s in seeds])
    params = jax.vmap(init_params)(keys)
    return np.asarray(bare_scan(num_steps, params, jax.vmap(OPT.init)(params), args))


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def best_of(repeat, methods):
    """Time each method ``repeat`` times, interleaved so that all see the same machine load;
    return (first value, fastest time) per method."""
    runs = {name: [] for name in methods}
    for _ in range(repeat):
        for name, fn in methods.items():
            runs[name].append(timed(fn))
    return {name: (r[0][0], min(t for _, t in r)) for name, r in runs.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--ref-steps", type=int, default=2_000)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--records", type=int, default=101)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    opts = parser.parse_args(argv)

    args = make_args()
    seeds = list(range(opts.seeds))
    record_at = record_steps(opts.steps, opts.records)

    def engine():
        rec = simulate(init, STEP, observe, seeds=seeds, record_at=record_at, args=args)
        return rec.values["loss"]

    ref_record_at = record_at[record_at <= opts.ref_steps]
    _, first = timed(engine)  # traces and compiles
    bare(seeds, 10, args)  # compile the others (not timed; the scan length is static)
    bare(seeds, opts.steps, args)
    python_loop(seeds[:1], 2, [1, 2], args)
    timings = best_of(opts.repeat, {
        "engine": engine,
        "bare": lambda: bare(seeds, opts.steps, args),
        "python": lambda: python_loop(seeds, opts.ref_steps, ref_record_at, args),
    })
    (eng_losses, steady), (bare_losses, bare_time), (ref_losses, ref_time) = timings.values()

    n = len(ref_record_at)
    agreement = float(np.max(np.abs(ref_losses - eng_losses[:, :n]) / ref_losses))
    final_gap = float(np.max(np.abs(bare_losses - eng_losses[:, -1])))
    seed_steps = opts.steps * opts.seeds
    ref_seed_steps = opts.ref_steps * opts.seeds
    rows = [
        ("engine (incl. compile)", opts.steps, first, seed_steps / first),
        ("engine (compiled)", opts.steps, steady, seed_steps / steady),
        ("bare jit(scan(vmap(step)))", opts.steps, bare_time, seed_steps / bare_time),
        ("python loop of jitted steps", opts.ref_steps, ref_time, ref_seed_steps / ref_time),
    ]
    ref_rate = rows[-1][3]

    print(f"2-layer linear net {N_IN}x{N_HIDDEN}x{N_OUT}, full-batch GD on {N_DATA} examples, "
          f"{opts.seeds} seeds, float32, {opts.records} records; "
          f"{jax.devices()[0].platform}, {os.cpu_count()} CPU cores")
    print(f"{'method':<30} {'steps/seed':>10} {'seconds':>9} {'seed-steps/s':>13} "
          f"{'speed-up':>9}")
    for name, steps, secs, rate in rows:
        print(f"{name:<30} {steps:>10d} {secs:>9.3f} {rate:>13,.0f} {rate / ref_rate:>8.1f}x")
    print(f"compile time ~ {first - steady:.2f} s; best of {opts.repeat} runs")
    print(f"same numbers: engine vs python loop, max relative loss difference over the first "
          f"{opts.ref_steps} steps {agreement:.1e}; engine vs bare, final losses "
          f"{eng_losses[:, -1].mean():.1e} differ by at most {final_gap:.1e}")

    result = {
        "problem": {"dims": [N_IN, N_HIDDEN, N_OUT], "examples": N_DATA, "seeds": opts.seeds,
                    "steps": opts.steps, "ref_steps": opts.ref_steps,
                    "records": opts.records, "dtype": "float32", "lr": LR,
                    "repeat": opts.repeat},
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "cpu_count": os.cpu_count(), "jax": jax.__version__,
                    "device": str(jax.devices()[0])},
        "methods": [{"method": name, "steps_per_seed": steps, "seconds": secs,
                     "seed_steps_per_second": rate, "speed_up": rate / ref_rate}
                    for name, steps, secs, rate in rows],
        "compile_seconds": first - steady,
        "max_relative_loss_difference_vs_python_loop": agreement,
        "max_final_loss_difference_vs_bare": final_gap,
    }
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {opts.out}")
    return result


if __name__ == "__main__":
    main()
