"""Benchmark: training the hooked transformer of the induction-head studies.

Singh et al. (ICML 2024): a 2-layer attention-only transformer (D = 512 features, d_model 64,
8 heads; the ``induction_heads`` model) trained by Adam on 32 few-shot sequences of 5 tokens per
step, sequences sampled inside the compiled step. One seed, float32, one core. Compared,
interleaved:

- ``engine``: :func:`learndyn.core.engine.simulate` on the studies' (init, step) of
  :func:`learndyn.induction_heads.simulate.programs` (records only at the start and the end);
- ``python loop``: the best plain alternative: a Python loop calling the same step, jitted,
  once per training step.

The authors' induction-head code (about 146 steps/s) is quoted, not run (benchmarks/README.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from harness import Row, compare, interleave
from learndyn.core.engine import simulate
from learndyn.induction_heads.simulate import InductionConfig, programs, train_args

QUOTED_STEPS_PER_S = 146.0


def rows(quick: bool = False, cores: str = "1 core", repeat: int = 5) -> list[Row]:
    steps = 40 if quick else 200
    config = InductionConfig()
    init, step, _ = programs(config)
    args = train_args(config)

    def observe(state, args):  # nothing to record: the loop below records nothing either
        return {"done": jnp.zeros(())}

    def engine():
        rec = simulate(init, step, observe, seeds=[0], record_at=np.array([0, steps]),
                       args=args, n_chunks=1)
        jax.block_until_ready(rec.values)

    one = jax.jit(lambda s, key, t: step(s, jax.random.fold_in(key, t), t, args))
    start = jax.jit(init)

    def loop():
        key = jax.random.key(0)
        state = start(key, args)
        for t in range(steps):
            state = one(state, key, jnp.int32(t))
        jax.block_until_ready(state)

    t = interleave({"engine": engine, "loop": loop}, repeat=repeat)
    how = (f"induction_heads model (D = 512, d_model 64, 8 heads), Adam, 32 sequences a step, "
           f"1 seed, float32 both, {cores}; {steps} steps a call")
    name = "induction_heads: transformer training, float32"
    row = compare(name, t, "engine", "loop", work=steps, unit="steps/s", how=how,
                  label="Python loop over a jitted step (in-run)")
    quoted = Row(name, row.value, "steps/s", "authors' induction-head code (quoted)",
                 QUOTED_STEPS_PER_S,
                 how_measured=f"{how}; {t['engine'].describe(steps, 'steps/s')}; reference "
                              "quoted, not run here (benchmarks/README.md)")
    return [row, quoted]


if __name__ == "__main__":
    from harness import table

    print(table(rows(quick=True)))
