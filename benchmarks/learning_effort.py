"""Benchmark: optimising a control through the unrolled learning dynamics (learning_effort).

Carrasco-Davis, Masís & Saxe (arXiv:2310.19919). Projected gradient ascent on the value V of a
control series, dV/dc by reverse mode through the unrolled learning dynamics, float64, one core.
Compared, interleaved:

- ``optimise``: :func:`learndyn.learning_effort.optimise` (the iterations inside one compiled
  ``lax.scan`` per chunk of 100);
- ``python loop``: the best plain alternative: a Python loop calling one jitted iteration
  (``value_and_grad`` of :func:`learndyn.learning_effort.theory.traced_value`, step, clip).

Problems: the single-neuron gain (``single_neuron_problem()``, n = 600 steps, 700 iterations of
step 10) and, without ``--quick``, the two-layer per-weight gains (correlated Gaussians,
H = 6, n = 4000 steps, 100 iterations of step 10). The authors' PyTorch code is quoted in
benchmarks/README.md, not compared in a row (its machine and precision are not known well
enough to compare like with like).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

import learndyn.learning_effort as le
from harness import Row, compare, interleave
from learndyn.learning_effort.theory import as_jax, traced_value


@partial(jax.jit, static_argnums=2)
def iteration(p, c, step: float):
    v, g = jax.value_and_grad(traced_value, argnums=1)(p, c)
    return v, jax.tree.map(lambda a, d: jnp.clip(a + step * d, p.lo, p.hi), c, g)


def python_loop(p, init, iterations: int, step: float) -> float:
    with jax.enable_x64(True):
        q, c = as_jax(p), jax.tree.map(jnp.asarray, init)
        values = []
        for _ in range(iterations):
            v, c = iteration(q, c, step)
            values.append(v)
        return float(jax.jit(traced_value)(q, c))


def problems(quick: bool) -> dict:
    single = le.single_neuron_problem()
    out = {"single-neuron gain, n = 600": (single, 200 if quick else 700)}
    if not quick:
        stats = le.data.correlated_gaussians(mu=(3.0, 1.0), sigma=(1.0, 1.0), p=0.8)
        w1, w2 = le.model.init_weights(3, 6, 2, scale=0.01, seed=0)
        gain = le.gain_problem(stats, w1, w2, lam=0.01, beta=0.3, gamma=0.99, dt=5e-3,
                               n_steps=4000, bounds=(-0.5, 0.5))
        out["two-layer gains, H = 6, n = 4000"] = (gain, 100)
    return out


def rows(quick: bool = False, cores: str = "1 core", repeat: int = 5) -> list[Row]:
    out_rows = []
    for name, (p, iterations) in problems(quick).items():
        init = le.initial_control(p, noise=1e-3)
        got = {}

        def ours(p=p, init=init, iterations=iterations, got=got):
            got["optimise"] = le.optimise(p, iterations=iterations, step=10.0, init=init).value

        def loop(p=p, init=init, iterations=iterations, got=got):
            got["loop"] = python_loop(p, init, iterations, 10.0)

        t = interleave({"optimise": ours, "loop": loop}, repeat=3 if iterations <= 100 else repeat)
        gap = abs(got["optimise"] - got["loop"]) / abs(got["loop"])
        how = (f"{iterations} ascent iterations of step 10, float64 both, {cores}; compiled "
               f"calls; final V relative difference {gap:.1e}")
        out_rows.append(compare(f"learning_effort: {name}", t, "optimise", "loop",
                                work=iterations, unit="iterations/s", how=how,
                                label="Python loop over a jitted iteration (in-run)"))
    return out_rows


if __name__ == "__main__":
    from harness import table

    print(table(rows(quick=True)))
