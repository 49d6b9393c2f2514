"""Study ``effort_single_neuron``: the optimal gain of a one-weight learner.

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919. y^ = (1 + g) w x on two Gaussians
(x | y ~ N(mu y, sigma^2), y = +-1); the gain g(t) in [0, 0.5] costs beta g^2 and speeds up
learning, dw/dt = (1+g) Sigma_yx - (1+g)^2 Sigma_x w - lambda w. The control maximising
V = alpha sum_k gamma^{t_k} (-L_k - beta g_k^2) is found by projected gradient ascent through the
unrolled dynamics, for the default parameters and (vmapped) across beta, gamma and, in the paper
preset, sigma, lambda and the horizon. SGD networks (20 seeds) run with the same g(t).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import Config, param
from ..core.study import Check, Preset, Progress, Study, run_each
from ..learning_effort import ascent, data, observables, problems, reductions, report, theory
from ..learning_effort.configs import batch_fields

__all__ = ["STUDY", "SingleNeuronConfig", "checks", "figures", "run"]


@dataclass(frozen=True)
class SingleNeuronConfig(Config):
    mu: float = param(2.0, "class mean mu (x | y ~ N(mu y, sigma^2))", gt=0)
    sigma: float = param(1.0, "input noise sigma", gt=0)
    lam: float = param(0.1, "weight decay lambda", ge=0)
    lr: float = param(1e-3, "learning rate alpha = Euler step dt; t = step x alpha", gt=0)
    n_steps: int = param(600, "horizon n (steps)", ge=2)
    w0: float = param(0.0, "initial weight w(0)")
    beta: float = param(0.3, "cost of control beta (cost beta g^2)", gt=0)
    gamma: float = param(0.99, "discount per unit time gamma", gt=0, le=1)
    g_max: float = param(0.5, "upper bound of the gain (g in [0, g_max])", gt=0)
    init_noise: float = param(1e-3, "std of the random initial gains (then clipped)", ge=0)
    step: float = param(10.0, "projected-ascent step size", gt=0)
    iterations: int = param(700, "ascent iterations", ge=1)
    batch: int = param(128, "SGD batch size", ge=1)
    betas: tuple[float, ...] = param((0.05, 0.5375, 1.025, 1.5125, 2.0), "beta sweep", gt=0)
    gammas: tuple[float, ...] = param((1e-8, 1e-6, 1e-4, 1e-2, 1.0), "gamma sweep", gt=0, le=1)
    sigmas: tuple[float, ...] = param((), "sigma sweep (empty: none)", gt=0)
    lams: tuple[float, ...] = param((), "lambda sweep (empty: none)", ge=0)
    horizons: tuple[int, ...] = param((), "horizon sweep n (empty: none)", ge=2)
    dtype: str = param("float32", "SGD precision", choices=("float32", "float64"))


def problem(config: SingleNeuronConfig, **changes) -> theory.Problem:
    """The configured problem, with fields changed (e.g. ``beta=1.0``, ``n_steps=800``)."""
    values = {k: getattr(config, k) for k in ("mu", "sigma", "lam", "beta", "gamma", "n_steps",
                                              "w0")} | changes
    return problems.single_neuron_problem(
        values["mu"], values["sigma"], values["lam"], values["beta"], values["gamma"],
        config.lr, values["n_steps"], (0.0, config.g_max), w0=values["w0"])


def _ascend(config, probs, progress=None):
    init = ascent.initial_control(probs[0], noise=config.init_noise, seed=0)
    stacked = ascent.stack_problems(probs)
    return ascent.optimise_batch(stacked, iterations=config.iterations, step=config.step,
                                   init=np.repeat(init[None], len(probs), 0), progress=progress)


def _sweep(config, name: str, values, progress) -> dict:
    """Optimise for every value of one parameter (one vmapped program)."""
    probs = [problem(config, **{name: v}) for v in values]
    r = _ascend(config, probs, progress)
    eff = [observables.effort(p, c) for p, c in zip(probs, r.control)]
    return {f"control_{name}": ((name, "control_time"), r.control),
            f"value_optimal_{name}": ((name,), r.value),
            f"value_uncontrolled_{name}": ((name,), [theory.value(p, theory.neutral_control(p))
                                                     for p in probs]),
            f"effort_{name}": ((name,), eff),
            f"control_integral_{name}": ((name,), r.control.sum(1) * config.lr)}


def run(config: SingleNeuronConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Optimise g(t), sweep beta/gamma (and sigma/lambda/horizon), run SGD under g(t)."""
    p = problem(config)
    r = ascent.optimise(p, iterations=config.iterations, step=config.step,
                          init=ascent.initial_control(p, noise=config.init_noise, seed=0),
                          progress=progress)
    ds = report.compare(p, r, [data.two_gaussians(config.mu, config.sigma)], seeds=seeds,
                        batch=config.batch, num_records=config.n_steps, dtype=config.dtype,
                        progress=progress)
    ds["control_theory"] = ("control_time", r.control)
    ds["effort_theory"] = ((), observables.effort(p, r.control))
    sweeps = {"beta": config.betas, "gamma": config.gammas, "sigma": config.sigmas,
              "lam": config.lams}
    for name, values in sweeps.items():
        if values:
            ds = ds.assign(_sweep(config, name, values, progress)).assign_coords({name: list(
                values)})
    ds = ds.assign_coords(control_time=np.arange(config.n_steps) * config.lr)
    if config.horizons:
        rows = []
        for n in config.horizons:  # shapes differ: one program per horizon
            q = problem(config, n_steps=n)
            rows.append(ascent.optimise(q, iterations=config.iterations, step=config.step,
                                          init=ascent.initial_control(
                                              q, noise=config.init_noise, seed=0)))
        ds["value_optimal_horizon"] = ("horizon", [x.value for x in rows])
        ds["control_integral_horizon"] = ("horizon", [x.control.sum() * config.lr for x in rows])
        ds = ds.assign_coords(horizon=list(config.horizons))
    return report.describe(ds, {
        "control_theory": ("optimal gain g*(t)", ""), "control_time": ("time t", "time units"),
        "effort_theory": (r"discounted effort alpha sum gamma^t g^2", ""),
        **{f"control_{n}": (f"optimal gain g*(t) per {n}", "") for n in sweeps},
        **{f"value_optimal_{n}": (f"V of the optimal gain per {n}", "") for n in sweeps},
        **{f"value_uncontrolled_{n}": (f"V without control per {n}", "") for n in sweeps},
        **{f"effort_{n}": (f"discounted effort alpha sum gamma^t g*^2 per {n}", "")
           for n in sweeps},
        **{f"control_integral_{n}": (f"integral of g*(t) dt per {n}", "") for n in sweeps},
        "beta": ("cost of control beta", ""), "gamma": ("discount gamma", "per unit time"),
        "sigma": ("input noise sigma", ""), "lam": ("weight decay lambda", ""),
        "horizon": ("horizon n", "steps"),
        "value_optimal_horizon": ("V of the optimal gain per horizon", ""),
        "control_integral_horizon": ("integral of g*(t) dt per horizon", "")})


def _front_loaded(g: np.ndarray) -> float:
    """Largest rise of g*(t) (0 at t = 0 if g* is maximal there and non-increasing)."""
    return max(float(np.max(np.diff(g), initial=0.0)), float(np.max(g) - g[0]))


def checks(ds: xr.Dataset, config: SingleNeuronConfig) -> list[Check]:
    """The paper's claims with their tolerances.

    - value gain > 1e-4 relative, control in [0, g_max], KKT residual <= 5% of its start (700
      projected-ascent iterations reach ~0.2%);
    - closed forms: Euler with constant g equals w* + (w0 - w*)(1 - alpha k_g)^n to 1e-12
      (rounding) and the flow within 1e-2 relative (Euler error O(alpha k_g) ~ 0.5% here); under
      g*(t) the Euler unroll matches the exact flow with g* held per step within 1e-2;
    - g*(t) maximal at t = 0 and non-increasing (rises <= 1e-4, optimisation error) for the
      default and every swept beta;
    - across beta, V* and the discounted effort are non-increasing (1e-6 relative: a theorem up
      to optimisation error); across gamma, the integral of g* is non-decreasing (1e-4 of its
      range);
    - SGD (20 seeds, batch 128) within 5% or 3 standard errors of the average dynamics.
    """
    p = problem(config)
    out = report.control_checks(ds, ["control_theory"], 0.0, config.g_max, kkt=True)
    g = ds.control_theory.values
    err = 0.0
    flow_err = 0.0
    for gc in (0.0, float(g.mean())):
        ws = theory.trajectory(p, np.full(config.n_steps, gc))
        disc, flow = reductions.single_neuron_constant(p, gc)
        err = max(err, float(np.max(np.abs(ws - disc[:-1]))))
        flow_err = max(flow_err, float(np.max(np.abs(ws[1:] / flow[1:-1] - 1))))
    exact = reductions.single_neuron_flow(p, g)
    vary_err = float(np.max(np.abs(theory.trajectory(p, g)[1:] / exact[1:-1] - 1)))
    out += [
        Check.at_most("euler_exact_discrete", "Euler vs exact discrete solution, constant g",
                      err, 1e-12, "the Euler unroll is the closed-form discrete solution"),
        Check.at_most("euler_vs_flow", "Euler vs continuous flow, constant g (relative)",
                      flow_err, 1e-2, "the unroll follows the gradient flow"),
        Check.at_most("euler_vs_flow_optimal", "Euler vs exact flow under g*(t) (relative)",
                      vary_err, 1e-2, "the time-varying closed form holds"),
        Check.at_most("front_loaded", "largest rise of g*(t)", _front_loaded(g), 1e-4,
                      "optimal effort is maximal at the start and decays")]
    if "beta" in ds.dims:
        rises = [_front_loaded(row) for row in ds.control_beta.values]
        v, e = ds.value_optimal_beta.values, ds.effort_beta.values
        out += [Check.at_most("front_loaded_beta", "largest rise of g*(t) over the beta sweep",
                              max(rises), 1e-4, "effort is front-loaded at every cost"),
                Check.at_most("value_vs_beta", "largest rise of V* with beta (relative)",
                              float(np.max(np.diff(v), initial=0.0) / np.abs(v).max()), 1e-6,
                              "dearer control cannot raise the optimal value"),
                Check.at_most("effort_vs_beta", "largest rise of the effort with beta (rel.)",
                              float(np.max(np.diff(e), initial=0.0) / e.max()), 1e-6,
                              "more effort is spent when it is cheaper")]
    if "gamma" in ds.dims:
        i = ds.control_integral_gamma.values
        span = max(float(i.max() - i.min()), 1e-300)
        out.append(Check.at_most("integral_vs_gamma", "largest fall of int g* dt with gamma "
                                 "(relative to its range)",
                                 float(np.max(-np.diff(i), initial=0.0)) / span, 1e-4,
                                 "more effort is worth it when the future is discounted less"))
    return out + report.sim_checks(ds, 0.05, dtype=config.dtype)


def figures(ds: xr.Dataset, config: SingleNeuronConfig) -> dict:
    t = ds.control_time.values
    fig_c, axes = plotting.figure(3 if "gamma" in ds.dims else 1, width=3.5)
    ax = axes[0, 0]
    plotting.theory_line(ax, t, ds.control_theory.values, color="C3")
    ax.axhline(config.g_max, color="0.6", ls=":", lw=1)
    ax.set(xlabel="time $t$", ylabel="optimal gain $g^*(t)$",
           title=rf"$\beta$ = {config.beta:g}, $\gamma$ = {config.gamma:g}")
    for ax, name, label in zip(axes[0, 1:], ("beta", "gamma"), (r"$\beta$", r"$\gamma$")):
        values = ds[name].values
        for v, color in zip(values, plotting.colors(len(values))):
            plotting.theory_line(ax, t, ds[f"control_{name}"].sel({name: v}).values, color=color,
                                 label=f"{label} = {v:.3g}")
        ax.set(xlabel="time $t$", ylabel="$g^*(t)$", title=f"optimal gain across {label}")
        ax.legend(fontsize=7, loc="upper right")
    figs = {
        "control": plotting.captioned(fig_c, "Optimal gain over time: largest at the start, "
                                      "then decaying; less effort when control is dearer "
                                      "(beta) or the future is discounted more (small gamma, "
                                      "where the first steps matter most). Theory only."),
        **report.loss_value_figures(
            ds, "Loss without control and under g*(t): the Euler unroll (lines) and SGD "
            "networks driven by the same g(t) (markers, 20 seeds; bands 1 s.d.) agree to about "
            "1e-4.", "Value V at each projected-ascent iteration rises above the value without "
            "control and settles.")}
    if "beta" in ds.dims and "gamma" in ds.dims:
        fig_e, axes = plotting.figure(3, width=3.5)
        axes[0, 0].plot(ds.beta, ds.effort_beta, "o-", color="C3")
        axes[0, 0].set(xlabel=r"cost $\beta$", ylabel=r"effort $\alpha\sum\gamma^t g^{*2}$",
                       title="effort against cost")
        axes[0, 1].plot(ds.beta, ds.value_optimal_beta, "o-", color="C3", label="optimal")
        axes[0, 1].plot(ds.beta, ds.value_uncontrolled_beta, "--", color="0.45",
                        label="no control")
        axes[0, 1].set(xlabel=r"cost $\beta$", ylabel="value $V$", title="value against cost")
        axes[0, 1].legend(fontsize=8)
        axes[0, 2].plot(ds.gamma, ds.control_integral_gamma, "o-", color="C3")
        axes[0, 2].set(xscale="log", xlabel=r"discount $\gamma$", ylabel=r"$\int g^*\,dt$",
                       title="effort against discount")
        figs["effort"] = plotting.captioned(fig_e, "Effort falls as control gets dearer and "
                                            "rises as the future counts more (gamma -> 1); "
                                            "V* falls with beta. Theory only.")
    return figs


BATCH_FIELDS = batch_fields(SingleNeuronConfig)  #: a sweep over these compiles once

STUDY = Study(
    name="effort_single_neuron",
    claim="The optimal gain of a one-weight learner, found by gradient ascent through the "
          "unrolled learning dynamics, is front-loaded and decays; it shrinks as control gets "
          "dearer or the future is discounted more, and SGD under it follows the theory.",
    paper="Carrasco-Davis, Masís & Saxe, Meta-Learning Strategies through Value Maximization in "
          "Neural Networks, arXiv:2310.19919 (2023)",
    config=SingleNeuronConfig,
    presets={
        "quick": Preset(seeds=20, doc="published defaults; 5-value beta and gamma sweeps"),
        "paper": Preset(seeds=20, values=dict(
            betas=tuple(np.linspace(1e-5, 2, 30).round(6)),
            gammas=tuple(10 ** np.linspace(-8, 0, 30)),
            sigmas=tuple(np.linspace(1e-5, 5, 30).round(6)),
            lams=tuple(np.linspace(0, 5, 30).round(6)),
            horizons=tuple(range(200, 1201, 50))),
            doc="30-value sweeps of beta, gamma, sigma, lambda; horizons 200..1200",
            cost="about 1 min on 2 CPU cores (48 s CPU)"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
