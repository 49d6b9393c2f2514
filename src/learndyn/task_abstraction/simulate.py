"""Compiled simulations shared by the task-abstraction studies (Sandbrink et al., NeurIPS 2024).

A :class:`RunSpec` is one set of shape-keeping dynamics parameters (timescales tau_w, tau_c,
regulariser coefficients, steps per block n_B, Euler step dt). :func:`simulate_specs` trains
the gated network (:func:`learndyn.task_abstraction.model.make_trainer`) for every spec and
every seed as ONE vmapped program through :func:`learndyn.core.engine.simulate`: the specs
differ only in arrays (the step -> block map reads n_B from the args), so a list of specs of
any length, and a sweep over these parameters, compiles once per architecture and shape.
:func:`compare` puts the runs beside the reduced theory; :func:`compare_with_law` adds the
switching-law runs (flexible settings at several gate timescales).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core import dataset
from ..core.config import Config, ConfigError, param
from ..core.engine import simulate
from ..core.study import Progress
from . import data, model, observables, theory

__all__ = ["ATTRS", "GatedConfig", "RunSpec", "build_args", "compare", "compare_with_law",
           "describe", "record_schedule", "same_shapes", "simulate_specs"]


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


@dataclass(frozen=True)
class GatedConfig(Config):
    """The network, teachers and training of a task-abstraction study (studies subclass it
    and add their curriculum and timescales)."""

    n_tasks: int = param(2, "number of teachers M", ge=2)
    d_in: int = param(20, "input dimension", gt=0)
    d_out: int = param(10, "output dimension (M d_out <= d_in)", gt=0)
    n_paths: int = param(2, "number of weight paths P (>= M)", gt=0)
    teacher_seed: int = param(0, "seed of the teachers, shared by all simulation seeds", ge=0)
    gradient: Literal["sgd", "population"] = param(
        "sgd", "fresh minibatches or the exact expected loss")
    batch_size: int = param(200, "minibatch size B", gt=0)
    sampler: Literal["inputs", "wishart"] = param(
        "inputs", "sgd: draw the B inputs, or only their second moment X^T X/B (same law)")
    init_scale: float = param(0.01, "weight init std sigma0 (entries N(0, sigma0^2/d_in))", gt=0)
    gate_init: float = param(0.5, "initial value of every gate")
    dtype: Literal["float32", "float64"] = param("float32", "simulation precision")

    def validate(self) -> None:
        if self.n_paths < self.n_tasks:
            raise ConfigError(f"config field 'n_paths': needs at least n_tasks = {self.n_tasks}")
        if self.n_tasks * self.d_out > self.d_in:
            raise ConfigError("config fields 'n_tasks', 'd_out', 'd_in': orthogonal teachers "
                              f"need n_tasks * d_out <= d_in, got {self.n_tasks * self.d_out} > "
                              f"{self.d_in}")
        if self.gradient == "sgd" and self.sampler == "wishart" and self.batch_size <= self.d_in:
            raise ConfigError("config field 'sampler': 'wishart' needs batch_size > d_in")

    @property
    def overlap(self) -> float:
        """S = <W*^m, W*^m>_F = d_out/d_in of the orthogonal teachers."""
        return self.d_out / self.d_in

    def tasks(self, composition: str | None = None, mu: float = 0.5) -> data.Tasks:
        """The teachers (and composed tasks) of this config."""
        return data.make_tasks(self.n_tasks, self.d_in, self.d_out, seed=self.teacher_seed,
                               composition=composition, mu=mu)


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


def simulate_specs(net: GatedConfig, tasks: data.Tasks, plan: np.ndarray, specs: list[RunSpec],
                   *, thetas: tuple[float, ...], seeds, record_at: np.ndarray,
                   arch: str = "gated", gate_norm: str = "global",
                   progress: Progress | None = None, label: str = "",
                   modules: list[bool] | None = None) -> tuple[dict, np.ndarray]:
    """Simulate every spec for every seed in one vmapped program (network, initialisation and
    gradients as configured in ``net``; ``thetas``: thresholds of the time to threshold).

    ``modules[i]``: spec i starts with the modules in place (W^m = W*^m on top of the random
    init for the first M paths, gates one-hot on the first block's task) instead of gates
    ``gate_init`` (scalar-gated architectures only).

    Returns:
        values: recorded observables, each (spec, seed, record, ...), float64;
        ttt: in-loop first crossings (spec, seed, block, theta), -1 where never reached.
    """
    d_out, d_in = tasks.maps.shape[1:]
    n_paths, gate_init = net.n_paths, net.gate_init
    init, step, observe = model.make_trainer(arch, n_paths, d_in, d_out, net.gradient,
                                             net.batch_size, gate_norm, net.dtype, net.sampler)
    args = build_args(tasks, plan, specs, thetas=thetas, init_scale=net.init_scale,
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


def compare(tasks: data.Tasks, plan: np.ndarray, specs: list[RunSpec], values: dict,
            ttt: np.ndarray, steps: np.ndarray, *, dt: float, block_time: float,
            thetas: tuple[float, ...], seeds: list[int], models: tuple[str, ...],
            details: bool = False) -> tuple[xr.Dataset, dict]:
    """Simulated runs (one per model) beside the reduced theory from each seed's own start.

    Args:
        specs, values, ttt: the runs and what :func:`simulate_specs` returned for them.
        steps: the recorded step counts; dt, block_time: as configured.
        thetas: the loss thresholds of ``ttt`` (with one, the dataset has no ``theta`` dim).
        models: the name of every run (dim ``model``).
        details: also record ``w_sim``, ``weight_norm_sim``, ``conserved_sim`` (Q_p minus
            the regulariser's work), ``norm_sq_sim`` / ``norm_sq_theory`` (sum_p ||W^p||^2 and
            the within-block relation, :func:`~learndyn.task_abstraction.theory.
            within_block_curve`) and ``specialisation_sim`` (+ ``_matched``, ``_unmatched``).

    Returns:
        the dataset (``loss``, ``gates``, ``time_to_threshold`` and ``reached``, sim and
        theory; ``alignment_sim``, ``concat_alignment_sim``, ``concat_is_permutation_sim``,
        ``gates_block_end_sim``; paths relabelled per seed so that path m serves teacher m)
        and the relabelled summary of :func:`learndyn.task_abstraction.observables.summarise`.
    """
    n_block, n_blocks = specs[0].n_block, len(plan)
    one = len(thetas) == 1
    summ = observables.summarise(values)
    th = theory.reduced_runs(tasks, plan, specs, values, n_block * n_blocks, steps,
                             thetas[0] if one else tuple(thetas))
    gates_th = np.stack([observables.relabel(th["c"][i], summ["order"][i], axis=2)
                         for i in range(len(specs))])
    ttt_sim, reached = observables.time_to_threshold(ttt[..., 0] if one else ttt, block_time)
    ttt_th, reached_th = observables.time_to_threshold(th["ttt"], block_time)
    ends = observables.block_end_index(steps, n_block, n_blocks)
    dims = ("model", "seed", "time")
    blk = ("model", "seed", "block") + (() if one else ("theta",))
    ds = xr.Dataset(
        {
            "loss_sim": (dims, values["loss"]),
            "loss_theory": (dims, th["loss"]),
            "gates_sim": (dims + ("path",), summ["gates"]),
            "gates_theory": (dims + ("path",), gates_th),
            "alignment_sim": (dims + ("teacher", "path"), summ["alignment"]),
            "concat_alignment_sim": (dims, summ["concat"]),
            "concat_is_permutation_sim": (dims, summ["concat_distinct"].astype(np.int8)),
            "time_to_threshold_sim": (blk, ttt_sim),
            "reached_sim": (blk, reached.astype(np.int8)),
            "time_to_threshold_theory": (blk, ttt_th),
            "reached_theory": (blk, reached_th.astype(np.int8)),
            "gates_block_end_sim": (("model", "seed", "block", "path"),
                                    summ["gates"][:, :, ends]),
        },
        coords={
            "model": list(models), "seed": list(seeds), "time": steps * dt,
            "step": ("time", steps),
            "time_block": ("time", np.minimum(steps // n_block, n_blocks - 1)),
            "block": np.arange(n_blocks), "task": ("block", [tasks.names[i] for i in plan]),
            "path": np.arange(summ["gates"].shape[-1]),
            "teacher": list(tasks.names[: tasks.n_base]),
            "tau_w": ("model", [s.tau_w for s in specs]),
            "tau_c": ("model", [s.tau_c for s in specs]),
        },
    )
    if not one:
        ds = ds.assign_coords(theta=list(thetas))
    if details:
        ds["w_sim"] = (dims + ("path", "teacher"), summ["w"])
        ds["weight_norm_sim"] = (dims + ("path",), summ["weight_norm"])
        ds["conserved_sim"] = (dims + ("path",), summ["conserved"])
        norm_sq = np.sum(summ["weight_norm"] ** 2, axis=-1)
        norm_th, spec = [], []
        for i, sp in enumerate(specs):
            q = sp.tau_w * summ["weight_norm"][i] ** 2 - sp.tau_c * summ["gates"][i] ** 2
            work = q - summ["conserved"][i]  # int 2 c dR/dc dt, the regulariser's share of Q
            norm_th.append(theory.within_block_curve(norm_sq[i], summ["gates"][i], work, steps,
                                                     n_block, n_blocks, sp.tau_w, sp.tau_c))
            spec.append(observables.specialisation(values["alignment"][i],
                                                   summ["order"][i][:, :tasks.n_base]))
        ds["norm_sq_sim"] = (dims, norm_sq)
        ds["norm_sq_theory"] = (dims, np.stack(norm_th))
        for j, name in enumerate(("specialisation", "specialisation_matched",
                                  "specialisation_unmatched")):
            ds[f"{name}_sim"] = (("model", "seed"), np.stack([s[j] for s in spec]))
    return ds, summ


def same_shapes(configs, fields: Sequence[str]) -> None:
    """Raise :class:`~learndyn.core.config.ConfigError` unless ``configs`` differ only in
    ``fields`` (what a study's ``run_batch`` vmaps over)."""
    for other in configs[1:]:
        differ = [k for k, v in other.to_dict().items()
                  if v != getattr(configs[0], k) and k not in fields]
        if differ:
            raise ConfigError(f"run_batch: configs differ in '{differ[0]}', which changes shapes")


#: long_name and units of the variables and coordinates of the task-abstraction datasets
#: (time is the paper's continuous time t = step * dt, in which the timescales are given)
ATTRS: dict[str, tuple[str, str]] = {
    "time": ("training time t = step x dt",
             "paper time units (tau_w, tau_c, tau_B in the same)"),
    "sub_time": ("training time t = step x dt (subtask composition)",
                 "paper time units (tau_w, tau_c, tau_B in the same)"),
    "step": ("optimiser steps", "steps"),
    "time_block": ("block of each recorded time", ""),
    "block": ("block of the curriculum (0-based)", ""),
    "composed_block": ("composed-task block (0-based block index)", ""),
    "task": ("task of each block", ""),
    "model": ("network: flexible (fast regularised gates) or forgetful control", ""),
    "seed": ("simulation seed", ""),
    "path": ("weight path p (relabelled: path m serves teacher m)", ""),
    "teacher": ("teacher task", ""),
    "unit": ("output unit i", ""),
    "theta": ("loss threshold of the time to threshold", ""),
    "law_tau_c": ("gate timescale tau_c of the switching-law runs", "paper time units"),
    "tau_w": ("weight timescale tau_w", "paper time units"),
    "tau_c": ("gate timescale tau_c", "paper time units"),
    "tau_b": ("block length tau_B", "paper time units"),
    "lam_ref": ("reference regularisation strength lambda (hinge + L1 weights 1:5)", ""),
    "loss": ("expected data loss 1/2 ||W*_m(t) - sum_p c_p W_p||_F^2", ""),
    "gates": ("gate c_p", ""),
    "gates_block_end": ("gate c_p at the end of each block", ""),
    "alignment": ("row-wise cosine of teacher m and path p, averaged over rows", ""),
    "concat_alignment": ("concatenated alignment: mean over teachers of the best path's "
                         "cosine (1: one module per task)", ""),
    "concat_is_permutation": ("1 if every teacher's best path is distinct", ""),
    "w": ("span coordinate w_pm = <W*_m, W_p>/S", ""),
    "weight_norm": ("Frobenius norm ||W_p||", ""),
    "conserved": ("tau_w ||W_p||^2 - tau_c c_p^2 - int 2 c_p dR/dc_p dt (conserved)", ""),
    "norm_sq": ("sum_p ||W_p||^2", ""),
    "time_to_threshold": ("time from the block start to the first loss < theta "
                          "(censored at tau_B)", "paper time units"),
    "reached": ("1 if the loss fell below theta within the block", ""),
    "switch_time_law": ("gate-switching law t_theta = tau_c/(2S) ln(S/theta)",
                        "paper time units"),
    "specialisation": ("mean matched |cos| - mean unmatched |cos| (last 10% of training)", ""),
    "specialisation_matched": ("mean |cos| of teacher m and its path (last 10%)", ""),
    "specialisation_unmatched": ("mean |cos| of teacher m and the other paths (last 10%)", ""),
    "time_to_threshold_law": ("time to threshold, switching-law runs", "paper time units"),
    "reached_law": ("1 if the loss fell below theta within the block (law runs)", ""),
    "concat_alignment_law_final": ("final concatenated alignment (switching-law runs)", ""),
    "gate_recombination_error": ("||c_AB - (mu c_A + (1 - mu) c_B)||_1 at the block end", ""),
    "weight_change": ("relative change of sum_p ||W_p|| over the block", ""),
    "sub_loss": ("expected data loss, subtask composition", ""),
    "sub_gates_block_end": ("per-unit gate c_pi at the end of each block", ""),
    "sub_recombination_deviation": ("mean |c_pi - prediction| (even units follow c_A, odd "
                                    "units c_B)", ""),
    "sub_time_to_threshold": ("time to threshold, subtask composition", "paper time units"),
    "sub_reached": ("1 if the loss fell below theta within the block (subtask)", ""),
    "concat_alignment_a": ("concatenated alignment, grid A (tau_B x tau_c)", ""),
    "concat_alignment_b": ("concatenated alignment, grid B (tau_B x lambda)", ""),
    "concat_final_a": ("final concatenated alignment, grid A", ""),
    "concat_final_b": ("final concatenated alignment, grid B", ""),
    "concat_mean_a": ("time-averaged concatenated alignment, grid A", ""),
    "concat_mean_b": ("time-averaged concatenated alignment, grid B", ""),
    "concat_late_a": ("concatenated alignment averaged over the last block, grid A", ""),
    "concat_late_b": ("concatenated alignment averaged over the last block, grid B", ""),
    "concat_is_permutation_a": ("1 if every teacher's best path is distinct (grid A)", ""),
    "concat_is_permutation_b": ("1 if every teacher's best path is distinct (grid B)", ""),
    "specialised_fraction_a": ("fraction of seeds with final concat >= threshold (grid A)",
                               ""),
    "specialised_fraction_b": ("fraction of seeds with final concat >= threshold (grid B)",
                               ""),
}


def describe(ds: xr.Dataset) -> xr.Dataset:
    """Give every variable and coordinate its ``long_name`` (and ``units`` where it has one)
    from :data:`ATTRS`; ``<q>_sim`` / ``<q>_theory`` take the entry of ``q`` and say which."""
    return dataset.label(ds, ATTRS)


def compare_with_law(tasks: data.Tasks, plan: np.ndarray, specs: list[RunSpec], values: dict,
                     ttt: np.ndarray, steps: np.ndarray, *, dt: float, block_time: float,
                     theta: float, seeds: list[int], models: tuple[str, ...],
                     law_tau_c: Sequence[float] = (), law_index: Sequence[int] = ()
                     ) -> xr.Dataset:
    """:func:`compare` (with details) of the first ``len(models)`` runs, and the switching-law
    runs: run ``law_index[i]`` has gate timescale ``law_tau_c[i]`` (time to threshold, final
    concat alignment, and the switching time tau_c/(2S) ln(S/theta) beside them), labelled."""
    main = slice(0, len(models))
    ds, _ = compare(tasks, plan, specs[main], {k: v[main] for k, v in values.items()},
                    ttt[main], steps, dt=dt, block_time=block_time, thetas=(theta,),
                    seeds=seeds, models=models, details=True)
    if law_tau_c:
        law = list(law_tau_c)
        ttt_sim, reached = observables.time_to_threshold(ttt[law_index, ..., 0], block_time)
        concat, _ = observables.concat_alignment(values["alignment"][law_index, :, -1])
        ds["time_to_threshold_law_sim"] = (("law_tau_c", "seed", "block"), ttt_sim)
        ds["reached_law_sim"] = (("law_tau_c", "seed", "block"), reached.astype(np.int8))
        ds["concat_alignment_law_final_sim"] = (("law_tau_c", "seed"), concat)
        ds["switch_time_law_theory"] = (("law_tau_c",), theory.switch_time(
            np.array(law), tasks.overlap, theta))
        ds = ds.assign_coords(law_tau_c=law)
    return describe(ds)
