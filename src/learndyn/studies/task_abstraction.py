"""Study ``task_abstraction``: flexible vs forgetful gated networks (Sandbrink et al. Fig. 2).

A linear network of P weight paths, each scaled by a gate, learns a block curriculum that
alternates between two orthogonal teachers (A, B, A, B, ...). With gates that are fast
(tau_c << tau_w), non-negative and norm-bounded (the ``flexible`` model) the weights become one
module per task and the gates one-hot task indicators, and the time to re-learn a task after a
switch shrinks to the gate-switching time t_theta = tau_c/(2S) ln(S/theta). With equal
timescales and no regulariser (``forgetful``) the weights re-learn every block.

Simulation: SGD with a fresh batch every step; both models, the switching-law runs (flexible
settings at several tau_c) and all seeds are one vmapped program. Theory beside it: the exact
reduced map of the population dynamics from each seed's own initial weights (loss, gates, time
to threshold per block), the conservation law and its within-block relation between the
weights' norm and the gates, and the switching law.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from ..core.config import ConfigError, param
from ..core.study import Check, Preset, Progress, Study
from ..task_abstraction import data, observables, plots, theory
from ..task_abstraction.simulate import (
    GatedConfig,
    RunSpec,
    compare_with_law,
    record_schedule,
    same_shapes,
    simulate_specs,
)

__all__ = ["STUDY", "TaskAbstractionConfig", "checks", "figures", "run", "run_batch"]

MODELS = ("flexible", "forgetful")


@dataclass(frozen=True)
class TaskAbstractionConfig(GatedConfig):
    """Network and training (:class:`GatedConfig`), the A, B, A, B, ... curriculum and the
    two models' timescales and regulariser."""

    block_time: float = param(1.0, "block length tau_B (time units)", gt=0)
    n_blocks: int = param(22, "number of blocks run", ge=2)
    dt: float = param(1e-3, "Euler step (time units); learning rates are dt/tau", gt=0)
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

    def validate(self) -> None:
        super().validate()
        data.steps_per_block(self.block_time, self.dt)
        if self.late_blocks >= self.n_blocks:
            raise ConfigError("config field 'late_blocks': must be below n_blocks")

    @property
    def n_block(self) -> int:
        """Steps per block, round(tau_B/dt)."""
        return data.steps_per_block(self.block_time, self.dt)

    @property
    def t_theta(self) -> float:
        """The flexible model's gate-switching time tau_c/(2S) ln(S/theta)."""
        return float(theory.switch_time(self.tau_c, self.overlap, self.theta))

    def specs(self) -> tuple[list[RunSpec], list[bool], list[int]]:
        """Runs (flexible, forgetful, then the switching-law runs), whether each starts with
        the modules in place, and the run index of every ``law_tau_c`` value."""
        lam = (self.lam_nonneg, self.lam_l1, self.lam_l2)
        flex = RunSpec(self.tau_w, self.tau_c, *lam, self.n_block, self.dt)
        forget = RunSpec(self.forgetful_tau_w, self.forgetful_tau_c, 0.0, 0.0, 0.0,
                         self.n_block, self.dt)
        specs, modules, index = [flex, forget], [False, False], []
        for tc in self.law_tau_c:
            if self.law_init == "random" and np.isclose(tc, self.tau_c):
                index.append(0)
                continue
            index.append(len(specs))
            specs.append(RunSpec(self.tau_w, tc, *lam, self.n_block, self.dt))
            modules.append(self.law_init == "modules")
        return specs, modules, index


#: fields that only change the runs' timescales and regulariser: a sweep over them is one program
BATCH_FIELDS = ("tau_w", "tau_c", "lam_nonneg", "lam_l1", "lam_l2", "forgetful_tau_w",
                "forgetful_tau_c")


def run(config: TaskAbstractionConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Simulate both models (and the switching-law runs) and evaluate the theory beside them."""
    return run_batch([config], seeds=seeds, progress=progress)[0]


def run_batch(configs, *, seeds, progress: Progress | None = None) -> list[xr.Dataset]:
    """:func:`run` for configs differing only in :data:`BATCH_FIELDS`: one vmapped program."""
    config = configs[0]
    same_shapes(configs, BATCH_FIELDS)
    tasks = config.tasks()
    plan = data.block_plan("A_B", config.n_blocks, config.n_tasks)
    steps = record_schedule(config.n_block * config.n_blocks, config.record_every,
                            config.n_block)
    parts = [c.specs() for c in configs]
    specs = [s for p in parts for s in p[0]]
    values, ttt = simulate_specs(
        config, tasks, plan, specs, thetas=(config.theta,), seeds=seeds, record_at=steps,
        progress=progress, label="flexible, forgetful, switching-law runs",
        modules=[m for p in parts for m in p[1]])
    out, start = [], 0
    for c, (sp, _, law_index) in zip(configs, parts):
        part = slice(start, start + len(sp))
        start += len(sp)
        out.append(compare_with_law(
            tasks, plan, sp, {k: v[part] for k, v in values.items()}, ttt[part], steps,
            dt=c.dt, block_time=c.block_time, theta=c.theta, seeds=list(seeds), models=MODELS,
            law_tau_c=c.law_tau_c, law_index=law_index))
    return out


# ---- checks -------------------------------------------------------------------------------
def checks(ds: xr.Dataset, config: TaskAbstractionConfig) -> list[Check]:
    """The claims of Fig. 2 and of the theory, with their tolerances (docs/task_abstraction.md
    gives each measured value and why its tolerance).

    - initial loss S/2 within 0.02 (gates 0.5, tiny weights; finite-seed scatter ~1e-3);
    - flexible: late / first-switch time to threshold <= 0.2; late flexible / forgetful
      <= 0.25; forgetful: slope over blocks 5..end >= -0.005 per block (no speed-up);
    - flexible gates at the ends of the last 10 blocks: active in [0.85, 1.2], inactive in
      [-0.05, 0.1] (soft constraints overshoot a little); forgetful |c1 - c2| <= 0.05;
    - final concat alignment: flexible >= 0.95, forgetful <= 0.8 (0.71 = task average);
    - switching law (runs with modules in place): late time / t_theta in [0.6, 1.3] and the
      ratio slowest/fastest tau_c within 25% of the theory's ratio (moving weights delay);
    - conservation: drift of Q_p (minus the regulariser's work) / max tau_w ||W^p||^2 <= 0.02
      (exact for the flow; the Euler step adds O(dt));
    - within-block relation: |sum ||W||^2 sim - theory| <= 0.1 of the in-block swing, and the
      dip in a switch within 25% of the symmetric law tau_c/(2 tau_w);
    - late time to threshold within 25% of the reduced theory from each seed's weights.
    """
    S, late_n = config.overlap, config.late_blocks
    flex, forget = ds.sel(model="flexible"), ds.sel(model="forgetful")
    first = ds.loss_sim.isel(time=0).mean("seed")
    out = [Check.at_most(
        "initial_loss", "initial loss: |mean first loss - S/2|",
        float(np.abs(first - S / 2).max()), 0.02,
        f"with gates 0.5 and tiny weights the loss starts at S/2 = {S / 2:g} "
        f"(got {float(first.max()):.4f})")]

    t_flex, t_forget = flex.time_to_threshold_sim, forget.time_to_threshold_sim
    late_flex = float(observables.last_blocks(t_flex, late_n).mean())
    out.append(Check.at_most(
        "flexible_speedup", "flexible: late / first-switch time to threshold",
        late_flex / float(t_flex.isel(block=1).mean()), 0.2,
        "flexible: switching speeds up with practice (last blocks vs the first switch)"))
    out.append(Check.at_most(
        "flexible_vs_forgetful", "late time to threshold: flexible / forgetful",
        late_flex / float(observables.last_blocks(t_forget, late_n).mean()), 0.25,
        "flexible switches much faster than forgetful"))
    first_fit = min(4, forget.sizes["block"] - 2)  # blocks 5..end (0-based 4..)
    slope = np.polyfit(forget.block.values[first_fit:],
                       t_forget.isel(block=slice(first_fit, None)).mean("seed").values, 1)[0]
    out.append(Check.at_least(
        "forgetful_no_speedup",
        f"forgetful: slope of time to threshold over blocks {first_fit + 1}..end (per block)",
        slope, -0.005, "forgetful never learns to switch faster"))

    ends = flex.gates_block_end_sim.isel(block=slice(-10, None))
    active, others = observables.gates_by_role(ends.values, ends.task.values, ds.teacher.values)
    where = "at block ends (last 10 blocks)"
    out += [
        Check.at_least("active_gate_min", f"flexible: min active gate {where}",
                       active.min(), 0.85, "gates become one-hot task indicators"),
        Check.at_most("active_gate_max", f"flexible: max active gate {where}",
                      active.max(), 1.2, "gates stay bounded"),
        Check.at_most("inactive_gate_max", f"flexible: max inactive gate {where}",
                      others.max(), 0.1, "the other task's gate is switched off"),
        Check.at_least("inactive_gate_min", f"flexible: min inactive gate {where}",
                       others.min(), -0.05, "gates stay (nearly) non-negative"),
    ]
    f_ends = forget.gates_block_end_sim.isel(block=slice(-10, None))
    out += [
        Check.at_most("forgetful_gates_equal", f"forgetful: max |c1 - c2| {where}",
                      float(np.abs(f_ends.isel(path=0) - f_ends.isel(path=1)).max()), 0.05,
                      "forgetful gates never differentiate"),
        Check.at_least("flexible_modules", "flexible: min final concat alignment",
                       float(flex.concat_alignment_sim.isel(time=-1).min()), 0.95,
                       "weights become one module per task"),
        Check.at_most("forgetful_no_modules", "forgetful: max final concat alignment",
                      float(forget.concat_alignment_sim.isel(time=-1).max()), 0.8,
                      "forgetful weights track the current task only"),
    ]
    if "law_tau_c" in ds.coords:
        out += _law_checks(ds, late_n)

    for name, sel, tau_w in (("forgetful", forget, config.forgetful_tau_w),
                             ("flexible", flex, config.tau_w)):
        out.append(Check.at_most(
            f"conservation_{name}",
            f"{name}: drift of tau_w||W^p||^2 - tau_c c_p^2 - int 2c dR/dc, / max tau_w||W^p||^2",
            observables.conservation_drift(sel.conserved_sim.values, sel.weight_norm_sim.values,
                                           tau_w), 0.02,
            "conservation law (the Euler steps add O(dt))"))

    dev, dip = observables.within_block_stats(flex.time_block.values, flex.norm_sq_sim.values,
                                              flex.norm_sq_theory.values, late_n)
    law_dip = config.tau_c / (2 * config.tau_w)
    out += [
        Check.at_most(
            "within_block_relation",
            "flexible: within-block relation, max |sum||W||^2 sim - theory| / in-block swing",
            dev, 0.1, "within a block the weights' norm follows the gates: "
                      "d sum||W||^2 = tau_c/tau_w d sum c^2 + 2 int c dR/dc / tau_w"),
        Check.at_least(
            "weight_dip_min",
            "flexible: dip of sum||W||^2 in a switch / symmetric law tau_c/(2 tau_w)",
            dip / law_dip, 0.75,
            "fast gates protect the modules: the weights give way only by tau_c/(2 tau_w)"),
        Check.at_most(
            "weight_dip_max", "flexible: dip of sum||W||^2 in a switch / symmetric law (upper)",
            dip / law_dip, 1.25, "... (the symmetric law is tight for small tau_c/tau_w)"),
    ]
    late_sim, late_theory = (observables.last_blocks(ds[f"time_to_threshold_{src}"], late_n)
                             for src in ("sim", "theory"))
    rel = float(np.abs(late_sim.mean("block") / late_theory.mean("block") - 1).max())
    out.append(Check.at_most(
        "switch_time_theory", "late time to threshold: sim vs reduced theory (relative)", rel,
        0.25, "the population dynamics, started from each seed's weights, predict the "
              "switching times"))
    return out


def _law_checks(ds: xr.Dataset, late_n: int) -> list[Check]:
    """Switching law: late times of specialised runs (concat >= 0.95) over t_theta."""
    law = ds.law_tau_c.values
    means = observables.law_times(ds.time_to_threshold_law_sim.values,
                                  ds.concat_alignment_law_final_sim.values, late_n)
    ratios = means / ds.switch_time_law_theory.values
    worst = max(ratios, key=lambda r: abs(np.log(r)) if np.isfinite(r) else np.inf)
    span, expect = means[np.argmax(law)] / means[np.argmin(law)], law.max() / law.min()
    return [
        Check.at_least("switch_law_min", "switching law: min late time / t_theta over tau_c",
                       min(ratios), 0.6,
                       "once modules exist the switch takes t_theta = tau_c/(2S) ln(S/theta)"),
        Check.at_most("switch_law_max", "switching law: max late time / t_theta over tau_c",
                      max(ratios), 1.3,
                      f"... (worst ratio {worst:.3f}; moving weights delay the switch a little)"),
        Check.at_least("switch_law_ratio_min",
                       "switching law: late-time ratio slowest/fastest gates", span,
                       0.75 * expect, f"switch time proportional to tau_c (theory: {expect:g})"),
        Check.at_most("switch_law_ratio_max",
                      "switching law: late-time ratio slowest/fastest gates (upper)", span,
                      1.25 * expect, "... and not faster than proportional"),
    ]


def figures(ds: xr.Dataset, config: TaskAbstractionConfig) -> dict:
    """Fig. 2 analogue (loss, gates, concat alignment per model) and the switching mechanism
    (time to threshold per block, switching law, within-block relation)."""
    return plots.fig2(ds, config.block_time, config.theta, config.overlap, config.late_blocks)


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
                        doc="Fig. 2: 10 seeds, explicit input batches, every step recorded",
                        cost="under a minute on 2 CPU cores (39 s CPU), a 75 MB result"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_batch,
    headline=lambda ds, config: float(
        ds.concat_alignment_sim.sel(model="flexible").isel(time=-1).mean()),
    headline_label="flexible: final concat alignment",
)
