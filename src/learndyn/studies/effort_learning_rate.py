"""Study ``effort_learning_rate``: the optimal learning-rate schedule of a two-layer network.

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919. The control is a scalar u(t) in [-1, 1] scaling
every update, F = (1 + u) F_0, at cost beta u^2; it is optimised by Adam (AMSGrad) on -V
through the unrolled dynamics. Learning-rate control is a pure time warp of the uncontrolled
flow (tau = int (1 + u) dt), so it pays while there is learning left to speed up: u*(t) is
large early and falls to 0 once the task is learned. Data: the semantic hierarchy (one-hot items,
features = nodes of a binary tree; Sigma_x = I/P, so deep_linear's mode solutions apply) or
the ten synthetic prototype classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr

from ..core import plotting
from ..core.config import Config, param
from ..core.study import Check, Preset, Progress, Study, run_each
from ..learning_effort import ascent, data, model, problems, reductions, report, theory
from ..learning_effort.configs import batch_fields

__all__ = ["STUDY", "LearningRateConfig", "checks", "figures", "run"]


@dataclass(frozen=True)
class LearningRateConfig(Config):
    dataset: str = param("hierarchy", "semantic hierarchy or 10 prototype classes",
                         choices=("hierarchy", "prototypes"))
    levels: int = param(3, "hierarchy levels h (2^(h-1) items, 2^h - 1 features)", ge=2, le=7)
    hidden: int = param(8, "hidden units H", ge=1)
    lr: float = param(0.03, "learning rate alpha = Euler step; t = step x alpha", gt=0)
    lam: float = param(0.01, "weight decay lambda", ge=0)
    n_steps: int = param(3000, "horizon n (steps)", ge=10)
    init_scale: float = param(1e-4, "std of the initial weights", gt=0)
    init_seed: int = param(0, "seed of the initial weights", ge=0)
    data_seed: int = param(0, "prototypes: seed of the class means", ge=0)
    beta: float = param(0.1, "cost of control beta (cost beta u^2)", gt=0)
    gamma: float = param(0.99, "discount per unit time", gt=0, le=1)
    u_bound: float = param(1.0, "u in [-u_bound, u_bound]", gt=0, le=1)
    adam_lr: float = param(0.005, "Adam (AMSGrad) learning rate on -V", gt=0)
    iterations: int = param(150, "optimisation iterations", ge=1)
    batch: int = param(32, "SGD batch size", ge=1)
    num_records: int = param(151, "SGD records", ge=3)
    warp_dt: float = param(1e-3, "step of the refined unroll in the time-warp check", gt=0)
    dtype: str = param("float32", "SGD precision", choices=("float32", "float64"))


def task(config: LearningRateConfig) -> data.Task:
    return data.hierarchy_or_prototypes(config.dataset, levels=config.levels,
                                        data_seed=config.data_seed)


def problem(config: LearningRateConfig) -> theory.Problem:
    t = task(config)
    w1, w2 = model.init_weights(t.n_in, config.hidden, t.n_out, scale=config.init_scale,
                                seed=config.init_seed)
    return problems.learning_rate_problem(t, w1, w2, lam=config.lam, beta=config.beta,
                                          gamma=config.gamma, dt=config.lr,
                                          n_steps=config.n_steps,
                                          bounds=(-config.u_bound, config.u_bound))


def run(config: LearningRateConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Optimise u(t) with Adam (AMSGrad), then theory and SGD without and with it."""
    p = problem(config)
    r = ascent.optimise(p, iterations=config.iterations, step=config.adam_lr, method="adam",
                        progress=progress)
    ds = report.compare(p, r, [task(config)], seeds=seeds, batch=config.batch,
                        num_records=config.num_records, dtype=config.dtype, progress=progress)
    ds["control_theory"] = ("control_time", r.control)
    ds["warped_time_theory"] = ("control_time", reductions.warped_times(p, r.control)[:-1])
    ds = ds.assign_coords(control_time=p.times)
    return report.describe(ds, {
        "control_theory": ("optimal learning-rate modulation u*(t)", ""),
        "warped_time_theory": ("warped time tau(t) = int (1 + u*) dt", "time units"),
        "control_time": ("time t", "time units")})


def checks(ds: xr.Dataset, config: LearningRateConfig) -> list[Check]:
    """The paper's claims with their tolerances.

    - value gain > 1e-4 relative; u* within its bounds (Adam is not run to convergence: 150
      iterations of step 0.005 in the quick preset, so no KKT check);
    - time warp: the controlled unroll equals the variable-step Euler integration of the
      uncontrolled field with steps alpha (1 + u_k) to 1e-12 (rounding); refined to steps of
      1e-3 it matches the adaptive uncontrolled flow (Dormand-Prince 8, rtol 1e-10) at the
      warped times within 1e-2 (Euler error O(dt s_1));
    - hierarchy only: from small aligned balanced weights (lambda = 0, dt = 1e-3) the modes
      follow deep_linear's sigmoids within 1e-3 s_1 (Euler error);
    - front-loaded: mean u* over the first 10% of the horizon exceeds that over the last 50%;
    - SGD (10 seeds, batch 32) within 10% or 3 standard errors of the average dynamics.
    """
    p = problem(config)
    out = report.control_checks(ds, ["control_theory"], -config.u_bound, config.u_bound)
    u = ds.control_theory.values
    exact, flow = reductions.time_warp_errors(p, u, fine_dt=config.warp_dt)
    out += [Check.at_most("warp_exact", "controlled unroll vs variable-step Euler (relative)",
                          exact, 1e-12, "learning-rate control only rescales time"),
            Check.at_most("warp_vs_flow", "refined unroll vs uncontrolled flow at warped times",
                          flow, 1e-2, "u(t) warps the uncontrolled learning curve")]
    if config.dataset == "hierarchy":
        err = reductions.mode_error(task(config), hidden=config.hidden)
        out.append(Check.at_most("modes_saxe", "modes vs deep_linear's sigmoids (units of s_1)",
                                 err, 1e-3, "hierarchy modes are learned along Saxe sigmoids"))
    n = len(u)
    out.append(Check.at_least("front_loaded", "mean u* first 10% - mean u* last 50%",
                              float(u[: max(1, n // 10)].mean() - u[n // 2:].mean()), 1e-9,
                              "the learning rate is raised early and relaxed late"))
    return out + report.sim_checks(ds, 0.10, dtype=config.dtype)


def figures(ds: xr.Dataset, config: LearningRateConfig) -> dict:
    tc = ds.control_time.values
    fig_c, axes = plotting.figure(2, width=3.5)
    plotting.theory_line(axes[0, 0], tc, ds.control_theory.values, color="C3")
    axes[0, 0].axhline(0.0, color="0.6", lw=0.8)
    axes[0, 0].set(xlabel="time $t$", ylabel="optimal modulation $u^*(t)$",
                   title=r"learning rate $\alpha(1 + u^*)$")
    plotting.theory_line(axes[0, 1], tc, ds.warped_time_theory.values, color="C3",
                         label=r"$\tau(t)$ under $u^*$")
    axes[0, 1].plot(tc, tc, "--", color="0.45", lw=1.2, label=r"$\tau = t$ (no control)")
    axes[0, 1].set(xlabel="time $t$", ylabel=r"learning time $\tau$", title="time warp")
    axes[0, 1].legend(fontsize=8)
    return {
        "control": plotting.captioned(fig_c, "Optimal learning-rate modulation: raised while "
                                      "the modes are being learned, back to 0 once the loss "
                                      "has converged; it acts as a warp of learning time. "
                                      "Theory only."),
        **report.loss_value_figures(
            ds, "Loss with and without the optimal schedule: average dynamics (lines) and SGD "
            "under the same schedule (markers, 10 seeds; bands 1 s.d.) agree within the 10% "
            "tolerance; u* saturates early only because 150 Adam steps of 0.005 cannot move "
            "it further.", "Value V over Adam (AMSGrad) iterations.", log=True)}


BATCH_FIELDS = batch_fields(LearningRateConfig)  #: a sweep over these compiles once

STUDY = Study(
    name="effort_learning_rate",
    claim="The optimal learning-rate schedule, optimised through the unrolled dynamics, is high "
          "early and relaxes once learning is done; it acts as a pure time warp of the "
          "uncontrolled learning curve, and SGD under it follows the theory.",
    paper="Carrasco-Davis, Masís & Saxe, Meta-Learning Strategies through Value Maximization in "
          "Neural Networks, arXiv:2310.19919 (2023)",
    config=LearningRateConfig,
    presets={
        "quick": Preset(seeds=10, doc="hierarchy h = 3, H = 8, alpha = 0.03, n = 3000 (T = 90), "
                                      "150 iterations"),
        "paper": Preset(seeds=10, values=dict(levels=4, hidden=30, lr=5e-3, n_steps=18000,
                                              iterations=800, num_records=201),
                        doc="hierarchy h = 4, H = 30, alpha = 5e-3, n = 18000, 800 iterations",
                        cost="about 10 min on 2 idle CPU cores (601 s CPU), 11 min under load"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
