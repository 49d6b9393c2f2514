"""Benchmark: optimising a control through the unrolled learning dynamics (learning_effort).

Measured in one process, float64, on the published problems of Carrasco-Davis, Masís & Saxe
(arXiv:2310.19919):

- ``single neuron``: :func:`learndyn.learning_effort.optimise` on
  ``single_neuron_problem()`` (mu = 2, sigma = 1, lambda = 0.1, beta = 0.3, gamma = 0.99,
  dt = 1e-3, n = 600, g in [0, 0.5]), 700 projected-ascent iterations of step 10;
- ``two-layer gains``: ``gain_problem`` on correlated Gaussians (mu = (3, 1), p = 0.8, H = 6,
  W ~ N(0, 0.01^2), lambda = 0.01, beta = 0.3, gamma = 0.99, dt = 5e-3, n = 4000, G in
  [-0.5, 0.5]), 100 iterations of step 10;
- ``two-layer gains, 8 problems vmapped``: the same 100 iterations for eight values of beta at
  once (:func:`learndyn.learning_effort.optimise_batch`, what the studies' sweeps use).

Each is timed on its first call in the process (tracing + compilation + run: "compile
included") and as the best of ``--repeat`` further calls (compiled). Wall and CPU (process)
time are both reported: on a shared machine CPU time is the steadier figure. The reference
PyTorch figures of the issue (about 48 s and 230 s on a 2-core CPU) are quoted, not re-run.

Usage: ``python benchmarks/learning_effort.py [--repeat 3]``. Prints a table and writes
``benchmarks/results/learning_effort.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

import learndyn.learning_effort as le

RESULTS = Path(__file__).parent / "results" / "learning_effort.json"
REFERENCE = {"single neuron": 48.0, "two-layer gains": 230.0}


def problems():
    single = le.single_neuron_problem()
    stats = le.data.correlated_gaussians(mu=(3.0, 1.0), sigma=(1.0, 1.0), p=0.8)
    w1, w2 = le.model.init_weights(3, 6, 2, scale=0.01, seed=0)
    gain = le.gain_problem(stats, w1, w2, lam=0.01, beta=0.3, gamma=0.99, dt=5e-3,
                           n_steps=4000, bounds=(-0.5, 0.5))
    return single, gain


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    single, gain = problems()
    batch = le.stack_problems([gain.replace(beta=b) for b in np.linspace(0.1, 1.0, 8)])
    cases = {
        "single neuron": (700, lambda: le.optimise(
            single, iterations=700, step=10.0,
            init=le.initial_control(single, noise=1e-3))),
        "two-layer gains": (100, lambda: le.optimise(
            gain, iterations=100, step=10.0, init=le.initial_control(gain, noise=1e-3))),
        "two-layer gains, 8 problems vmapped": (100, lambda: le.optimise_batch(
            batch, iterations=100, step=10.0)),
    }
    rows = []
    for name, (iterations, fn) in cases.items():
        first_wall, first_cpu, r = timed(fn)
        best = min((timed(fn) for _ in range(args.repeat)), key=lambda t: t[0])
        ref = REFERENCE.get(name)
        rows.append({"case": name, "iterations": iterations,
                     "first_wall_s": first_wall, "first_cpu_s": first_cpu,
                     "compiled_wall_s": best[0], "compiled_cpu_s": best[1],
                     "reference_s": ref,
                     "speedup_compiled": None if ref is None else ref / best[0],
                     "speedup_first": None if ref is None else ref / first_wall,
                     "value": float(np.max(r.value))})
    print(f"{'case':38s} {'iters':>5s} {'first wall':>10s} {'first cpu':>9s} "
          f"{'wall':>8s} {'cpu':>8s} {'ref':>6s} {'x ref':>7s}")
    for r in rows:
        ref = "" if r["reference_s"] is None else f"{r['reference_s']:.0f}"
        sp = "" if r["speedup_compiled"] is None else f"{r['speedup_compiled']:.0f}x"
        print(f"{r['case']:38s} {r['iterations']:5d} {r['first_wall_s']:10.2f} "
              f"{r['first_cpu_s']:9.2f} {r['compiled_wall_s']:8.3f} {r['compiled_cpu_s']:8.3f} "
              f"{ref:>6s} {sp:>7s}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "jax": jax.__version__,
            "python": platform.python_version(), "load_average": os.getloadavg()}
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"load average {meta['load_average']}; wrote {RESULTS}")


if __name__ == "__main__":
    main()
