"""Shared machinery of the task-abstraction studies: one vmapped simulation over a list of
shape-keeping run specifications (timescales, regulariser, block length), the reduced theory
started from each simulated seed's own initial condition, and the post-hoc observables."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from ..core.engine import simulate
from ..core.study import Progress
from . import data, model, observables, theory

__all__ = ["RunSpec", "build_args", "gated_summary", "record_schedule", "reduced_theory",
           "reference_lambdas", "simulate_specs"]


@dataclass(frozen=True)
class RunSpec:
    """One simulated configuration; every field keeps array shapes, so specs are vmapped."""

    tau_w: float
    tau_c: float
    lam_nonneg: float = 0.0
    lam_l1: float = 0.0
    lam_l2: float = 0.0
    n_block: int = 1000
    dt: float = 1e-3

    @property
    def lam(self) -> tuple[float, float, float]:
        return (self.lam_nonneg, self.lam_l1, self.lam_l2)


def reference_lambdas(strength: float, nonneg: float = 0.0, l1: float = 0.0, l2: float = 0.0
                      ) -> tuple[float, float, float]:
    """(lam_nonneg, lam_l1, lam_l2) from the reference's global strength and relative weights:
    10 lam a_nonneg/sum(a), 10 lam a_l1/sum(a), lam a_l2/sum(a) (sum over the listed terms)."""
    total = nonneg + l1 + l2
    if total == 0:
        return (0.0, 0.0, 0.0)
    return (10 * strength * nonneg / total, 10 * strength * l1 / total, strength * l2 / total)


def record_schedule(num_steps: int, every: int, n_block: int) -> np.ndarray:
    """Step counts 0, every, 2 every, ... plus every block boundary, and the last step."""
    steps = np.arange(0, num_steps + 1, every)
    bounds = np.arange(0, num_steps + 1, n_block)
    return np.unique(np.concatenate([steps, bounds, [num_steps]])).astype(np.int64)


def build_args(tasks: data.Tasks, plan: np.ndarray, specs: list[RunSpec], *,
               thetas: tuple[float, ...], init_scale: float, gate_init: float) -> dict:
    """The batched ``args`` of :func:`learndyn.task_abstraction.model.make_trainer` (a leading
    axis over ``specs``)."""
    n = len(specs)
    shared = {"maps": tasks.maps, "base": tasks.base, "thetas": np.asarray(thetas, float),
              "init_scale": init_scale, "gate_init": gate_init}
    args = {k: jnp.asarray(np.stack([np.asarray(v)] * n), jnp.float64) for k, v in shared.items()}
    args["plan"] = jnp.asarray(np.stack([plan] * n), jnp.int32)
    for name in ("tau_w", "tau_c", "lam_nonneg", "lam_l1", "lam_l2", "dt"):
        args[name] = jnp.asarray([getattr(s, name) for s in specs], jnp.float64)
    args["n_block"] = jnp.asarray([s.n_block for s in specs], jnp.int32)
    return args


def simulate_specs(tasks: data.Tasks, plan: np.ndarray, specs: list[RunSpec], *, arch: str,
                   n_paths: int, gradient: str, batch_size: int, sampler: str, gate_norm: str,
                   dtype: str, thetas: tuple[float, ...], init_scale: float, gate_init: float,
                   seeds, record_at: np.ndarray, progress: Progress | None = None,
                   label: str = "", modules: list[bool] | None = None
                   ) -> tuple[dict, np.ndarray]:
    """Simulate every spec for every seed in one vmapped program.

    ``modules[i]``: spec i starts with the modules in place (W^m = W*^m on top of the random
    init for the first M paths, gates one-hot on the first block's task) instead of gates
    ``gate_init`` (scalar-gated architectures only).

    Returns:
        values: recorded observables, each (spec, seed, record, ...), float64;
        ttt: in-loop first crossings (spec, seed, block, theta), -1 where never reached.
    """
    d_out, d_in = tasks.maps.shape[1:]
    init, step, observe = model.make_trainer(arch, n_paths, d_in, d_out, gradient, batch_size,
                                             gate_norm, dtype, sampler)
    args = build_args(tasks, plan, specs, thetas=thetas, init_scale=init_scale,
                      gate_init=gate_init)
    if modules is not None and any(modules):
        n, n_tasks = len(specs), tasks.n_base
        offset = np.zeros((n, n_paths, d_out, d_in))
        c_init = np.full((n, n_paths), float(gate_init))
        for i, on in enumerate(modules):
            if on:
                offset[i, :n_tasks] = tasks.base
                c_init[i] = 0.0
                c_init[i, int(plan[0])] = 1.0
        args["W_offset"] = jnp.asarray(offset, jnp.float64)
        args["c_init"] = jnp.asarray(c_init, jnp.float64)
    rec = simulate(init, step, observe, seeds=seeds, record_at=record_at, args=args,
                   progress=progress, label=label, batched=True)
    values = {k: np.asarray(v, np.float64) for k, v in rec.values.items()}
    return values, np.asarray(rec.final["ttt"], np.float64)


def reduced_theory(tasks: data.Tasks, plan: np.ndarray, specs: list[RunSpec], values: dict,
                   num_steps: int, record_at: np.ndarray, theta: float | tuple[float, ...]
                   ) -> dict:
    """The reduced map (float64, same dt) from each (spec, seed)'s recorded initial condition.

    Returns ``loss`` (spec, seed, record), ``c`` (spec, seed, record, P), ``w`` (..., P, M)
    and ``ttt`` (spec, seed, block): per block, the time to the first loss < theta (-1: never;
    with a tuple of thresholds a last axis over them).
    """
    thetas = theta if isinstance(theta, tuple) else (theta,)
    out: dict[str, list] = {"loss": [], "c": [], "w": [], "ttt": []}
    every = np.arange(num_steps + 1)
    for i, spec in enumerate(specs):
        w0 = values["w"][i, :, 0]
        c0 = values["gates"][i, :, 0]
        G0 = theory.project_gram(w0, values["gram"][i, :, 0], tasks.overlap)
        res = theory.reduced_map_batch(
            w0, c0, G0, overlap=tasks.overlap, tau_w=spec.tau_w, tau_c=spec.tau_c, dt=spec.dt,
            lam=spec.lam, coords=tasks.coords, plan=plan, n_block=spec.n_block,
            num_steps=num_steps, record_at=every)
        ttt = np.stack([observables.first_crossing(res["loss"], spec.n_block, len(plan), th,
                                                   spec.dt) for th in thetas], axis=-1)
        out["ttt"].append(ttt if isinstance(theta, tuple) else ttt[..., 0])
        for k in ("loss", "c", "w"):
            out[k].append(res[k][:, record_at])
    return {k: np.stack(v) for k, v in out.items()}


def loss_panel(ax, t: np.ndarray, loss: np.ndarray, *, color, label: str | None = None,
               theory: np.ndarray | None = None) -> None:
    """Loss over training: seed mean as a thin line over the seeds' range (curves with a jump
    at every block switch read better as lines than as markers); theory dashed."""
    ax.fill_between(t, loss.min(axis=0), loss.max(axis=0), color=color, alpha=0.25, lw=0)
    ax.plot(t, loss.mean(axis=0), "-", color=color, lw=0.7, label=label)
    if theory is not None:
        ax.plot(t, theory, "--", color="k", lw=0.6, label="theory (reduced map)")


def gated_summary(values: dict, tasks: data.Tasks) -> dict:
    """Path-relabelled observables for every spec: each of ``values``' arrays has leading axes
    (spec, seed, time). Returns ``order`` (spec, seed, P), relabelled ``alignment``,
    ``gates``, ``w``, ``weight_norm``, ``conserved``, ``work``, and ``concat`` /
    ``concat_distinct`` (spec, seed, time)."""
    n_spec = values["alignment"].shape[0]
    n_paths = values["alignment"].shape[-1]
    out: dict[str, list] = {k: [] for k in ("order", "alignment", "gates", "w", "weight_norm",
                                            "conserved", "concat", "concat_distinct")}
    for i in range(n_spec):
        align = values["alignment"][i]
        order = observables.path_order(observables.match_paths(align), n_paths)
        out["order"].append(order)
        out["alignment"].append(observables.relabel(align, order, axis=3))
        out["gates"].append(observables.relabel(values["gates"][i], order, axis=2))
        out["w"].append(observables.relabel(values["w"][i], order, axis=2))
        norms = np.sqrt(np.diagonal(values["gram"][i], axis1=-2, axis2=-1))
        out["weight_norm"].append(observables.relabel(norms, order, axis=2))
        out["conserved"].append(observables.relabel(values["conserved"][i], order, axis=2))
        concat, distinct = observables.concat_alignment(align)
        out["concat"].append(concat)
        out["concat_distinct"].append(distinct)
    return {k: np.stack(v) for k, v in out.items()}
