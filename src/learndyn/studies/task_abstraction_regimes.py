"""Study ``task_abstraction_regimes``: when do task modules form? (Sandbrink et al. Fig. 5)

Specialisation (concatenated alignment of the weights with the teachers; a seed counts as
specialised when it reaches 0.95) over two grids: block length tau_B x gate timescale tau_c
(grid A, regulariser on) and block length x regularisation strength (grid B, fast gates).
Fast gates and a regulariser are both needed; longer blocks help (the block-length argument:
within a block the gate difference moves at first order in the elapsed time while the
specialisation gets a second-order push ~ tau_B^2, so per unit time the push grows with tau_B,
against the task-averaged loss that pulls towards the unspecialised average solution; a
heuristic, so only its trend is tested, and marked provisional).

All cells and seeds run as one vmapped program (tau_c, the lambdas and tau_B, through the
step -> block map, keep every shape). In population mode (the quick preset) the simulation is
the exact reduced dynamics (tested against :func:`learndyn.task_abstraction.theory.reduced_map`),
so no separate theory curve is drawn; symmetry breaking comes from the random initial weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import param
from ..core.study import Check, Preset, Progress, Study
from ..task_abstraction import data, observables, plots
from ..task_abstraction.model import reference_lambdas
from ..task_abstraction.simulate import (
    GatedConfig,
    RunSpec,
    describe,
    same_shapes,
    simulate_specs,
)

__all__ = ["STUDY", "TaskAbstractionRegimesConfig", "checks", "figures", "run", "run_batch"]


@dataclass(frozen=True)
class TaskAbstractionRegimesConfig(GatedConfig):
    """Network and training (:class:`GatedConfig`; population gradients by default) and the
    two grids of Fig. 5."""

    gradient: Literal["sgd", "population"] = param("population", "minibatches or exact loss")
    tau_w: float = param(0.1, "weight timescale", gt=0)
    t_total: float = param(7.0, "training time (time units)", gt=0)
    dt: float = param(1e-3, "Euler step", gt=0)
    block_times: tuple[float, ...] = param((0.1, 0.4, 1.0), "block lengths tau_B (both grids)",
                                           gt=0)
    tau_cs: tuple[float, ...] = param((0.005, 0.02, 0.1), "grid A: gate timescales", gt=0)
    lam_ref_a: float = param(0.3, "grid A: reference regularisation strength", ge=0)
    lam_refs: tuple[float, ...] = param((0.0, 0.1, 0.2), "grid B: reference strengths", ge=0)
    tau_c_b: float = param(0.005, "grid B: gate timescale", gt=0)
    ref_nonneg: float = param(1.0, "reference relative weight of the hinge", ge=0)
    ref_l1: float = param(5.0, "reference relative weight of the L1-manifold term", ge=0)
    threshold: float = param(0.95, "concat alignment counted as specialised", gt=0, le=1)
    min_block_time: float = param(
        0.4, "shortest tau_B at which modules must form and the trends are checked (shorter "
             "blocks are bistable)", gt=0)
    record_every: int = param(50, "record every this many steps", ge=1)

    def validate(self) -> None:
        super().validate()
        for bt in self.block_times:
            data.steps_per_block(bt, self.dt)

    @property
    def num_steps(self) -> int:
        return int(round(self.t_total / self.dt))

    def cells(self) -> tuple[list[RunSpec], list[tuple[str, int, int]]]:
        """The runs of both grids, and each run's (grid, block-length index, column index)."""
        specs, where = [], []
        lam_a = reference_lambdas(self.lam_ref_a, self.ref_nonneg, self.ref_l1)
        for i, bt in enumerate(self.block_times):
            n_block = data.steps_per_block(bt, self.dt)
            for j, tc in enumerate(self.tau_cs):
                specs.append(RunSpec(self.tau_w, tc, *lam_a, n_block=n_block, dt=self.dt))
                where.append(("a", i, j))
            for j, lam in enumerate(self.lam_refs):
                lams = reference_lambdas(lam, self.ref_nonneg, self.ref_l1)
                specs.append(RunSpec(self.tau_w, self.tau_c_b, *lams, n_block=n_block,
                                     dt=self.dt))
                where.append(("b", i, j))
        return specs, where


#: fields that only change timescales, regulariser or the threshold: one program for a sweep
BATCH_FIELDS = ("tau_w", "lam_ref_a", "tau_c_b", "ref_nonneg", "ref_l1", "threshold")


def run(config: TaskAbstractionRegimesConfig, *, seeds, progress: Progress | None = None
        ) -> xr.Dataset:
    """Every cell of both grids for every seed, one vmapped program."""
    return run_batch([config], seeds=seeds, progress=progress)[0]


def run_batch(configs, *, seeds, progress: Progress | None = None) -> list[xr.Dataset]:
    """:func:`run` for configs differing only in :data:`BATCH_FIELDS`: one vmapped program."""
    same_shapes(configs, BATCH_FIELDS)
    config = configs[0]
    tasks = config.tasks()
    cells = [c.cells() for c in configs]
    specs = [s for c in cells for s in c[0]]
    num_steps = config.num_steps
    n_max = int(np.ceil(num_steps / min(s.n_block for s in specs))) + 1
    plan = data.block_plan("A_B", n_max, config.n_tasks)
    steps = np.unique(np.concatenate([np.arange(0, num_steps + 1, config.record_every),
                                      [num_steps]])).astype(np.int64)
    values, _ = simulate_specs(config, tasks, plan, specs, thetas=(0.1,), seeds=seeds,
                               record_at=steps, progress=progress,
                               label=f"{len(specs)} cells")
    concat, distinct = observables.concat_alignment(values["alignment"])  # (spec, seed, time)
    out, start = [], 0
    for c, (_, where) in zip(configs, cells):
        part = slice(start, start + len(where))
        start += len(where)
        out.append(_dataset(c, where, concat[part], distinct[part], steps, list(seeds)))
    return out


def _dataset(config, where, concat, distinct, steps, seeds) -> xr.Dataset:
    nb, na, nl = len(config.block_times), len(config.tau_cs), len(config.lam_refs)
    n_seed, n_time = concat.shape[1:]
    grids = {"a": np.empty((nb, na, n_seed, n_time)), "b": np.empty((nb, nl, n_seed, n_time))}
    perm = {"a": np.empty((nb, na, n_seed), np.int8), "b": np.empty((nb, nl, n_seed), np.int8)}
    for s, (g, i, j) in enumerate(where):
        grids[g][i, j] = concat[s]
        perm[g][i, j] = distinct[s, :, -1]
    ds = xr.Dataset(
        {
            "concat_alignment_a_sim": (("tau_b", "tau_c", "seed", "time"), grids["a"]),
            "concat_alignment_b_sim": (("tau_b", "lam_ref", "seed", "time"), grids["b"]),
            "concat_is_permutation_a_sim": (("tau_b", "tau_c", "seed"), perm["a"]),
            "concat_is_permutation_b_sim": (("tau_b", "lam_ref", "seed"), perm["b"]),
        },
        coords={"tau_b": list(config.block_times), "tau_c": list(config.tau_cs),
                "lam_ref": list(config.lam_refs), "seed": seeds, "time": steps * config.dt,
                "step": ("time", steps)},
    )
    for g in ("a", "b"):
        c = ds[f"concat_alignment_{g}_sim"]
        ds[f"concat_final_{g}_sim"] = c.isel(time=-1)
        ds[f"concat_mean_{g}_sim"] = c.mean("time")
        ds[f"specialised_fraction_{g}_sim"] = (c.isel(time=-1) >= config.threshold).mean("seed")
    return describe(ds)


# ---- checks -------------------------------------------------------------------------------
def _largest_drop(frac: np.ndarray, n_seed: int) -> float:
    """Largest decrease of the specialised fraction along the last axis, in seeds."""
    return float(np.max(np.maximum(0.0, frac[..., :-1] - frac[..., 1:]), initial=0.0)) * n_seed


def checks(ds: xr.Dataset, config: TaskAbstractionRegimesConfig) -> list[Check]:
    """Fig. 5 claims (thresholds set before the first runs). A seed is specialised when its
    final concat alignment is >= ``threshold`` (0.95): between the unspecialised states (0.5
    tracking the current task, 0.71 the task average) and full modules (1).

    - fast gates (tau_w/tau_c >= 20), lam_ref >= 0.1, tau_B >= ``min_block_time``: every seed
      specialised;
    - lam = 0: final concat <= 0.75 in every cell (no modules; 0.71 = task average);
    - slow gates (tau_w/tau_c <= 2): final concat <= 0.8 in every cell;
    - at tau_B >= ``min_block_time`` the specialised fraction never falls by more than one
      seed (the finite-seed resolution of a fraction) with faster gates or more
      regularisation. Shorter blocks are excluded: at tau_B = tau_w = 0.1 the dynamics are
      bistable, each seed ending either specialised or at the task-average solution (0.69-0.70,
      where it stays: measured to t = 42) and the trapped share grows with lam (paper preset,
      10 seeds: 1, 2, 3, 3 trapped at lam_ref = 0.05, 0.1, 0.15, 0.2), so the fraction there
      measures basins of attraction, not the regime; it is recorded and drawn, not asserted;
    - (provisional) the fraction never falls with longer blocks at fast gates and lam > 0 (a
      heuristic trend; all block lengths).
    """
    tau_w, thr, n_seed = config.tau_w, config.threshold, ds.sizes["seed"]
    fa, fb = ds.concat_final_a_sim, ds.concat_final_b_sim
    long_a, long_b = fa.tau_b >= config.min_block_time, fb.tau_b >= config.min_block_time
    fast = []  # cells with tau_w/tau_c >= 20, lam_ref >= 0.1, tau_B >= min_block_time
    if tau_w / config.tau_c_b >= 20 - 1e-9:
        fast.append(fb.sel(tau_b=long_b, lam_ref=fb.lam_ref >= 0.1))
    if config.lam_ref_a >= 0.1:
        fast.append(fa.sel(tau_b=long_a, tau_c=tau_w / fa.tau_c >= 20 - 1e-9))
    out = [Check.at_least(
        "fast_gates_specialise",
        f"fast gates (tau_w/tau_c >= 20), lam_ref >= 0.1, tau_B >= {config.min_block_time:g}: "
        "min final concat", min((float(x.min()) for x in fast if x.size), default=float("nan")),
        thr, "fast, regularised gates split the weights into task modules")]
    if 0.0 in fb.lam_ref.values:
        out.append(Check.at_most(
            "no_regulariser_no_modules", "lam = 0: max final concat (any block length, seed)",
            float(fb.sel(lam_ref=0.0).max()), 0.75, "without the regulariser no modules form"))
    slow = fa.sel(tau_c=tau_w / fa.tau_c <= 2 + 1e-9)
    if slow.size:
        out.append(Check.at_most(
            "slow_gates_no_modules", "slow gates (tau_w/tau_c <= 2): max final concat",
            float(slow.max()), 0.8, "slow gates do not protect modules"))
    frac_a = ds.specialised_fraction_a_sim.sel(tau_b=long_a).sortby("tau_c", ascending=False)
    out.append(Check.at_most(
        "trend_gate_speed",
        f"specialised fraction vs gate speed (tau_B >= {config.min_block_time:g}): largest "
        "drop (seeds)", _largest_drop(frac_a.values, n_seed), 1.0,
        "faster gates specialise at least as often (tolerance one seed)"))
    frac_b = ds.specialised_fraction_b_sim.sel(tau_b=long_b).sortby("lam_ref")
    out.append(Check.at_most(
        "trend_regularisation",
        f"specialised fraction vs regularisation (tau_B >= {config.min_block_time:g}): "
        "largest drop (seeds)", _largest_drop(frac_b.values, n_seed), 1.0,
        "stronger regularisation specialises at least as often (tolerance one seed)"))
    trend = ds.specialised_fraction_b_sim.sel(lam_ref=ds.lam_ref > 0).sortby("tau_b")
    out.append(Check.at_most(
        "trend_block_length",
        "(provisional) specialised fraction vs block length at fast gates, lam > 0: "
        "largest drop (seeds)", _largest_drop(trend.transpose("lam_ref", "tau_b").values,
                                              n_seed), 1.0,
        "longer blocks favour specialisation (heuristic block-length argument: trend only)"))
    return out


# ---- figures ------------------------------------------------------------------------------
def figures(ds: xr.Dataset, config: TaskAbstractionRegimesConfig) -> dict:
    """Fig. 5 analogue: final concat alignment (seed mean, and the specialised seeds) over the
    two grids; concat alignment over training of fast-gate cells and of the controls; every
    seed at the shortest blocks (bistable)."""
    fig, axes = plotting.figure(2, 2, width=3.6, height=2.9)
    a = ds.concat_final_a_sim.sortby("tau_c", ascending=False)
    plots.grid_panel(axes[0, 0], a, config.tau_w / a.tau_c.values, config.threshold,
                     xlabel=r"gate speed $\tau_W/\tau_c$",
                     title=rf"grid A ($\lambda$ = {config.lam_ref_a:g})")
    b = ds.concat_final_b_sim
    img = plots.grid_panel(axes[0, 1], b, b.lam_ref.values, config.threshold,
                           xlabel=r"regularisation $\lambda$",
                           title=rf"grid B ($\tau_W/\tau_c$ = {config.tau_w / config.tau_c_b:g})")
    fig.colorbar(img, ax=axes[0, 1], label="final concatenated\nalignment (seed mean)")
    t, fast, slow = ds.time.values, ds.tau_c.values.min(), ds.tau_c.values.max()
    ax = axes[1, 0]
    long = [bt for bt in ds.tau_b.values if bt >= config.min_block_time]
    curves = [(rf"$\tau_c$ = {fast:g}, $\tau_B$ = {bt:g}", color,
               ds.concat_alignment_a_sim.sel(tau_c=fast, tau_b=bt))
              for bt, color in zip(long, plotting.colors(len(long)))]
    curves.append((rf"slow gates $\tau_c$ = {slow:g}", "C3",
                   ds.concat_alignment_a_sim.sel(tau_c=slow).isel(tau_b=-1)))
    if 0.0 in ds.lam_ref.values:
        curves.append((r"no regulariser $\lambda$ = 0", "0.45",
                       ds.concat_alignment_b_sim.sel(lam_ref=0.0).isel(tau_b=-1)))
    for label, color, da in curves:
        ax.fill_between(t, da.min("seed"), da.max("seed"), color=color, alpha=0.2, lw=0)
        ax.plot(t, da.mean("seed"), color=color, lw=1.0, label=label)
    ax.set(xlabel=plots.TIME, ylabel="concatenated alignment", ylim=(0.4, 1.25),
           title=rf"over training (controls: $\tau_B$ = {ds.tau_b.values[-1]:g})")
    ax.legend(fontsize=7, loc="upper center", ncol=2, handlelength=1.2, columnspacing=0.8)
    ax = axes[1, 1]
    short = ds.concat_alignment_b_sim.isel(tau_b=0, lam_ref=-1)
    for s in short.seed.values:
        c = short.sel(seed=s).values
        ax.plot(t, c, color="C0" if c[-1] >= config.threshold else "C1", lw=0.9, alpha=0.8)
    for level, _ in plots.REFERENCE_ALIGNMENTS:
        ax.axhline(level, color="0.6", lw=0.6, ls=":")
    ax.axhline(config.threshold, color="k", lw=0.8, ls="--")
    ax.set(xlabel=plots.TIME, ylabel="concatenated alignment", ylim=(0.4, 1.05),
           title=rf"every seed, $\tau_B$ = {ds.tau_b.values[0]:g}, "
                 rf"$\lambda$ = {ds.lam_ref.values[-1]:g}")
    plots.figure_key(fig, [
        ("simulation: seed mean and range", dict(color="0.4", lw=1.0)),
        ("each seed: specialised", dict(color="C0", lw=1.0)),
        ("each seed: trapped", dict(color="C1", lw=1.0)),
        (f"threshold {config.threshold:g}", dict(color="k", lw=0.8, ls="--"))])
    return {"task_abstraction_regimes": plotting.captioned(fig, (
        "Modules (final concatenated alignment near 1; each cell gives the seed mean and the "
        "number of seeds above the threshold) form only with fast gates and a regulariser; "
        "at the shortest blocks (tau_B = tau_W) each seed ends either with modules (blue) or "
        "trapped at the task-average solution (orange, ~0.7), more often with stronger "
        f"regularisation, so the trends are checked at tau_B >= {config.min_block_time:g} "
        "only. Simulation only: in population mode it is the exact reduced dynamics."))}


STUDY = Study(
    name="task_abstraction_regimes",
    claim="Task modules form only with fast gates and a gate regulariser, and more readily with "
          "longer blocks.",
    paper="Sandbrink, Bauer, Proca, Saxe, Summerfield & Hummos, Flexible task abstractions "
          "emerge in linear networks with fast and bounded units, NeurIPS 2024 (Fig. 5)",
    config=TaskAbstractionRegimesConfig,
    presets={
        "quick": Preset(seeds=3, doc="population gradients; 3 x 3 cells per grid, t = 7"),
        "paper": Preset(
            seeds=10,
            values=dict(gradient="sgd", sampler="wishart",
                        block_times=(0.1, 0.4, 0.6, 0.8, 1.0),
                        tau_cs=(0.02, 0.04, 0.06, 0.08, 0.1),
                        lam_refs=(0.0, 0.05, 0.1, 0.15, 0.2)),
            doc="Fig. 5: SGD with B = 200 (Wishart batches), 10 seeds, 5 x 5 cells per grid",
            cost="under a minute on 2 CPU cores (17 s CPU)"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_batch,
)
