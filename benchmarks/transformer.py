"""Training speed of the hooked transformer (not a test): steps/s, tokens/s and model FLOPs.

For the ``induction_heads`` quick and paper configurations, times the engine's compiled training
step (sampling + forward + backward + Adam, one seed) and reports steps/s, tokens/s and the
FLOPs per step from XLA's cost analysis, so utilisation can be judged. Runs on whatever device
JAX uses (CPU by default; a GPU when one is available). Prints a table and writes JSON.

    python benchmarks/transformer.py [--steps 200] [--out benchmarks/transformer.json]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp

from learndyn.induction_heads.study import INDUCTION_HEADS, _args, programs


def bench(preset: str, steps: int) -> dict:
    config = INDUCTION_HEADS.make_config(preset)
    init, step, _ = programs(config)
    args = _args(config)
    state = jax.jit(init)(jax.random.key(0), args)

    @jax.jit
    def run(state, key):
        def body(t, s):
            return step(s, jax.random.fold_in(key, t), t, args)
        return jax.lax.fori_loop(0, steps, body, state)

    one = jax.jit(lambda s, k: step(s, k, jnp.int32(0), args))
    cost = one.lower(state, jax.random.key(1)).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
    t0 = time.perf_counter()
    jax.block_until_ready(run(state, jax.random.key(1)))  # compile + first run
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(run(state, jax.random.key(2)))
    elapsed = time.perf_counter() - t0
    tokens = config.batch * 5  # T = 2N + 1 = 5
    return {"preset": preset, "device": jax.devices()[0].platform, "steps": steps,
            "steps_per_s": steps / elapsed, "tokens_per_s": steps * tokens / elapsed,
            "flops_per_step": flops, "gflops_per_s": flops * steps / elapsed / 1e9,
            "compile_and_first_run_s": compile_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/transformer.json")
    ns = parser.parse_args()
    rows = [bench(p, ns.steps) for p in ("quick", "paper")]
    print(f"{'preset':8} {'device':6} {'steps/s':>9} {'tokens/s':>10} {'MFLOP/step':>11} "
          f"{'GFLOP/s':>8}")
    for r in rows:
        print(f"{r['preset']:8} {r['device']:6} {r['steps_per_s']:9.1f} {r['tokens_per_s']:10.0f} "
              f"{r['flops_per_step'] / 1e6:11.2f} {r['gflops_per_s']:8.2f}")
    with open(ns.out, "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
