"""Study ``task_composition``: learned task abstractions recombine (Sandbrink et al. Fig. 3, A12).

After k_s = floor(0.75 n_blocks) blocks cycling three base tasks A, B, C, the curriculum cycles
composed tasks never seen before:

- **task composition** (scalar gates): AB = mu A + (1 - mu) B, BC, CA. A network whose weights
  hold one module per base task solves AB by mixing its gates, c_AB = mu c_A + (1 - mu) c_B,
  without touching the weights; it does so within a gate-switching time, far faster than the
  forgetful control (lam = 0), which must re-learn its weights;
- **subtask composition** (per-unit gates): AB takes its even output rows from A and its odd
  rows from B; the per-unit gates recombine unit by unit (even units follow c_A, odd c_B).

Theory beside the simulation: the reduced map of the population dynamics (mixtures stay in the
teachers' span, coordinates (mu, 1 - mu, 0)) started from each seed's initial weights, and the
recombination predictions for the gates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study
from ..task_abstraction import data, observables
from ..task_abstraction.common import (
    RunSpec,
    gated_summary,
    loss_panel,
    record_schedule,
    reduced_theory,
    simulate_specs,
)

__all__ = ["STUDY", "TaskCompositionConfig"]

MODELS = ("flexible", "forgetful")


@dataclass(frozen=True)
class TaskCompositionConfig(Config):
    n_tasks: int = param(3, "number of base teachers M", ge=2)
    d_in: int = param(20, "input dimension", gt=0)
    d_out: int = param(6, "output dimension (M d_out <= d_in)", gt=0)
    n_paths: int = param(3, "number of weight paths P (>= M)", gt=0)
    teacher_seed: int = param(0, "seed of the teachers, shared by all simulation seeds", ge=0)
    block_time: float = param(1.0, "block length tau_B", gt=0)
    n_blocks: int = param(31, "blocks run; composed tasks from floor(0.75 n_blocks) on", ge=4)
    mu: float = param(0.5, "mixing of composed tasks: AB = mu A + (1 - mu) B", gt=0, lt=1)
    gradient: Literal["sgd", "population"] = param(
        "sgd", "fresh minibatches or the exact expected loss")
    batch_size: int = param(200, "minibatch size B", gt=0)
    sampler: Literal["inputs", "wishart"] = param(
        "inputs", "sgd: draw the B inputs, or only their second moment X^T X/B (same law)")
    init_scale: float = param(0.01, "weight init std sigma0 (entries N(0, sigma0^2/d_in))", gt=0)
    gate_init: float = param(0.5, "initial value of every gate")
    dt: float = param(1e-3, "task composition: Euler step", gt=0)
    tau_w: float = param(0.2, "task composition: weight timescale", gt=0)
    tau_c: float = param(0.03, "task composition: gate timescale", gt=0)
    lam_nonneg: float = param(0.5, "task composition (flexible): hinge coefficient", ge=0)
    lam_l1: float = param(2.5, "task composition (flexible): L1-manifold coefficient", ge=0)
    lam_l2: float = param(0.0, "task composition (flexible): L2-manifold coefficient", ge=0)
    subtask: bool = param(True, "also run subtask composition (per-unit gates, interleaved rows)")
    sub_dt: float = param(0.01, "subtask composition: Euler step", gt=0)
    sub_tau_w: float = param(0.2, "subtask composition: weight timescale", gt=0)
    sub_tau_c: float = param(0.005, "subtask composition: gate timescale", gt=0)
    sub_lam_nonneg: float = param(0.0227, "subtask composition (flexible): hinge", ge=0)
    sub_lam_l1: float = param(0.0, "subtask composition (flexible): L1-manifold", ge=0)
    sub_lam_l2: float = param(0.0227, "subtask composition (flexible): L2-manifold", ge=0)
    sub_gate_norm: Literal["global", "per_unit"] = param(
        "global", "subtask: manifold terms on the flattened gates (reference) or per unit")
    theta: float = param(0.1, "loss threshold for the time to threshold", gt=0)
    theta_fast: float = param(0.05, "lower threshold for the composed-block comparison", gt=0)
    record_every: int = param(5, "task composition: record every this many steps", ge=1)
    dtype: Literal["float32", "float64"] = param("float32", "simulation precision")

    def validate(self) -> None:
        if self.n_paths < self.n_tasks:
            raise ConfigError(f"config field 'n_paths': needs at least n_tasks = {self.n_tasks}")
        if self.n_tasks * self.d_out > self.d_in:
            raise ConfigError("config fields 'n_tasks', 'd_out', 'd_in': orthogonal teachers "
                              f"need n_tasks * d_out <= d_in, got {self.n_tasks * self.d_out} > "
                              f"{self.d_in}")
        data.steps_per_block(self.block_time, self.dt)
        data.steps_per_block(self.block_time, self.sub_dt)
        if self.gradient == "sgd" and self.sampler == "wishart" and self.batch_size <= self.d_in:
            raise ConfigError("config field 'sampler': 'wishart' needs batch_size > d_in")
        if data.composition_start(self.n_blocks) < self.n_tasks:
            raise ConfigError("config field 'n_blocks': too few blocks to see every base task "
                              "before the composed ones")


def _part(config, tasks, plan, specs, *, arch, dt, gate_norm, every, seeds, progress, label):
    n_block = data.steps_per_block(config.block_time, dt)
    num_steps = n_block * config.n_blocks
    steps = record_schedule(num_steps, every, n_block)
    values, ttt = simulate_specs(
        tasks, plan, specs, arch=arch, n_paths=config.n_paths, gradient=config.gradient,
        batch_size=config.batch_size, sampler=config.sampler, gate_norm=gate_norm,
        dtype=config.dtype, thetas=(config.theta, config.theta_fast),
        init_scale=config.init_scale, gate_init=config.gate_init, seeds=seeds, record_at=steps,
        progress=progress, label=label)
    return steps, num_steps, n_block, values, ttt


def _composition_stats(gates_end, plan, n_tasks, k_s):
    """Reference gates c_m (end of the last base block of task m before k_s) and, for every
    composed block k >= k_s of task (m, m+1), the predicted gates (from c_m and c_{m+1}).

    gates_end: (model, seed, block, path[, unit]). Returns (c_ref_a, c_ref_b) aligned with the
    composed blocks: each (model, seed, n_comp, path[, unit]).
    """
    last = {}
    for k in range(k_s):
        last[int(plan[k])] = k
    a_idx, b_idx = [], []
    for k in range(k_s, len(plan)):
        m = int(plan[k]) - n_tasks
        a_idx.append(last[m])
        b_idx.append(last[(m + 1) % n_tasks])
    return gates_end[:, :, a_idx], gates_end[:, :, b_idx]


def run(config: TaskCompositionConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Task composition (flexible, forgetful) and subtask composition (per-unit gates)."""
    M = config.n_tasks
    plan = data.block_plan("A_B_C__AB_BC_CA", config.n_blocks, M)
    k_s = data.composition_start(config.n_blocks)
    tasks = data.make_tasks(M, config.d_in, config.d_out, seed=config.teacher_seed,
                            composition="mix", mu=config.mu)
    n_block = data.steps_per_block(config.block_time, config.dt)
    specs = [RunSpec(config.tau_w, config.tau_c, config.lam_nonneg, config.lam_l1, config.lam_l2,
                     n_block, config.dt),
             RunSpec(config.tau_w, config.tau_c, 0.0, 0.0, 0.0, n_block, config.dt)]
    steps, num_steps, n_block, values, ttt = _part(
        config, tasks, plan, specs, arch="gated", dt=config.dt, gate_norm="global",
        every=config.record_every, seeds=seeds, progress=progress,
        label="task composition (flexible, forgetful)")
    summ = gated_summary(values, tasks)
    th = reduced_theory(tasks, plan, specs, values, num_steps, steps,
                        (config.theta, config.theta_fast))
    gates_th = np.stack([observables.relabel(th["c"][i], summ["order"][i], axis=2)
                         for i in range(2)])
    ttt_sim, reached = observables.time_to_threshold(ttt, config.block_time)
    ttt_th, _ = observables.time_to_threshold(th["ttt"], config.block_time)
    ends = observables.block_end_index(steps, n_block, config.n_blocks)
    starts = np.searchsorted(steps, np.arange(config.n_blocks) * n_block)
    raw_gates = values["gates"]  # unrelabelled (model, seed, time, path)
    gates_end = raw_gates[:, :, ends]
    ca, cb = _composition_stats(gates_end, plan, M, k_s)
    mu = config.mu
    comp_ends = gates_end[:, :, k_s:]
    recomb = np.abs(comp_ends - (mu * ca + (1 - mu) * cb)).sum(axis=-1)
    norm_sum = np.sqrt(np.diagonal(values["gram"], axis1=-2, axis2=-1)).sum(axis=-1)
    w_change = np.abs(norm_sum[:, :, ends] - norm_sum[:, :, starts]) / norm_sum[:, :, starts]

    times = steps * config.dt
    dims = ("model", "seed", "time")
    ds = xr.Dataset(
        {
            "loss_sim": (dims, values["loss"]),
            "loss_theory": (dims, th["loss"]),
            "gates_sim": (dims + ("path",), summ["gates"]),
            "gates_theory": (dims + ("path",), gates_th),
            "concat_alignment_sim": (dims, summ["concat"]),
            "alignment_sim": (dims + ("teacher", "path"), summ["alignment"]),
            "time_to_threshold_sim": (("model", "seed", "block", "theta"), ttt_sim),
            "reached_sim": (("model", "seed", "block", "theta"), reached.astype(np.int8)),
            "time_to_threshold_theory": (("model", "seed", "block", "theta"), ttt_th),
            "gates_block_end_sim": (("model", "seed", "block", "path"),
                                    observables.relabel(gates_end.reshape(
                                        -1, *gates_end.shape[2:]), np.concatenate(
                                        summ["order"]), axis=2).reshape(gates_end.shape)),
            "gate_recombination_error_sim": (("model", "seed", "composed_block"), recomb),
            "weight_change_sim": (("model", "seed", "block"), w_change),
        },
        coords={
            "model": list(MODELS), "seed": list(seeds), "time": times, "step": ("time", steps),
            "block": np.arange(config.n_blocks),
            "task": ("block", [tasks.names[i] for i in plan]),
            "composed_block": np.arange(k_s, config.n_blocks),
            "path": np.arange(config.n_paths), "teacher": list(tasks.names[:M]),
            "theta": [config.theta, config.theta_fast],
        },
        attrs={"overlap": tasks.overlap, "block_time": config.block_time,
               "composition_start": k_s},
    )
    if config.subtask:
        ds = ds.merge(_subtask(config, plan, k_s, seeds, progress))
    return ds


def _subtask(config, plan, k_s, seeds, progress) -> xr.Dataset:
    M = config.n_tasks
    tasks = data.make_tasks(M, config.d_in, config.d_out, seed=config.teacher_seed,
                            composition="interleave")
    n_block = data.steps_per_block(config.block_time, config.sub_dt)
    specs = [RunSpec(config.sub_tau_w, config.sub_tau_c, config.sub_lam_nonneg,
                     config.sub_lam_l1, config.sub_lam_l2, n_block, config.sub_dt),
             RunSpec(config.sub_tau_w, config.sub_tau_c, 0.0, 0.0, 0.0, n_block, config.sub_dt)]
    steps, _, n_block, values, ttt = _part(
        config, tasks, plan, specs, arch="gated_per_unit", dt=config.sub_dt,
        gate_norm=config.sub_gate_norm, every=1, seeds=seeds, progress=progress,
        label="subtask composition (per-unit gates)")
    ends = observables.block_end_index(steps, n_block, config.n_blocks)
    gates_end = values["gates"][:, :, ends]  # (model, seed, block, path, unit)
    ca, cb = _composition_stats(gates_end, plan, M, k_s)
    even = (np.arange(config.d_out) % 2 == 0)
    predicted = np.where(even, ca, cb)  # even units follow c_A, odd units follow c_B
    dev = np.abs(gates_end[:, :, k_s:] - predicted).mean(axis=(-2, -1))
    ttt_sim, reached = observables.time_to_threshold(ttt, config.block_time)
    return xr.Dataset(
        {
            "sub_loss_sim": (("model", "seed", "sub_time"), values["loss"]),
            "sub_gates_block_end_sim": (("model", "seed", "block", "path", "unit"), gates_end),
            "sub_recombination_deviation_sim": (("model", "seed", "composed_block"), dev),
            "sub_time_to_threshold_sim": (("model", "seed", "block", "theta"), ttt_sim),
            "sub_reached_sim": (("model", "seed", "block", "theta"), reached.astype(np.int8)),
        },
        coords={"sub_time": steps * config.sub_dt, "unit": np.arange(config.d_out)},
    )


# ---- checks -------------------------------------------------------------------------------
def checks(ds: xr.Dataset, config) -> list[Check]:
    """Claims of Fig. 3 (provisional thresholds of the spec, not loosened). Whether the base
    gates are one-hot (one module per base task) is recorded (``concat_alignment_sim``,
    ``gates_block_end_sim``) but not asserted: recombination does not need it."""
    k_s = int(ds.attrs["composition_start"])
    theta, fast = (float(x) for x in ds.theta.values)
    flex, forget = ds.sel(model="flexible"), ds.sel(model="forgetful")
    out: list[Check] = []
    reached = bool(flex.reached_sim.sel(block=k_s, theta=theta).all())
    err = float(flex.gate_recombination_error_sim.sel(composed_block=k_s).max())
    out.append(Check.at_most(
        'flexible_gate_recombination_error_c',
        "flexible: gate recombination error ||c_AB - (mu c_A + (1-mu) c_B)||_1, first composed "
        "block", err if reached else float("inf"), 0.15,
        "composed tasks are solved by recombining the base tasks' gates"))
    wc = float(flex.weight_change_sim.sel(block=k_s).max())
    out.append(Check.at_most(
        'flexible_relative_change_sum_p',
        "flexible: relative change of sum_p ||W^p|| over the first composed block", wc, 0.10,
        "the gates, not the weights, adapt to a composed task"))
    t_flex = float(flex.time_to_threshold_sim.sel(block=k_s, theta=fast).mean())
    t_forget = float(forget.time_to_threshold_sim.sel(block=k_s, theta=fast).mean())
    out.append(Check.at_least(
        f"first_composed_block_time_{fast:g}_forgetful_flexible",
        f"first composed block: time to loss < {fast:g}, forgetful / flexible", t_forget / t_flex,
        2.0, "composition is much faster than the forgetful control (censored at tau_B)"))
    if "sub_recombination_deviation_sim" in ds:
        sub = ds.sub_recombination_deviation_sim.sel(model="flexible")
        dev = float(sub.isel(composed_block=slice(0, int(ds.sizes["teacher"]))).max())
        out.append(Check.at_most(
            'subtask_unit_gate_recombination_mean',
            "subtask: per-unit gate recombination, mean |c - c_pred| (first composed cycle)",
            dev, 0.15, "per-unit gates recombine unit by unit: even units follow c_A, odd c_B"))
    return out


# ---- figures ------------------------------------------------------------------------------
def figures(ds: xr.Dataset, config) -> dict:
    """Fig. 3 analogue: loss and gates over training, time to threshold per block, and the
    per-unit gates of subtask composition."""
    k_s = int(ds.attrs["composition_start"])
    bt = float(ds.attrs["block_time"])
    t = ds.time.values
    ncols = 4 if "sub_gates_block_end_sim" in ds else 3
    fig, axes = plotting.figure(ncols, 1, width=4.0, height=3.0)
    mcol = {"flexible": "C0", "forgetful": "C3"}
    ax = axes[0, 0]
    for model in MODELS:
        loss_panel(ax, t, ds.loss_sim.sel(model=model).values, color=mcol[model], label=model)
    ax.axvspan(k_s * bt, t[-1], color="0.92", lw=0, zorder=0)
    ax.set(yscale="log", ylim=(1e-4, 1), xlabel="time", ylabel="loss (seed mean, range)",
           xlim=(max(0, (k_s - 4) * bt), t[-1]), title="loss (shaded: composed tasks)")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[0, 1]
    pcol = plotting.colors(ds.sizes["path"])
    sel = ds.sel(model="flexible").isel(seed=0)
    for p in ds.path.values:
        ax.plot(t, sel.gates_sim.isel(path=p), color=pcol[p], lw=0.9, label=f"gate {p + 1}")
        ax.plot(t, sel.gates_theory.isel(path=p), color=pcol[p], lw=0.6, ls="--")
    ax.axvline(k_s * bt, color="k", lw=0.8, ls=":")
    ax.set(xlim=(max(0, (k_s - 4) * bt), t[-1]), xlabel="time", ylabel="gate",
           title="flexible gates (seed 0; dashed: theory)")
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[0, 2]
    blocks = ds.block.values + 1
    theta = float(ds.theta.values[-1])
    for model in MODELS:
        plotting.sim_band(ax, blocks, ds.time_to_threshold_sim.sel(model=model, theta=theta)
                          .values, color=mcol[model])
        plotting.theory_line(ax, blocks, ds.time_to_threshold_theory.sel(model=model, theta=theta)
                             .mean("seed"), color=mcol[model])
    ax.axvline(k_s + 0.5, color="k", lw=0.8, ls=":")
    ax.set(yscale="log", xlabel="block", ylabel=f"time to loss < {theta:g}",
           title="composed blocks right of the line")
    plotting.legend_theory_sim(ax, [(m, mcol[m]) for m in MODELS], fontsize=7,
                               loc="upper right")
    if ncols == 4:
        ax = axes[0, 3]
        g = ds.sub_gates_block_end_sim.sel(model="flexible").isel(seed=0)
        names = list(ds.task.values)
        shown = [k_s - 3, k_s - 2, k_s - 1, k_s]
        img = np.concatenate([g.sel(block=k).values for k in shown], axis=0)
        ax.imshow(img, aspect="auto", cmap="viridis")
        ax.set_yticks([i * ds.sizes["path"] + 1 for i in range(len(shown))],
                      [names[k] for k in shown])
        ax.set(xlabel="output unit", title="subtask: per-unit gates at block ends")
        ax.grid(False)
    return {"task_composition": fig}


STUDY = Study(
    name="task_composition",
    claim="Gates learned on base tasks recombine to solve composed tasks (mixtures, interleaved "
          "subtasks) within a gate-switching time, without re-learning the weights.",
    paper="Sandbrink, Bauer, Proca, Saxe, Summerfield & Hummos, Flexible task abstractions "
          "emerge in linear networks with fast and bounded units, NeurIPS 2024 (Fig. 3, A12)",
    config=TaskCompositionConfig,
    presets={
        "quick": Preset(seeds=3, values=dict(sampler="wishart"),
                        doc="31 blocks (23 base), flexible and forgetful; subtask composition"),
        "paper": Preset(seeds=10, values=dict(record_every=1),
                        doc="Fig. 3: 10 seeds, explicit input batches, every step recorded"),
    },
    run=run,
    figures=figures,
    checks=checks,
)
