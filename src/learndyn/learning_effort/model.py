r"""SGD networks driven by a time-indexed control (the simulation side).

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919. A two-layer linear network (or the single
neuron) is trained by SGD on the minibatch loss with learning rate alpha, a fresh batch each
step drawn inside the compiled loop, and the control c_k applied at step k exactly as in the
average dynamics (:mod:`.controls`):

- single neuron: y^ = (1 + g_k) w x;  gains: y^ = W~2 W~1 x with W~ = W (.) (1 + G_k);
- learning rate: the update is scaled by (1 + u_k);
- engagement / category: output o's squared error is weighted by psi of its task / by psi_o^2.

.. math:: \ell(W; c, B) = \frac{1}{2|B|}\sum_{(x,y)\in B}\sum_o d_o(c)\,(\hat y_o - y_o)^2
          + \frac\lambda2\sum_l\|W_l\|^2,\qquad W \leftarrow W - \alpha\,\nabla_W\ell

whose expectation over batches is the average flow of :mod:`.controls`. What is recorded is the
population loss L(W_k, c_k) from the exact statistics (the same function as the theory's),
evaluated in float64 when JAX's x64 mode is on (as in :func:`learndyn.run`).
Seeds only change the batches: every seed starts from the problem's initial weights.
"""

from __future__ import annotations

from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import ConfigError
from ..core.engine import record_steps, simulate
from ..core.study import Progress
from .data import sample, stack_samplers
from .theory import Problem

__all__ = ["KINDS", "batch_loss", "init_weights", "predict", "run_sgd"]

#: the control types (by name) whose SGD networks are defined here
KINDS = ("single_neuron", "gain", "learning_rate", "engagement", "category", "none")


def init_weights(n_in: int, hidden: int, n_out: int, *, scale: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(W1, W2) with i.i.d. N(0, scale^2) entries (float64 numpy), from ``seed``."""
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((hidden, n_in)),
            scale * rng.standard_normal((n_out, hidden)))


def predict(kind: str, w, c, x: jax.Array) -> jax.Array:
    """Network outputs (batch, O) for inputs x (batch, D) under control c."""
    if kind == "single_neuron":
        return ((1.0 + c) * w) * x
    W1, W2 = w
    if kind == "gain":
        W1, W2 = W1 * (1.0 + c[0]), W2 * (1.0 + c[1])
    return x @ W1.T @ W2.T


def batch_loss(kind: str, w, c, x, y, prm) -> jax.Array:
    """The controlled minibatch loss whose gradient SGD follows (see the module docstring)."""
    err2 = (predict(kind, w, c, x) - y) ** 2
    if kind.startswith("engagement"):
        err2 = err2 * (prm["groups"] @ c)[None, :]
    elif kind == "category":
        err2 = err2 * (c**2)[None, :]
    data = 0.5 * jnp.mean(jnp.sum(err2, axis=1))
    decay = 0.5 * prm["lam"] * sum(jnp.sum(a**2) for a in jax.tree.leaves(w))
    return (1.0 + c) * (data + decay) if kind == "learning_rate" else data + decay


@cache
def _program(ct, batch: int, n_steps: int):
    """(init, step, observe) for one control type and batch size, cached so that repeated runs
    re-use the compiled loop."""
    kind = ct.name

    def init(key, args):
        return args["w0"], jnp.int32(0)

    def step(state, key, t, args):
        w, _ = state
        task = args["schedule"][t]
        sampler = jax.tree.map(lambda a: a[task], args["sampler"])
        x, y = sample(key, sampler, batch)
        c = jax.tree.map(lambda a: a[t], args["control"])
        g = jax.grad(batch_loss, argnums=1)(kind, w, c, x, y, args["params"])
        w = jax.tree.map(lambda a, d: a - args["dt"] * d, w, g)
        return w, (t + 1).astype(jnp.int32)

    def observe(state, args):
        w, k = state
        k = jnp.minimum(k, n_steps - 1)
        w = jax.tree.map(lambda a: a.astype(args["stats"].sigma_x.dtype), w)
        c = jax.tree.map(lambda a: a[k], args["control"])
        s = jax.tree.map(lambda a: a[args["schedule"][k]], args["stats"])
        tasks = jax.vmap(lambda st: ct.loss(w, c, st, args["params"]))(args["stats"])
        return {"loss": ct.loss(w, c, s, args["params"]), "task_loss": tasks}

    return init, step, observe


def run_sgd(problems: list[Problem], controls: list, tasks: list, *, seeds, batch: int,
            num_records: int = 101, spacing: str = "linear", dtype: str = "float32",
            progress: Progress | None = None, label: str = "SGD") -> dict:
    """SGD under each (problem, control) pair, all pairs and seeds in one vmapped program.

    Args:
        problems: problems of one control type and equal shapes (e.g. the same problem twice
            for the conditions uncontrolled / optimal, or one per MAML task); their initial
            weights, statistics, schedule and constants are used.
        controls: one time-indexed control per problem (for MAML-like problems pass the learned
            initial weights as the problem's ``w0`` and the neutral control ``np.zeros(n)``).
        tasks: per problem, the list of :class:`~learndyn.learning_effort.data.Task` indexed
            by its schedule (their exact statistics must be the problem's).
        seeds: SGD seeds (they change the batches only); batch: minibatch size.
        num_records: records from step 0 to n - 1, ``spacing`` "linear" or "log".

    Returns:
        ``steps`` (records,), ``loss`` (problem, seed, record) population loss of the active
        task, ``task_loss`` (problem, seed, record, task).
    """
    ct, n = problems[0].control_type, problems[0].n_steps
    if ct.name not in KINDS:
        raise ConfigError(f"control_type: SGD networks exist for {', '.join(KINDS)}; "
                          f"{ct.name!r} needs its own batch loss")
    dt = jnp.dtype(dtype)
    steps = record_steps(n - 1, min(num_records, n), spacing=spacing)

    def cast(a):
        a = np.asarray(a)
        return jnp.asarray(a, dt if np.issubdtype(a.dtype, np.floating) else a.dtype)

    args = [{"w0": p.w0, "schedule": p.schedule, "params": p.params,
             "dt": p.dt, "control": c, "sampler": stack_samplers(t)}
            for p, c, t in zip(problems, controls, tasks)]
    args = jax.tree.map(lambda *a: cast(np.stack([np.asarray(x) for x in a])), *args)
    # the recorded population loss is evaluated in float64 where JAX allows it (x64 mode):
    # in float32 its cancellation floor (~1e-7 of L(0)) hides losses that converge to 0
    args["stats"] = jax.tree.map(lambda *a: jnp.asarray(np.stack(a)), *[p.stats for p in problems])
    init, step, observe = _program(ct, int(batch), n)
    rec = simulate(init, step, observe, seeds=list(seeds), record_at=steps, args=args,
                   progress=progress, label=label, batched=True)
    return {"steps": rec.steps, "loss": rec.values["loss"].astype(np.float64),
            "task_loss": rec.values["task_loss"].astype(np.float64)}
