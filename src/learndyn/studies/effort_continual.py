"""Study ``effort_continual``: allocating gains across alternating tasks (continual learning).

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919. A two-layer linear network with per-weight gains
(W~ = W (.) (1 + G), cost exp(beta sum G^2) - 1, |G| <= 0.5) learns two correlated-Gaussian
tasks that alternate every n_switch steps (A: mu = (3, 1), p = 0.8; B: mu = (-2, 2), p = 0.2).
L_k is the loss of the task active at step k. The gains are an open-loop control: they are
optimised knowing the schedule, and can prepare for each switch. Expected (the paper's
neuronal resource allocation): the loss right after each switch is lower under the optimal
gains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import param
from ..core.study import Check, Preset, Progress, Study, run_each
from ..learning_effort import ascent, data, model, observables, problems, report, theory
from ..learning_effort.configs import GainStudyConfig, batch_fields

__all__ = ["STUDY", "ContinualConfig", "checks", "figures", "run"]


@dataclass(frozen=True)
class ContinualConfig(GainStudyConfig):
    mu_a: tuple[float, ...] = param((3.0, 1.0), "task A: class means per aspect")
    p_a: float = param(0.8, "task A: probability that the second label flips", ge=0, le=1)
    mu_b: tuple[float, ...] = param((-2.0, 2.0), "task B: class means per aspect")
    p_b: float = param(0.2, "task B: probability that the second label flips", ge=0, le=1)
    switch_every: int = param(800, "steps between task switches", ge=1)
    hidden: int = param(8, "hidden units H", ge=1)
    lam: float = param(0.001, "weight decay lambda", ge=0)
    step: float = param(1.0, "projected-ascent step size", gt=0)
    batch: int = param(256, "SGD batch size", ge=1)


def tasks(config: ContinualConfig) -> list[data.Task]:
    return [data.correlated_gaussians(config.mu_a, (1.0, 1.0), config.p_a),
            data.correlated_gaussians(config.mu_b, (1.0, 1.0), config.p_b)]


def problem(config: ContinualConfig) -> theory.Problem:
    a, b = tasks(config)
    w1, w2 = model.init_weights(a.n_in, config.hidden, a.n_out, scale=config.init_scale,
                                seed=config.init_seed)
    return problems.continual_problem(a, b, w1, w2, switch_every=config.switch_every,
                                      lam=config.lam, beta=config.beta, gamma=config.gamma,
                                      dt=config.lr, n_steps=config.n_steps,
                                      bounds=(-config.g_bound, config.g_bound))


def run(config: ContinualConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Optimise the gains for the known schedule; theory and SGD without and with them."""
    p = problem(config)
    init = ascent.initial_control(p, noise=config.init_noise, seed=config.init_seed)
    r = ascent.optimise(p, iterations=config.iterations, step=config.step, init=init,
                        progress=progress)
    ds = report.compare(p, r, tasks(config), seeds=seeds, batch=config.batch,
                        num_records=config.num_records, dtype=config.dtype, progress=progress)
    ds = ds.assign(report.gain_variables(r.control)).assign_coords(
        control_time=p.times, output=["output 1", "output 2"], hidden=np.arange(config.hidden),
        bound=["min", "max"], task=["A", "B"],
        active=("time", np.asarray(p.schedule)[ds.step.values]))
    return report.describe(ds, {**report.GAIN_ATTRS, "task": ("task (A or B)", ""),
                                "active": ("index of the task being trained", "")})


def checks(ds: xr.Dataset, config: ContinualConfig) -> list[Check]:
    """The paper's claims with their tolerances.

    - value gain > 1e-4 relative; gains within their bounds (the published step 1.0 does not
      converge in 100 iterations, so no KKT check);
    - after every switch (blocks 2, 3, ...; expected from the paper, on our data) the mean
      active-task loss over the first 10% of the block is lower under the optimal gains (the
      ratio optimal / uncontrolled is checked < 1 for the worst block);
    - SGD (20 seeds, batch 256) within 5% or 3 standard errors of the average dynamics.
    """
    out = report.control_checks(ds, ["gain_range_theory"], -config.g_bound, config.g_bound)
    blocks = observables.block_start_means(ds.loss_theory.values, ds.step.values,
                                           config.switch_every)
    ratio = blocks[1] / blocks[0]
    out.append(Check.at_most("post_switch_lower", "post-switch loss, optimal / uncontrolled "
                             "(worst block)", float(ratio.max()) if ratio.size else np.nan,
                             1.0, "optimal gains soften the loss jump at each switch"))
    return out + report.sim_checks(ds, 0.05, dtype=config.dtype)


def figures(ds: xr.Dataset, config: ContinualConfig) -> dict:
    tc = ds.control_time.values
    switches = np.arange(config.switch_every, config.n_steps, config.switch_every) * config.lr
    fig_c, axes = plotting.figure(1, width=5.0)
    for name, color in zip(ds.output.values, ("C0", "C1")):
        plotting.theory_line(axes[0, 0], tc, ds.gain_output_theory.sel(output=name),
                             color=color, label=name)
    for s in switches:
        axes[0, 0].axvline(s, color="0.7", lw=0.8, ls=":")
    axes[0, 0].set(xlabel="time $t$ (dotted: task switches)", ylabel=r"mean $|G_2|$ per output",
                   title="optimal gains (schedule known in advance)")
    axes[0, 0].legend(fontsize=8)
    return {
        "control": plotting.captioned(fig_c, "Optimal output gains over alternating tasks: "
                                      "bursts of effort at each switch (dotted), planned with "
                                      "the schedule known in advance (open-loop control). "
                                      "Theory only."),
        **report.loss_value_figures(
            ds, "Active-task loss with and without the optimal gains: average dynamics (lines) "
            "and SGD under the same gains (markers, 20 seeds, batch 256; bands 1 s.d.); the "
            "jumps at the switches (dotted) are smaller with control.",
            "Value V over projected-ascent iterations.", marks=switches)}


BATCH_FIELDS = batch_fields(ContinualConfig)  #: a sweep over these compiles once

STUDY = Study(
    name="effort_continual",
    claim="Per-weight gains optimised through the unrolled dynamics over a known schedule of "
          "alternating tasks soften the loss jump after every switch (neuronal resource "
          "allocation); SGD under them follows the theory.",
    paper="Carrasco-Davis, Masís & Saxe, Meta-Learning Strategies through Value Maximization in "
          "Neural Networks, arXiv:2310.19919 (2023)",
    config=ContinualConfig,
    presets={
        "quick": Preset(seeds=20, doc="Gaussian tasks A/B, switch every 800 steps, n = 4000, "
                                      "100 iterations"),
        "paper": Preset(seeds=20, values=dict(switch_every=1600, n_steps=23000, iterations=500),
                        doc="switch every 1600 steps, n = 23000, 500 iterations",
                        cost="about 3 min on 2 CPU cores (185 s CPU)"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
