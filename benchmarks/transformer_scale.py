"""Training speed of the hooked transformer (not a test): steps/s, tokens/s and model FLOPs.

For the tiny model (``induction_clamping`` quick) and the paper model (``induction_heads`` quick
and paper), times the compiled training step (sampling + forward + backward + Adam, one seed)
and reports steps/s, tokens/s and the FLOPs per step from XLA's cost analysis, so utilisation
can be judged. Then times the engine on two seeds both ways, in the same run: vmapped into one
program, and one call per seed in threads (``simulate(..., vmap_seeds=False)``). Last, the
2-layer coopetition model of ``icl_transience`` (bursty fixed-label sequences, K-way labels;
quick scale K = 512, D = 64 and paper scale K = 12,800, D = 512): training sequences per second
of one seed's compiled training step, its FLOPs, and on a GPU the model FLOP utilisation
against the device's float32 peak. Runs on whatever device JAX uses (CPU by default; a GPU
when one is available). Prints tables and writes JSON. (The like-for-like comparison of the
training loop is ``benchmarks/transformer.py``, part of ``make bench``.)

    python benchmarks/transformer_scale.py [--steps 200] [--out benchmarks/out/transformer.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.core.engine import simulate
from learndyn.icl_transience import simulate as coop
from learndyn.induction_heads.simulate import TINY, InductionConfig, programs, train_args
from learndyn.studies.icl_transience import QUICK as COOP_QUICK
from learndyn.studies.icl_transience import TransienceConfig

CONFIGS = {"tiny": InductionConfig(**TINY), "paper": InductionConfig()}
COOP = {"quick": TransienceConfig(**{**COOP_QUICK, "n_eval": 16}),
        "paper": TransienceConfig(n_eval=16)}
#: float32 peak FLOP/s (dense, non-tensor-core) for the utilisation column
PEAK_F32 = {"H100": 67e12, "H200": 67e12, "A100": 19.5e12}


def bench(name: str, steps: int) -> dict:
    config = CONFIGS[name]
    init, step, _ = programs(config)
    args = train_args(config)
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
    return {"config": name, "device": jax.devices()[0].platform, "steps": steps,
            "steps_per_s": steps / elapsed, "tokens_per_s": steps * tokens / elapsed,
            "flops_per_step": flops, "gflops_per_s": flops * steps / elapsed / 1e9,
            "compile_and_first_run_s": compile_s}


def seed_layouts(name: str, steps: int, seeds: int = 2) -> dict:
    """Seed-steps/s of ``simulate`` with the seeds vmapped and with the seeds in threads
    (second call of each: compiled)."""
    config = CONFIGS[name]
    init, step, observe = programs(config)
    args = train_args(config)
    out = {"config": name, "seeds": seeds, "steps": steps}
    for key, vmap in (("vmapped", True), ("threads", False)):
        def go(vmap=vmap):
            simulate(init, step, observe, seeds=range(seeds), record_at=np.array([0, steps]),
                     args=args, n_chunks=1, vmap_seeds=vmap)
        go()
        t0 = time.perf_counter()
        go()
        out[f"{key}_seed_steps_per_s"] = seeds * steps / (time.perf_counter() - t0)
    out["speedup"] = out["threads_seed_steps_per_s"] / out["vmapped_seed_steps_per_s"]
    return out


def coopetition(name: str, steps: int) -> dict:
    """Training sequences/s of the coopetition model's compiled step (one seed, lambda = 0)."""
    config = COOP[name]
    init, step, _ = coop.programs(config, False, False)
    args = coop.train_args(config)
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
    jax.block_until_ready(run(state, jax.random.key(1)))
    t0 = time.perf_counter()
    jax.block_until_ready(run(state, jax.random.key(2)))
    elapsed = time.perf_counter() - t0
    device = jax.devices()[0]
    peak = next((v for k, v in PEAK_F32.items() if k in device.device_kind), float("nan"))
    return {"config": f"coopetition-{name}", "device": device.platform,
            "sequences_per_s": steps * config.batch / elapsed, "steps_per_s": steps / elapsed,
            "flops_per_step": flops, "mfu": flops * steps / elapsed / peak,
            "hours_per_2e7_sequences": 2e7 / (steps * config.batch / elapsed) / 3600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/out/transformer.json")
    parser.add_argument("--only", choices=["all", "coopetition"], default="all")
    ns = parser.parse_args()
    rows = [] if ns.only == "coopetition" else [bench(p, ns.steps) for p in CONFIGS]
    print(f"{'config':8} {'device':6} {'steps/s':>9} {'tokens/s':>10} {'MFLOP/step':>11} "
          f"{'GFLOP/s':>8}")
    for r in rows:
        print(f"{r['config']:8} {r['device']:6} {r['steps_per_s']:9.1f} {r['tokens_per_s']:10.0f} "
              f"{r['flops_per_step'] / 1e6:11.2f} {r['gflops_per_s']:8.2f}")
    layouts = [] if ns.only == "coopetition" else [seed_layouts(p, ns.steps) for p in CONFIGS]
    print(f"\n{'config':8} {'seed-steps/s vmapped':>21} {'in threads':>11} {'speed-up':>9}")
    for r in layouts:
        print(f"{r['config']:8} {r['vmapped_seed_steps_per_s']:21.1f} "
              f"{r['threads_seed_steps_per_s']:11.1f} {r['speedup']:9.2f}")
    coop_rows = [coopetition(p, ns.steps) for p in COOP]
    print(f"\n{'config':18} {'device':6} {'sequences/s':>12} {'MFLOP/step':>11} {'MFU':>7} "
          f"{'h per 2e7-sequence seed':>24}")
    for r in coop_rows:
        print(f"{r['config']:18} {r['device']:6} {r['sequences_per_s']:12.0f} "
              f"{r['flops_per_step'] / 1e6:11.2f} "
              f"{format(r['mfu'], '7.2%') if r['mfu'] == r['mfu'] else '      -'} "
              f"{r['hours_per_2e7_sequences']:24.1f}")
    Path(ns.out).parent.mkdir(parents=True, exist_ok=True)
    with open(ns.out, "w") as f:
        json.dump({"step": rows, "seed_layouts": layouts, "coopetition": coop_rows}, f,
                  indent=2)


if __name__ == "__main__":
    main()
