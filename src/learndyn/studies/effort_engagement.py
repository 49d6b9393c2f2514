"""Study ``effort_engagement``: how much to engage with each of several tasks, and when.

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919. One network learns M binary tasks at once (task
i: its own pixel block of the synthetic prototype classes and its own output). Engagement
psi_i(t) scales task i's error, dW1/dt = W2^T D E, dW2/dt = D E W1^T, D = diag(psi of each
output's task); "active" engagement costs beta sum psi^2 (psi in [0, 1]), "attention" costs
beta sum (psi - 1)^2 (psi in [0, 2]). Both variants are optimised in one vmapped projected
ascent. Expected (the paper's headline, on our synthetic data): effort goes first to the easier
task (classes further apart) and is sustained longer on the harder one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study, run_each
from ..learning_effort import ascent, data, model, observables, problems, report, theory
from ..learning_effort.configs import batch_fields

__all__ = ["STUDY", "EngagementConfig", "checks", "figures", "run"]

VARIANTS = ("active", "attention")
REFERENCE = {"active": 0.0, "attention": 1.0}  # psi at which the cost vanishes


@dataclass(frozen=True)
class EngagementConfig(Config):
    pairs: tuple[int, ...] = param((0, 1, 1, 7), "tasks as class pairs a, b, a, b, ...",
                                   ge=0, le=9)
    hidden: int = param(10, "hidden units H", ge=1)
    lr: float = param(0.01, "learning rate alpha = Euler step; t = step x alpha", gt=0)
    lam: float = param(0.0, "weight decay lambda", ge=0)
    n_steps: int = param(2000, "horizon n (steps)", ge=10)
    init_scale: float = param(0.01, "std of the initial weights", gt=0)
    init_seed: int = param(0, "seed of the initial weights", ge=0)
    data_seed: int = param(0, "seed of the class means", ge=0)
    beta: float = param(0.1, "cost of control beta", gt=0)
    gamma: float = param(0.99, "discount per unit time", gt=0, le=1)
    step: float = param(20.0, "projected-ascent step size", gt=0)
    iterations: int = param(100, "ascent iterations", ge=1)
    batch: int = param(256, "SGD batch size (every sample shows every task)", ge=1)
    num_records: int = param(101, "SGD records", ge=3)
    dtype: str = param("float32", "SGD precision", choices=("float32", "float64"))

    def validate(self) -> None:
        if len(self.pairs) < 4 or len(self.pairs) % 2:
            raise ConfigError("config field 'pairs': an even number of classes, at least two "
                              f"tasks, got {self.pairs}")

    @property
    def tasks(self) -> list[tuple[int, int]]:
        return list(zip(self.pairs[::2], self.pairs[1::2]))


def task(config: EngagementConfig) -> data.Task:
    return data.prototype_tasks(config.tasks, data_seed=config.data_seed)


def problem(config: EngagementConfig, variant: str) -> theory.Problem:
    t = task(config)
    w1, w2 = model.init_weights(t.n_in, config.hidden, t.n_out, scale=config.init_scale,
                                seed=config.init_seed)
    return problems.engagement_problem(t, w1, w2, np.eye(len(config.tasks)), variant=variant,
                                       lam=config.lam, beta=config.beta, gamma=config.gamma,
                                       dt=config.lr, n_steps=config.n_steps)


def run(config: EngagementConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Optimise both variants (one vmapped ascent), then theory and SGD for each."""
    ps = [problem(config, v) for v in VARIANTS]
    rb = ascent.optimise_batch(ascent.stack_problems(ps), iterations=config.iterations,
                               step=config.step, progress=progress)
    results = [ascent.Result(rb.control[i], rb.values[i], float(rb.value[i]),
                             float(rb.kkt[i]), float(rb.kkt_init[i])) for i in range(len(ps))]
    ds = report.compare_variants(ps, results, [task(config)], VARIANTS, seeds=seeds,
                                 batch=config.batch, num_records=config.num_records,
                                 dtype=config.dtype, progress=progress)
    ds["control_theory"] = (("variant", "control_time", "task"), rb.control)
    names = [f"{a} vs {b}" for a, b in config.tasks]
    ds = ds.assign_coords(control_time=ps[0].times, task=names,
                          separation=("task", [data.pair_distance(a, b, data_seed=config.data_seed)
                                               for a, b in config.tasks]))
    return report.describe(ds, {
        "control_theory": ("optimal engagement psi*(t) per task", ""),
        "control_time": ("time t", "time units"), "task": ("binary task (classes)", ""),
        "separation": ("distance of the two class means (larger: easier)", "")})


def effort(ds: xr.Dataset, variant: str) -> np.ndarray:
    """Effort per task and time, Phi = (psi - r)^2 (the cost / beta)."""
    return (ds.control_theory.sel(variant=variant).values - REFERENCE[variant]) ** 2


def checks(ds: xr.Dataset, config: EngagementConfig) -> list[Check]:
    """The paper's claims with their tolerances.

    - per variant: value gain > 1e-4 relative, psi within its bounds; KKT residual <= 5% of its
      start (step 20 reaches ~3% in 100 iterations in the quick preset and 1e-5 in 800 in the
      paper preset; the published step 1.0 moves psi by at most ~0.2 in 100 iterations and
      after 800 iterations left the residual at 52% / 26%, so both presets use step 20);
    - easy first (both variants; expected from the paper's headline on our synthetic data): the
      temporal centre of mass of the effort Phi_i = (psi_i - r)^2 (r = 0 active, 1 attention)
      is earlier for the easiest task (largest class-mean distance) than for the hardest;
    - hard sustained (active): over the second half of the horizon the hardest task's mean
      effort exceeds the easiest task's;
    - SGD (10 seeds, batch 256) within 10% or 3 standard errors of the average dynamics.
    """
    out: list[Check] = []
    sep = ds.separation.values
    easy, hard = int(np.argmax(sep)), int(np.argmin(sep))
    tc = ds.control_time.values
    for v in VARIANTS:
        sel = ds.sel(variant=v)
        lo, hi = (0.0, 1.0) if v == "active" else (0.0, 2.0)
        out += report.control_checks(sel, ["control_theory"], lo, hi, kkt=True, suffix=v)
        com = observables.center_of_mass(tc, effort(ds, v))
        out.append(Check.at_least(f"easy_first_{v}", f"effort centre of mass: hard - easy ({v})",
                                  com[hard] - com[easy], 0.0,
                                  "engagement goes to the easier task first"))
        out += report.sim_checks(sel, 0.10, suffix=v, dtype=config.dtype)
    late = effort(ds, "active")[len(tc) // 2:].mean(axis=0)
    out.append(Check.at_least("hard_sustained", "late mean effort: hard / easy task (active)",
                              late[hard] / late[easy], 1.0,
                              "engagement is sustained on the harder task"))
    return out


def figures(ds: xr.Dataset, config: EngagementConfig) -> dict:
    tc = ds.control_time.values
    colors = plotting.colors(ds.sizes["task"])
    fig_c, axes = plotting.figure(2, width=3.5)
    for ax, v in zip(axes[0], VARIANTS):
        for name, color in zip(ds.task.values, colors):
            sep = float(ds.separation.sel(task=name))
            plotting.theory_line(ax, tc, ds.control_theory.sel(variant=v, task=name),
                                 color=color, label=f"{name} (distance {sep:.2f})")
        ax.axhline(REFERENCE[v], color="0.6", ls=":", lw=1)
        ax.set(xlabel="time $t$", ylabel=r"engagement $\psi^*_i(t)$", title=f"{v} engagement",
               xlim=(0, tc[-1] / 2))
        ax.legend(fontsize=8)
    fig_l, axes = plotting.figure(2, 2, width=3.5)
    for row, v in zip(axes, VARIANTS):
        report.loss_panels(row, ds.sel(variant=v), title=f"loss, {v} engagement")
    fig_v, axes = plotting.figure(2, width=3.5)
    for ax, v in zip(axes[0], VARIANTS):
        report.value_panel(ax, ds.sel(variant=v), title=f"value, {v} engagement")
    return {
        "control": plotting.captioned(fig_c, "Optimal engagement per task (first half of the "
                                      "horizon): the easier task (classes further apart) is "
                                      "engaged early, the harder one longer. Synthetic "
                                      "prototype classes, not MNIST. Theory only."),
        "loss": plotting.captioned(fig_l, "Joint loss with and without the optimal engagement, "
                                   "average dynamics (lines) and SGD under the same engagement "
                                   "(markers, 10 seeds; bands 1 s.d.)."),
        "value": plotting.captioned(fig_v, "Value V over projected-ascent iterations, both "
                                    "variants."),
    }


BATCH_FIELDS = batch_fields(EngagementConfig)  #: a sweep over these compiles once

STUDY = Study(
    name="effort_engagement",
    claim="Optimal task engagement, found through the unrolled learning dynamics, goes first to "
          "the easier task and is sustained on the harder one (active and attention "
          "variants); SGD under it follows the theory.",
    paper="Carrasco-Davis, Masís & Saxe, Meta-Learning Strategies through Value Maximization in "
          "Neural Networks, arXiv:2310.19919 (2023)",
    config=EngagementConfig,
    presets={
        "quick": Preset(seeds=10, doc="tasks 0v1 (easy) and 1v7 (hard), H = 10, alpha = 0.01, "
                                      "n = 2000 (T = 20), 100 iterations of step 20"),
        "paper": Preset(seeds=10, values=dict(hidden=20, lr=5e-3, n_steps=10000, step=20.0,
                                              iterations=800),
                        doc="two tasks, H = 20, alpha = 5e-3, n = 10000, 800 iterations of "
                            "step 20 (the published step 1.0 leaves the ascent far from "
                            "converged here); three tasks: pairs=0,1,7,1,8,9 n_steps=13000",
                        cost="about 8 min on 2 idle CPU cores (472 s CPU)"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
