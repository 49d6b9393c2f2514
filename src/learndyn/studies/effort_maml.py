"""Study ``effort_maml``: the initial weights as a control, optimised over an inner horizon.

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919. The control is the shared initialisation
(W1(0), W2(0)) of a family of binary tasks (synthetic prototype classes); every task then runs
the uncontrolled flow. Maximising V_inner = -alpha sum_{k < n_inner} mean_tau L_tau,k by Adam
(AMSGrad) through the unrolled dynamics is MAML with n_inner inner steps; evaluating each
learned init over a long horizon n_eval, V_eval = -alpha sum_{k < n_eval} mean_tau L_tau,k,
shows that short inner horizons are myopic. All inner horizons run as one vmapped program
(unrolls of max(n_inner) steps, the objective masked at n_inner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.stats import spearmanr

from ..core import plotting
from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study, run_each
from ..learning_effort import ascent, data, model, problems, report, theory
from ..learning_effort.configs import batch_fields
from ..learning_effort.observables import sgd_mismatch

__all__ = ["STUDY", "MamlConfig", "checks", "figures", "run"]


@dataclass(frozen=True)
class MamlConfig(Config):
    pairs: tuple[int, ...] = param((0, 1, 7, 1, 8, 9), "tasks as class pairs a, b, a, b, ...",
                                   ge=0, le=9)
    hidden: int = param(10, "hidden units H", ge=1)
    lr: float = param(0.01, "learning rate alpha = Euler step; t = step x alpha", gt=0)
    lam: float = param(0.0, "weight decay lambda", ge=0)
    n_inner: tuple[int, ...] = param((2, 40, 200), "inner horizons (steps)", ge=1)
    n_eval: int = param(2000, "evaluation horizon (steps)", ge=2)
    init_scale: float = param(0.01, "std of the random initial weights (the start)", gt=0)
    init_seed: int = param(0, "seed of the random initial weights", ge=0)
    data_seed: int = param(0, "seed of the class means", ge=0)
    adam_lr: float = param(0.005, "Adam (AMSGrad) learning rate on -V", gt=0)
    iterations: int = param(150, "optimisation iterations", ge=1)
    batch: int = param(32, "SGD batch size", ge=1)
    num_records: int = param(101, "SGD records (log-spaced)", ge=3)
    dtype: str = param("float32", "SGD precision", choices=("float32", "float64"))

    def validate(self) -> None:
        if len(self.pairs) < 2 or len(self.pairs) % 2:
            raise ConfigError(f"config field 'pairs': an even number of classes, got {self.pairs}")
        if len(set(self.n_inner)) != len(self.n_inner) or list(self.n_inner) != sorted(
                self.n_inner):
            raise ConfigError("config field 'n_inner': distinct and increasing")

    @property
    def tasks(self) -> list[tuple[int, int]]:
        return list(zip(self.pairs[::2], self.pairs[1::2]))


def tasks(config: MamlConfig) -> list[data.Task]:
    return [data.prototype_pair(a, b, data_seed=config.data_seed) for a, b in config.tasks]


def start(config: MamlConfig) -> tuple[np.ndarray, np.ndarray]:
    """The random initial weights (also the start of every optimisation)."""
    t = tasks(config)[0]
    return model.init_weights(t.n_in, config.hidden, t.n_out, scale=config.init_scale,
                              seed=config.init_seed)


def problem(config: MamlConfig, n_inner: int, n_steps: int | None = None) -> theory.Problem:
    return problems.maml_problem(tasks(config), *start(config), n_inner=n_inner,
                                 n_steps=n_steps, lam=config.lam, dt=config.lr)


def run(config: MamlConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Learn one init per inner horizon (one vmapped Adam run), evaluate each over n_eval
    steps, and train SGD networks from each init (and the random one) on every task."""
    n_max = max(config.n_inner)
    ps = [problem(config, n, n_max) for n in config.n_inner]
    r = ascent.optimise_batch(ascent.stack_problems(ps), iterations=config.iterations,
                              step=config.adam_lr, method="adam", progress=progress)
    inits = [start(config)] + [tuple(g[i] for g in r.control) for i in range(len(ps))]
    labels = ["random"] + [f"n_inner = {n}" for n in config.n_inner]
    ev = problem(config, config.n_eval)
    v_eval = [theory.value(ev, w) for w in inits]
    v_random = [theory.value(p, inits[0]) for p in ps]
    ts = tasks(config)
    evals = [problems.maml_problem([t], *w, n_inner=config.n_eval, lam=config.lam, dt=config.lr)
             for w in inits for t in ts]
    sim = model.run_sgd(evals, [np.zeros(config.n_eval)] * len(evals), [[t] for t in ts] *
                        len(inits), seeds=seeds, batch=config.batch, spacing="log",
                        num_records=config.num_records, dtype=config.dtype, progress=progress)
    steps = sim["steps"]
    shape = (len(inits), len(ts)) + sim["loss"].shape[1:]
    loss_sim = np.moveaxis(sim["loss"].reshape(shape), 1, -1)  # (init, seed, time, task)
    loss_th = np.stack([theory.task_losses(ev, w)[steps] for w in inits])
    ds = xr.Dataset(
        {"value_theory": (("n_inner", "iteration"), r.values),
         "value_inner_optimal": (("n_inner",), r.value),
         "value_inner_random": (("n_inner",), v_random),
         "value_eval_theory": (("init",), v_eval),
         "init_range_theory": (("n_inner", "bound"), [[min(float(g[i].min()) for g in r.control),
                                                       max(float(g[i].max()) for g in r.control)]
                                                      for i in range(len(ps))]),
         "loss_theory": (("init", "time", "task"), loss_th),
         "loss_sim": (("init", "seed", "time", "task"), loss_sim)},
        coords={"n_inner": list(config.n_inner), "iteration": np.arange(config.iterations),
                "init": labels, "time": steps * config.lr, "step": ("time", steps),
                "seed": list(seeds), "task": [f"{a} vs {b}" for a, b in config.tasks],
                "bound": ["min", "max"]})
    return report.describe(ds, {
        "value_theory": ("V_inner at each Adam iteration", ""),
        "value_inner_optimal": ("V_inner of the learned init", ""),
        "value_inner_random": ("V_inner of the random init", ""),
        "value_eval_theory": ("V_eval over the long horizon, per init", ""),
        "init_range_theory": ("smallest and largest entry of the learned init", ""),
        "loss_theory": ("population loss from the init, average dynamics", ""),
        "loss_sim": ("population loss from the init, SGD networks", ""),
        "n_inner": ("inner horizon", "steps"), "iteration": ("Adam iteration", "iterations"),
        "init": ("initial weights", ""), "time": ("time t = step x learning rate", "time units"),
        "step": ("SGD step", "steps"), "seed": ("SGD seed", ""), "task": ("binary task", ""),
        "bound": ("extreme", "")})


def checks(ds: xr.Dataset, config: MamlConfig) -> list[Check]:
    """The paper's claims with their tolerances.

    - each learned init beats the random one on its own inner objective (margin 1e-4
      relative) and has entries within [-1, 1];
    - V_eval of the longest inner horizon exceeds that of the shortest (short horizons are
      myopic); with >= 5 inner horizons (paper preset) the Spearman correlation of V_eval with
      n_inner is >= 0.6;
    - SGD (10 seeds, batch 32) from each init within 10% or 3 standard errors of the average
      dynamics on every task.
    """
    gain = (ds.value_inner_optimal - ds.value_inner_random) / np.abs(ds.value_inner_random)
    out = [Check.at_least("inner_gain", "smallest relative V_inner gain over the random init",
                          float(gain.min()), 1e-4, "each learned init beats the random init"),
           Check.at_most("feasible", "largest bound violation of a learned init",
                         float(np.maximum(np.abs(ds.init_range_theory.values) - 1.0, 0).max()),
                         0.0, "the init stays within [-1, 1]")]
    learned = ds.value_eval_theory.values[1:]
    out.append(Check.at_least("longer_horizon_better", "V_eval(longest) - V_eval(shortest)",
                              float(learned[-1] - learned[0]), 0.0,
                              "short inner horizons are myopic"))
    if len(learned) >= 5:
        rho = spearmanr(ds.n_inner.values, learned).statistic
        out.append(Check.at_least("horizon_rank", "Spearman(V_eval, n_inner)", float(rho), 0.6,
                                  "the longer the inner horizon, the better the init"))
    floor = (1e-6 if config.dtype == "float32" else 1e-12) * float(ds.loss_theory[:, 0].max())
    worst = max(sgd_mismatch(ds.loss_sim.sel(init=i, task=t).values,
                             ds.loss_theory.sel(init=i, task=t).values, 0.10, floor)
                for i in ds.init.values for t in ds.task.values)
    out.append(Check.at_most("ode_vs_sgd", "SGD vs ODE loss, worst init and task (units of "
                             "max(0.1 rel, 3 s.e.))", worst, 1.0,
                             "SGD from each init follows the average dynamics"))
    return out


def figures(ds: xr.Dataset, config: MamlConfig) -> dict:
    t = ds.time.values
    colors = ["0.45"] + plotting.colors(ds.sizes["n_inner"])
    fig_l, axes = plotting.figure(ds.sizes["task"], width=3.5)
    for ax, task in zip(axes[0], ds.task.values):
        for init, color in zip(ds.init.values, colors):
            sel = ds.sel(init=init, task=task)
            plotting.theory_line(ax, t, sel.loss_theory.values, color=color)
            plotting.sim_band(ax, t, sel.loss_sim.values, color=color)
        ax.set_xscale("symlog", linthresh=config.lr * 2)
        ax.set(xlabel="time $t$", ylabel="population loss $L$", title=f"task {task}",
               xlim=(0, t[-1]))
    plotting.legend_theory_sim(axes[0, -1], list(zip(ds.init.values, colors)), fontsize=7,
                               loc="upper right")
    fig_v, axes = plotting.figure(2, width=3.5)
    axes[0, 0].plot(ds.n_inner, ds.value_eval_theory.values[1:], "o-", color="C3",
                    label="learned init")
    axes[0, 0].axhline(float(ds.value_eval_theory[0]), color="0.45", ls="--", label="random init")
    axes[0, 0].set(xscale="log", xlabel=r"inner horizon $n_{\rm inner}$ (steps)",
                   ylabel=r"$V_{\rm eval}$", title=f"long-horizon value (n = {config.n_eval})")
    axes[0, 0].legend(fontsize=8)
    for n, color in zip(ds.n_inner.values, colors[1:]):
        v = ds.value_theory.sel(n_inner=n).values
        axes[0, 1].plot(ds.iteration + 1, v / abs(v[0]), color=color, label=f"n_inner = {n}")
    axes[0, 1].set(xscale="log", xlabel="Adam iteration",
                   ylabel=r"$V_{\rm inner}/|V_{\rm inner}(0)|$",
                   title="inner value during optimisation")
    axes[0, 1].legend(fontsize=8)
    return {
        "loss": plotting.captioned(fig_l, "Loss on each task from the random init and from the "
                                   "inits learned with each inner horizon: average dynamics "
                                   "(lines) and SGD (markers, 10 seeds; bands 1 s.d.). "
                                   "Synthetic prototype classes, not MNIST."),
        "value": plotting.captioned(fig_v, "Left: value over the long horizon of each learned "
                                    "init; longer inner horizons give better inits. Right: the "
                                    "inner value over Adam iterations. Theory only."),
    }


BATCH_FIELDS = batch_fields(MamlConfig)  #: a sweep over these compiles once

STUDY = Study(
    name="effort_maml",
    claim="Optimising the shared initial weights through the unrolled dynamics over an inner "
          "horizon is MAML; short horizons are myopic, longer ones give inits that are better "
          "over the whole of learning, and SGD from them follows the theory.",
    paper="Carrasco-Davis, Masís & Saxe, Meta-Learning Strategies through Value Maximization in "
          "Neural Networks, arXiv:2310.19919 (2023)",
    config=MamlConfig,
    presets={
        "quick": Preset(seeds=10, doc="three tasks, H = 10, alpha = 0.01, n_inner = 2, 40, 200, "
                                      "150 iterations, n_eval = 2000"),
        "paper": Preset(seeds=10, values=dict(
            pairs=(0, 1, 7, 1, 8, 9, 3, 8, 5, 3), hidden=40, lr=5e-3,
            n_inner=(2,) + tuple(range(20, 341, 20)), n_eval=8000, iterations=1000),
            doc="five tasks, H = 40, alpha = 5e-3, n_inner = 2, 20..340, 1000 iterations, "
                "n_eval = 8000",
            cost="about 12 min on 2 idle CPU cores (694 s CPU), 24 min under load"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
