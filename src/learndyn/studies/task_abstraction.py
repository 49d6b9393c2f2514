"""Study ``task_abstraction``: flexible vs forgetful gated networks (Sandbrink et al. Fig. 2).

A linear network of P weight paths, each scaled by a gate, learns a block curriculum that
alternates between two orthogonal teachers (A, B, A, B, ...). With gates that are fast
(tau_c << tau_w), non-negative and norm-bounded (the ``flexible`` model) the weights become one
module per task and the gates one-hot task indicators, and the time to re-learn a task after a
switch shrinks to the gate-switching time tau_c/(2S) ln(S/theta). With equal timescales and no
regulariser (``forgetful``) the weights re-learn every block and switching never speeds up.

Simulation: SGD with a fresh batch every step, seeds vmapped, both models and the switching-law
runs (flexible settings at several tau_c) in one compiled program. Theory beside it: the exact
reduced map of the population dynamics started from each seed's own initial weights (loss,
gates, per-block time to threshold), the conservation law and the within-block relation between
the weights' norm and the gates, and the gate-switching law.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study
from ..task_abstraction import data, observables, theory
from ..task_abstraction.common import (
    RunSpec,
    gated_summary,
    loss_panel,
    record_schedule,
    reduced_theory,
    simulate_specs,
)

__all__ = ["STUDY", "TaskAbstractionConfig", "checks", "figures", "run"]


@dataclass(frozen=True)
class TaskAbstractionConfig(Config):
    n_tasks: int = param(2, "number of teachers M (curriculum A, B, A, B, ...)", ge=2)
    d_in: int = param(20, "input dimension", gt=0)
    d_out: int = param(10, "output dimension (M d_out <= d_in)", gt=0)
    n_paths: int = param(2, "number of weight paths P (>= M)", gt=0)
    teacher_seed: int = param(0, "seed of the teachers, shared by all simulation seeds", ge=0)
    block_time: float = param(1.0, "block length tau_B (time units)", gt=0)
    n_blocks: int = param(22, "number of blocks run", ge=2)
    dt: float = param(1e-3, "Euler step (time units); learning rates are dt/tau", gt=0)
    gradient: Literal["sgd", "population"] = param(
        "sgd", "fresh minibatches or the exact expected loss")
    batch_size: int = param(200, "minibatch size B", gt=0)
    sampler: Literal["inputs", "wishart"] = param(
        "inputs", "sgd: draw the B inputs, or only their second moment X^T X/B (same law)")
    init_scale: float = param(0.01, "weight init std sigma0 (entries N(0, sigma0^2/d_in))", gt=0)
    gate_init: float = param(0.5, "initial value of every gate")
    tau_w: float = param(1.3, "flexible: weight timescale tau_w", gt=0)
    tau_c: float = param(0.03, "flexible: gate timescale tau_c", gt=0)
    lam_nonneg: float = param(0.0909, "flexible: non-negativity hinge coefficient", ge=0)
    lam_l1: float = param(0.909, "flexible: L1-manifold coefficient", ge=0)
    lam_l2: float = param(0.0, "flexible: L2-manifold coefficient", ge=0)
    forgetful_tau_w: float = param(1.3, "forgetful: weight timescale (regulariser off)", gt=0)
    forgetful_tau_c: float = param(1.3, "forgetful: gate timescale (= tau_w in Fig. 2)", gt=0)
    theta: float = param(0.1, "loss threshold for the time to threshold", gt=0)
    law_tau_c: tuple[float, ...] = param(
        (0.015, 0.03, 0.06), "switching law: flexible runs at these tau_c (empty: none)", gt=0)
    law_init: Literal["modules", "random"] = param(
        "modules", "switching-law runs start with modules in place, or like the flexible run")
    late_blocks: int = param(4, "blocks at the end averaged for late-block times", ge=1)
    record_every: int = param(5, "record every this many steps (and at every block end)", ge=1)
    dtype: Literal["float32", "float64"] = param("float32", "simulation precision")

    def validate(self) -> None:
        if self.n_paths < self.n_tasks:
            raise ConfigError(f"config field 'n_paths': needs at least n_tasks = {self.n_tasks}")
        if self.n_tasks * self.d_out > self.d_in:
            raise ConfigError("config fields 'n_tasks', 'd_out', 'd_in': orthogonal teachers "
                              f"need n_tasks * d_out <= d_in, got {self.n_tasks * self.d_out} > "
                              f"{self.d_in}")
        data.steps_per_block(self.block_time, self.dt)
        if self.gradient == "sgd" and self.sampler == "wishart" and self.batch_size <= self.d_in:
            raise ConfigError("config field 'sampler': 'wishart' needs batch_size > d_in")
        if self.late_blocks >= self.n_blocks:
            raise ConfigError("config field 'late_blocks': must be below n_blocks")

    @property
    def n_block(self) -> int:
        return data.steps_per_block(self.block_time, self.dt)


MODELS = ("flexible", "forgetful")


def _specs(config: TaskAbstractionConfig) -> tuple[list[RunSpec], list[bool], list[int]]:
    """Specs (flexible, forgetful, then the switching-law runs), whether each starts with the
    modules in place, and the spec index of every ``law_tau_c`` value."""
    flex = RunSpec(config.tau_w, config.tau_c, config.lam_nonneg, config.lam_l1, config.lam_l2,
                   config.n_block, config.dt)
    forget = RunSpec(config.forgetful_tau_w, config.forgetful_tau_c, 0.0, 0.0, 0.0,
                     config.n_block, config.dt)
    specs, modules, index = [flex, forget], [False, False], []
    for tc in config.law_tau_c:
        if config.law_init == "random" and np.isclose(tc, config.tau_c):
            index.append(0)
            continue
        index.append(len(specs))
        specs.append(RunSpec(config.tau_w, tc, config.lam_nonneg, config.lam_l1, config.lam_l2,
                             config.n_block, config.dt))
        modules.append(config.law_init == "modules")
    return specs, modules, index


def run(config: TaskAbstractionConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Simulate both models (and the switching-law runs) and evaluate the theory beside them."""
    tasks = data.make_tasks(config.n_tasks, config.d_in, config.d_out, seed=config.teacher_seed)
    plan = data.block_plan("A_B", config.n_blocks, config.n_tasks)
    n_block, S = config.n_block, tasks.overlap
    num_steps = n_block * config.n_blocks
    steps = record_schedule(num_steps, config.record_every, n_block)
    specs, modules, law_index = _specs(config)
    values, ttt = simulate_specs(
        tasks, plan, specs, arch="gated", n_paths=config.n_paths, gradient=config.gradient,
        batch_size=config.batch_size, sampler=config.sampler, gate_norm="global",
        dtype=config.dtype, thetas=(config.theta,), init_scale=config.init_scale,
        gate_init=config.gate_init, seeds=seeds, record_at=steps, progress=progress,
        label="flexible, forgetful" + (", switching-law runs" if law_index else ""),
        modules=modules)
    summ = gated_summary(values, tasks)
    ttt_sim, reached = observables.time_to_threshold(ttt[..., 0], config.block_time)
    th = reduced_theory(tasks, plan, specs[:2], values, num_steps, steps, config.theta)
    order = summ["order"][:2]
    gates_th = np.stack([observables.relabel(th["c"][i], order[i], axis=2) for i in range(2)])
    ttt_th, reached_th = observables.time_to_threshold(th["ttt"], config.block_time)

    ends = observables.block_end_index(steps, n_block, config.n_blocks)
    main = slice(0, 2)
    norm_sq = np.sum(summ["weight_norm"][main] ** 2, axis=-1)
    gates = summ["gates"][main]
    q = (np.array([s.tau_w for s in specs[:2]])[:, None, None, None] * summ["weight_norm"][main]**2
         - np.array([s.tau_c for s in specs[:2]])[:, None, None, None] * gates**2)
    work = q - summ["conserved"][main]
    norm_th = _within_block(norm_sq, gates, work, steps, n_block, config.n_blocks, specs[:2])
    spec_all, matched, unmatched = zip(*[
        observables.specialisation(values["alignment"][i], summ["order"][i][:, :config.n_tasks])
        for i in range(2)])

    times = steps * config.dt
    dims = ("model", "seed", "time")
    ds = xr.Dataset(
        {
            "loss_sim": (dims, values["loss"][main]),
            "loss_theory": (dims, th["loss"]),
            "gates_sim": (dims + ("path",), gates),
            "gates_theory": (dims + ("path",), gates_th),
            "alignment_sim": (dims + ("teacher", "path"), summ["alignment"][main]),
            "concat_alignment_sim": (dims, summ["concat"][main]),
            "concat_is_permutation_sim": (dims, summ["concat_distinct"][main].astype(np.int8)),
            "w_sim": (dims + ("path", "teacher"), summ["w"][main]),
            "weight_norm_sim": (dims + ("path",), summ["weight_norm"][main]),
            "conserved_sim": (dims + ("path",), summ["conserved"][main]),
            "norm_sq_sim": (dims, norm_sq),
            "norm_sq_theory": (dims, norm_th),
            "time_to_threshold_sim": (("model", "seed", "block"), ttt_sim[main]),
            "reached_sim": (("model", "seed", "block"), reached[main].astype(np.int8)),
            "time_to_threshold_theory": (("model", "seed", "block"), ttt_th),
            "reached_theory": (("model", "seed", "block"), reached_th.astype(np.int8)),
            "switch_time_law": (("model",), theory.switch_time(
                np.array([s.tau_c for s in specs[:2]]), S, config.theta)),
            "gates_block_end_sim": (("model", "seed", "block", "path"), gates[:, :, ends]),
            "specialisation_sim": (("model", "seed"), np.stack(spec_all)),
            "specialisation_matched_sim": (("model", "seed"), np.stack(matched)),
            "specialisation_unmatched_sim": (("model", "seed"), np.stack(unmatched)),
        },
        coords={
            "model": list(MODELS),
            "seed": list(seeds),
            "time": times,
            "step": ("time", steps),
            "time_block": ("time", np.minimum(steps // n_block, config.n_blocks - 1)),
            "block": np.arange(config.n_blocks),
            "task": ("block", [tasks.names[i] for i in plan]),
            "path": np.arange(config.n_paths),
            "teacher": list(tasks.names[: config.n_tasks]),
            "tau_w": ("model", [s.tau_w for s in specs[:2]]),
            "tau_c": ("model", [s.tau_c for s in specs[:2]]),
        },
        attrs={"overlap": S, "theta": config.theta, "block_time": config.block_time},
    )
    ds["time"].attrs["units"] = "time units (t = step * dt)"
    law = list(config.law_tau_c)
    if law:
        index = law_index
        final = summ["concat"][index][:, :, -1]
        ds["time_to_threshold_law_sim"] = (("law_tau_c", "seed", "block"), ttt_sim[index])
        ds["reached_law_sim"] = (("law_tau_c", "seed", "block"), reached[index].astype(np.int8))
        ds["concat_alignment_law_final_sim"] = (("law_tau_c", "seed"), final)
        ds["switch_time_law_theory"] = (("law_tau_c",), theory.switch_time(np.array(law), S,
                                                                           config.theta))
        ds = ds.assign_coords(law_tau_c=law)
    return ds


def _within_block(norm_sq, gates, work, steps, n_block, n_blocks, specs) -> np.ndarray:
    """sum_p ||W^p||^2 from the gates by the conservation law, restarted at every block start
    from the simulated value (the within-block relation)."""
    out = np.empty_like(norm_sq)
    block = np.minimum(steps // n_block, n_blocks - 1)
    for k in np.unique(block):
        idx = np.flatnonzero(block == k)
        i0 = idx[0]
        for m, spec in enumerate(specs):
            out[m][:, idx] = theory.within_block_norm(
                norm_sq[m][:, i0, None], gates[m][:, i0, None], gates[m][:, idx],
                work[m][:, i0, None], work[m][:, idx], spec.tau_w, spec.tau_c)
    return out


# ---- checks -------------------------------------------------------------------------------
def _late(x: xr.DataArray, n: int) -> xr.DataArray:
    return x.isel(block=slice(-n, None))


def checks(ds: xr.Dataset, config) -> list[Check]:
    """The paper's claims with their tolerances (see docs/task_abstraction.md for the why)."""
    S = float(ds.attrs["overlap"])
    late_n = TaskAbstractionConfig.from_dataset(ds).late_blocks
    flex, forget = ds.sel(model="flexible"), ds.sel(model="forgetful")
    out: list[Check] = []

    first = float(ds.loss_sim.isel(time=0).mean("seed").max())
    out.append(Check.at_most(
        'initial_loss_mean_first_loss', "initial loss: |mean first loss - S/2|",
        float(np.abs(ds.loss_sim.isel(time=0).mean("seed") - S / 2).max()), 0.02,
        f"with gates 0.5 and tiny weights the loss starts at S/2 = {S / 2:g} (got {first:.4f})"))

    t_flex = flex.time_to_threshold_sim
    t_forget = forget.time_to_threshold_sim
    first_block = float(t_flex.isel(block=1).mean())
    late_flex = float(_late(t_flex, late_n).mean())
    late_forget = float(_late(t_forget, late_n).mean())
    out.append(Check.at_most(
        'flexible_late_first_switch_time',
        "flexible: late / first-switch time to threshold", late_flex / first_block, 0.2,
        "flexible: switching speeds up with practice (last blocks vs the first switch)"))
    out.append(Check.at_most(
        'late_time_threshold_flexible_forgetful',
        "late time to threshold: flexible / forgetful", late_flex / late_forget, 0.25,
        "flexible switches much faster than forgetful"))
    first_fit = min(4, forget.sizes["block"] - 2)  # blocks 5..end (0-based 4..)
    blocks = forget.block.values[first_fit:]
    slope = np.polyfit(blocks, t_forget.isel(block=slice(first_fit, None)).mean("seed").values,
                       1)[0]
    out.append(Check.at_least(
        f"forgetful_slope_time_threshold_{first_fit + 1}_end_block",
        f"forgetful: slope of time to threshold over blocks {first_fit + 1}..end (per block)",
        slope, -0.005,
        "forgetful never learns to switch faster"))

    ends = flex.gates_block_end_sim.isel(block=slice(-10, None))
    active_idx = xr.DataArray([int(np.flatnonzero(ds.teacher.values == t)[0]) for t in
                               ends.task.values], dims="block")
    active = ends.isel(path=active_idx)
    others = ends.where(ends.path != active_idx)
    out.append(Check.at_least('flexible_min_active_gate_block',
                              "flexible: min active gate at block ends (last 10 blocks)",
                              float(active.min()), 0.85, "gates become one-hot task indicators"))
    out.append(Check.at_most('flexible_max_active_gate_block',
                             "flexible: max active gate at block ends (last 10 blocks)",
                             float(active.max()), 1.2, "gates stay bounded"))
    out.append(Check.at_most('flexible_max_inactive_gate_block',
                             "flexible: max inactive gate at block ends (last 10 blocks)",
                             float(others.max()), 0.1, "the other task's gate is switched off"))
    out.append(Check.at_least('flexible_min_inactive_gate_block',
                              "flexible: min inactive gate at block ends (last 10 blocks)",
                              float(others.min()), -0.05, "gates stay (nearly) non-negative"))
    f_ends = forget.gates_block_end_sim.isel(block=slice(-10, None))
    out.append(Check.at_most(
        'forgetful_max_c1_c2_block', "forgetful: max |c1 - c2| at block ends (last 10 blocks)",
        float(np.abs(f_ends.isel(path=0) - f_ends.isel(path=1)).max()), 0.05,
        "forgetful gates never differentiate"))
    out.append(Check.at_least('flexible_min_final_concat_alignment',
                              "flexible: min final concat alignment",
                              float(flex.concat_alignment_sim.isel(time=-1).min()), 0.95,
                              "weights become one module per task"))
    out.append(Check.at_most('forgetful_max_final_concat_alignment',
                             "forgetful: max final concat alignment",
                             float(forget.concat_alignment_sim.isel(time=-1).max()), 0.8,
                             "forgetful weights track the current task only"))

    if "law_tau_c" in ds.coords:
        ratios, means = [], []
        for tc in ds.law_tau_c.values:
            sel = ds.sel(law_tau_c=tc)
            ok = sel.concat_alignment_law_final_sim >= 0.95
            t = _late(sel.time_to_threshold_law_sim, late_n).mean("block").where(ok)
            mean = float(t.mean()) if bool(ok.any()) else float("nan")
            means.append(mean)
            ratios.append(mean / float(sel.switch_time_law_theory))
        worst = max(ratios, key=lambda r: abs(np.log(r)) if np.isfinite(r) else np.inf)
        out.append(Check.at_least(
            'switching_law_min_late_time',
            "switching law: min late time / t_theta over tau_c", float(min(ratios)), 0.6,
            "once modules exist the switch takes t_theta = tau_c/(2S) ln(S/theta)"))
        out.append(Check.at_most(
            'switching_law_max_late_time',
            "switching law: max late time / t_theta over tau_c", float(max(ratios)), 1.3,
            f"... (worst ratio {worst:.3f}; moving weights delay the switch a little)"))
        law = ds.law_tau_c.values
        span = means[int(np.argmax(law))] / means[int(np.argmin(law))]
        expect = law.max() / law.min()
        out.append(Check.at_least('switching_law_ratio_lower',
                                  "switching law: late-time ratio slowest/fastest gates",
                                  span, 0.75 * expect,
                                  f"switch time proportional to tau_c (theory: {expect:g})"))
        out.append(Check.at_most('switching_law_ratio_upper',
                                 "switching law: late-time ratio slowest/fastest gates (upper)",
                                 span, 1.25 * expect, "... and not faster than proportional"))

    # conservation: forgetful has lam = 0, Q_p conserved; flexible Q_p - work conserved
    for name, sel in (("forgetful", forget), ("flexible", flex)):
        q = sel.conserved_sim
        scale = (float(sel.tau_w) * sel.weight_norm_sim**2).max("time")
        drift = float(((q - q.isel(time=0)).pipe(np.abs).max("time") / scale).max())
        out.append(Check.at_most(
            f"{name}_drift_tau_w_w",
            f"{name}: drift of tau_w||W^p||^2 - tau_c c_p^2 - int 2c dR/dc, / max tau_w||W^p||^2",
            drift, 0.02, "conservation law (the Euler steps add O(dt))"))

    dev, dip, law_dip = _within_block_stats(flex, late_n)
    out.append(Check.at_most(
        'flexible_within_block_relation_max',
        "flexible: within-block relation, max |sum||W||^2 sim - theory| / in-block swing",
        dev, 0.1, "within a block the weights' norm follows the gates: "
                  "d sum||W||^2 = tau_c/tau_w d sum c^2 + 2 int c dR/dc / tau_w"))
    out.append(Check.at_least(
        'weight_dip_lower',
        "flexible: dip of sum||W||^2 in a switch / symmetric law tau_c/(2 tau_w)", dip / law_dip,
        0.75, "fast gates protect the modules: the weights give way only by tau_c/(2 tau_w)"))
    out.append(Check.at_most(
        'weight_dip_upper',
        "flexible: dip of sum||W||^2 in a switch / symmetric law (upper)", dip / law_dip, 1.25,
        "... (the symmetric law is tight for small tau_c/tau_w)"))

    tt = ds.time_to_threshold_theory
    rel = float(np.abs(_late(ds.time_to_threshold_sim, late_n).mean("block")
                       / _late(tt, late_n).mean("block") - 1).max())
    out.append(Check.at_most(
        'late_time_threshold_sim_reduced',
        "late time to threshold: sim vs reduced theory (relative)", rel, 0.25,
        "the population dynamics, started from each seed's weights, predict the switching times"))
    return out


def _within_block_stats(sel: xr.Dataset, late_n: int) -> tuple[float, float, float]:
    """Over the last ``late_n`` blocks: the worst (over seeds, blocks) deviation of the
    simulated sum_p ||W^p||^2 from the within-block relation relative to its in-block swing;
    the mean dip of sum_p ||W^p||^2 below its block-start value; the symmetric-law dip
    tau_c/(2 tau_w) (from wbar^2 = 1 - tau_c/(2 S tau_w)(1 - cbar^2) at cbar = 0)."""
    blocks = sel.time_block.values
    sim, th = sel.norm_sq_sim.values, sel.norm_sq_theory.values
    devs, dips = [], []
    for k in np.unique(blocks)[-late_n:]:
        idx = np.flatnonzero(blocks == k)
        swing = th[:, idx].max(axis=1) - th[:, idx].min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            devs.append(np.abs(sim[:, idx] - th[:, idx]).max(axis=1) / swing)
        dips.append(sim[:, idx[0]] - sim[:, idx].min(axis=1))
    law = float(sel.tau_c) / (2 * float(sel.tau_w))
    return float(np.max(devs)), float(np.mean(dips)), law


# ---- figures ------------------------------------------------------------------------------
def _shade_blocks(ax, ds):
    bt = float(ds.attrs["block_time"])
    for k, task in zip(ds.block.values, ds.task.values):
        if task == ds.teacher.values[0]:
            ax.axvspan(k * bt, (k + 1) * bt, color="0.9", lw=0, zorder=0)


def figures(ds: xr.Dataset, config) -> dict:
    """Fig. 2 analogue (loss, gates, concat alignment per model; time to threshold per block)
    and a mechanism figure (switching law, within-block relation)."""
    S, theta = float(ds.attrs["overlap"]), float(ds.attrs["theta"])
    t = ds.time.values
    fig, axes = plotting.figure(3, 2, width=4.2, height=2.8)
    pcol = plotting.colors(ds.sizes["path"] + 1)
    mcol = {"flexible": "C0", "forgetful": "C3"}
    for row, model in enumerate(MODELS):
        sel = ds.sel(model=model)
        ax = axes[row, 0]
        _shade_blocks(ax, ds)
        loss_panel(ax, t, sel.loss_sim.values, color=mcol[model], label="simulation",
                   theory=sel.loss_theory.mean("seed").values)
        ax.axhline(theta, color="0.5", ls=":", lw=0.8)
        ax.set(yscale="log", ylim=(1e-4, 1), xlabel="time", ylabel="loss (seed mean, range)",
               title=f"{model}: loss")
        ax.legend(fontsize=7, loc="lower left")
        ax = axes[row, 1]
        _shade_blocks(ax, ds)
        for p in ds.path.values:
            ax.plot(t, sel.gates_sim.isel(seed=0, path=p), color=pcol[p], lw=1.0,
                    label=f"gate {p + 1}")
            ax.plot(t, sel.gates_theory.isel(seed=0, path=p), color=pcol[p], lw=0.6, ls="--")
        ax.set(xlabel="time", ylabel="gate c_p", title=f"{model}: gates (seed 0; dashed theory)")
        ax.legend(fontsize=7, loc="center right")
        ax = axes[row, 2]
        _shade_blocks(ax, ds)
        plotting.sim_band(ax, t, sel.concat_alignment_sim.values, color=mcol[model],
                          max_markers=300)
        for ref in (1.0, 1 / np.sqrt(2), 0.5):
            ax.axhline(ref, color="0.5", ls=":", lw=0.8)
        ax.set(ylim=(0, 1.05), xlabel="time", ylabel="concat alignment",
               title=f"{model}: weight-teacher alignment")

    fig2, axes2 = plotting.figure(3, 1, width=4.2, height=3.2)
    ax = axes2[0, 0]
    blocks = ds.block.values + 1
    for model in MODELS:
        sel = ds.sel(model=model)
        plotting.sim_band(ax, blocks, sel.time_to_threshold_sim.values, color=mcol[model])
        plotting.theory_line(ax, blocks, sel.time_to_threshold_theory.mean("seed"),
                             color=mcol[model])
    ax.axhline(float(ds.switch_time_law.sel(model="flexible")), color="k", ls="--", lw=0.8)
    ax.set(yscale="log", xlabel="block", ylabel=f"time to loss < {theta:g}",
           title="switching speeds up (flexible) or not")
    plotting.legend_theory_sim(ax, [(m, mcol[m]) for m in MODELS] + [("t_theta (dashed)", "k")],
                               fontsize=7, loc="upper right")
    ax = axes2[0, 1]
    if "law_tau_c" in ds.coords:
        late_n = TaskAbstractionConfig.from_dataset(ds).late_blocks
        law = ds.law_tau_c.values
        grid = np.linspace(0, law.max() * 1.1, 50)
        plotting.theory_line(ax, grid, theory.switch_time(grid, S, theta), color="k",
                             label="tau_c/(2S) ln(S/theta)")
        late = _late(ds.time_to_threshold_law_sim, late_n).mean("block")
        for i, tc in enumerate(law):
            ax.plot(np.full(ds.sizes["seed"], tc), late.isel(law_tau_c=i), "o", mfc="none",
                    color="C0")
        ax.set(xlabel="gate timescale tau_c", ylabel="late time to threshold",
               title="gate-switching law")
        ax.legend(fontsize=7, loc="upper left")
    ax = axes2[0, 2]
    sel = ds.sel(model="flexible").isel(seed=0)
    bt = float(ds.attrs["block_time"])
    window = (sel.time >= t[-1] - 2 * bt)
    plotting.theory_line(ax, t[window], sel.norm_sq_theory.values[window], color="C0",
                         label="from gates (conservation)")
    ax.plot(t[window], sel.norm_sq_sim.values[window], "o", mfc="none", ms=3, color="C1",
            label="simulation")
    ax.set(xlabel="time", ylabel="sum_p ||W^p||^2", title="within-block relation (seed 0)")
    ax.legend(fontsize=7, loc="lower right")
    return {"task_abstraction": fig, "switching": fig2}


STUDY = Study(
    name="task_abstraction",
    claim="Fast, non-negative, bounded gates turn a gated linear network's weights into task "
          "modules and its gates into one-hot task abstractions; switching then takes "
          "tau_c/(2S) ln(S/theta), while equal timescales without a regulariser re-learn "
          "every block.",
    paper="Sandbrink, Bauer, Proca, Saxe, Summerfield & Hummos, Flexible task abstractions "
          "emerge in linear networks with fast and bounded units, NeurIPS 2024",
    config=TaskAbstractionConfig,
    presets={
        "quick": Preset(seeds=3, values=dict(sampler="wishart"),
                        doc="Fig. 2 settings, 22 blocks of tau_B = 1, B = 200 (Wishart batches)"),
        "paper": Preset(seeds=10, values=dict(record_every=1),
                        doc="Fig. 2: 10 seeds, explicit input batches, every step recorded"),
    },
    run=run,
    figures=figures,
    checks=checks,
    headline=lambda ds, config: float(
        ds.concat_alignment_sim.sel(model="flexible").isel(time=-1).mean()),
    headline_label="flexible: final concat alignment",
)
