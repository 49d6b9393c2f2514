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
from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study
from ..task_abstraction import data, observables
from ..task_abstraction.common import RunSpec, reference_lambdas, simulate_specs

__all__ = ["STUDY", "TaskAbstractionRegimesConfig"]


@dataclass(frozen=True)
class TaskAbstractionRegimesConfig(Config):
    n_tasks: int = param(2, "number of teachers M", ge=2)
    d_in: int = param(20, "input dimension", gt=0)
    d_out: int = param(10, "output dimension", gt=0)
    n_paths: int = param(2, "number of paths P", gt=0)
    teacher_seed: int = param(0, "seed of the shared teachers", ge=0)
    tau_w: float = param(0.1, "weight timescale", gt=0)
    t_total: float = param(7.0, "training time (time units)", gt=0)
    dt: float = param(1e-3, "Euler step", gt=0)
    gradient: Literal["sgd", "population"] = param("population", "minibatches or exact loss")
    batch_size: int = param(200, "minibatch size B (sgd)", gt=0)
    sampler: Literal["inputs", "wishart"] = param("inputs", "sgd: inputs or their second moment")
    init_scale: float = param(0.01, "weight init std sigma0", gt=0)
    gate_init: float = param(0.5, "initial gates")
    block_times: tuple[float, ...] = param((0.1, 0.4, 1.0), "block lengths tau_B (both grids)",
                                           gt=0)
    tau_cs: tuple[float, ...] = param((0.005, 0.02, 0.1), "grid A: gate timescales", gt=0)
    lam_ref_a: float = param(0.3, "grid A: reference regularisation strength", ge=0)
    lam_refs: tuple[float, ...] = param((0.0, 0.1, 0.2), "grid B: reference strengths", ge=0)
    tau_c_b: float = param(0.005, "grid B: gate timescale", gt=0)
    ref_nonneg: float = param(1.0, "reference relative weight of the hinge", ge=0)
    ref_l1: float = param(5.0, "reference relative weight of the L1-manifold term", ge=0)
    threshold: float = param(0.95, "concat alignment counted as specialised", gt=0, le=1)
    record_every: int = param(50, "record every this many steps", ge=1)
    dtype: Literal["float32", "float64"] = param("float32", "simulation precision")

    def validate(self) -> None:
        if self.n_tasks * self.d_out > self.d_in:
            raise ConfigError("orthogonal teachers need n_tasks * d_out <= d_in")
        if self.n_paths < self.n_tasks:
            raise ConfigError(f"config field 'n_paths': needs at least n_tasks = {self.n_tasks}")
        for bt in self.block_times:
            data.steps_per_block(bt, self.dt)
        if self.gradient == "sgd" and self.sampler == "wishart" and self.batch_size <= self.d_in:
            raise ConfigError("config field 'sampler': 'wishart' needs batch_size > d_in")

    @property
    def num_steps(self) -> int:
        return int(round(self.t_total / self.dt))


def _cells(config) -> tuple[list[RunSpec], list[tuple[str, int, int]]]:
    specs, where = [], []
    lam_a = reference_lambdas(config.lam_ref_a, config.ref_nonneg, config.ref_l1)
    for i, bt in enumerate(config.block_times):
        n_block = data.steps_per_block(bt, config.dt)
        for j, tc in enumerate(config.tau_cs):
            specs.append(RunSpec(config.tau_w, tc, *lam_a, n_block=n_block, dt=config.dt))
            where.append(("A", i, j))
        for j, lam in enumerate(config.lam_refs):
            lams = reference_lambdas(lam, config.ref_nonneg, config.ref_l1)
            specs.append(RunSpec(config.tau_w, config.tau_c_b, *lams, n_block=n_block,
                                 dt=config.dt))
            where.append(("B", i, j))
    return specs, where


def run(config: TaskAbstractionRegimesConfig, *, seeds, progress: Progress | None = None
        ) -> xr.Dataset:
    """Every cell of both grids for every seed, one vmapped program."""
    tasks = data.make_tasks(config.n_tasks, config.d_in, config.d_out, seed=config.teacher_seed)
    specs, where = _cells(config)
    num_steps = config.num_steps
    n_max = int(np.ceil(num_steps / min(s.n_block for s in specs))) + 1
    plan = data.block_plan("A_B", n_max, config.n_tasks)
    steps = np.unique(np.concatenate([np.arange(0, num_steps + 1, config.record_every),
                                      [num_steps]])).astype(np.int64)
    values, _ = simulate_specs(
        tasks, plan, specs, arch="gated", n_paths=config.n_paths, gradient=config.gradient,
        batch_size=config.batch_size, sampler=config.sampler, gate_norm="global",
        dtype=config.dtype, thetas=(0.1,), init_scale=config.init_scale,
        gate_init=config.gate_init, seeds=seeds, record_at=steps, progress=progress,
        label=f"{len(specs)} cells")
    concat, distinct = observables.concat_alignment(values["alignment"])  # (spec, seed, time)
    nb, na, nl = len(config.block_times), len(config.tau_cs), len(config.lam_refs)
    n_seed, n_time = concat.shape[1:]
    grids = {"A": np.empty((nb, na, n_seed, n_time)), "B": np.empty((nb, nl, n_seed, n_time))}
    perm = {"A": np.empty((nb, na, n_seed), np.int8), "B": np.empty((nb, nl, n_seed), np.int8)}
    for s, (g, i, j) in enumerate(where):
        grids[g][i, j] = concat[s]
        perm[g][i, j] = distinct[s, :, -1]
    times = steps * config.dt
    ds = xr.Dataset(
        {
            "concat_alignment_a_sim": (("tau_b", "tau_c", "seed", "time"), grids["A"]),
            "concat_alignment_b_sim": (("tau_b", "lam_ref", "seed", "time"), grids["B"]),
            "concat_is_permutation_a_sim": (("tau_b", "tau_c", "seed"), perm["A"]),
            "concat_is_permutation_b_sim": (("tau_b", "lam_ref", "seed"), perm["B"]),
        },
        coords={"tau_b": list(config.block_times), "tau_c": list(config.tau_cs),
                "lam_ref": list(config.lam_refs), "seed": list(seeds), "time": times,
                "step": ("time", steps)},
        attrs={"tau_w": config.tau_w, "tau_c_b": config.tau_c_b, "lam_ref_a": config.lam_ref_a,
               "threshold": config.threshold},
    )
    for g in ("a", "b"):
        c = ds[f"concat_alignment_{g}_sim"]
        ds[f"concat_final_{g}_sim"] = c.isel(time=-1)
        ds[f"concat_mean_{g}_sim"] = c.mean("time")
        ds[f"specialised_fraction_{g}_sim"] = (c.isel(time=-1) >= config.threshold).mean("seed")
    return ds


# ---- checks -------------------------------------------------------------------------------
def _nondecreasing(frac: np.ndarray, n_seed: int) -> float:
    """Largest decrease of the specialised fraction along the last axis (0 if monotone)."""
    return float(np.max(np.maximum(0.0, frac[..., :-1] - frac[..., 1:]), initial=0.0)) * n_seed


def checks(ds: xr.Dataset, config) -> list[Check]:
    """Fig. 5 claims (thresholds of the spec). Fractions are of seeds with concat >= 0.95."""
    tau_w, thr = float(ds.attrs["tau_w"]), float(ds.attrs["threshold"])
    n_seed = ds.sizes["seed"]
    fa, fb = ds.concat_final_a_sim, ds.concat_final_b_sim
    out: list[Check] = []
    fast = []  # cells with tau_w/tau_c >= 20, lam_ref >= 0.1, tau_B >= 0.4
    if tau_w / float(ds.attrs["tau_c_b"]) >= 20 - 1e-9:
        fast.append(fb.sel(tau_b=fb.tau_b >= 0.4, lam_ref=fb.lam_ref >= 0.1))
    if float(ds.attrs["lam_ref_a"]) >= 0.1:
        fast.append(fa.sel(tau_b=fa.tau_b >= 0.4, tau_c=tau_w / fa.tau_c >= 20 - 1e-9))
    fast_min = min((float(x.min()) for x in fast if x.size), default=float("nan"))
    out.append(Check.at_least(
        'fast_gates_tau_w_tau',
        "fast gates (tau_w/tau_c >= 20), lam_ref >= 0.1, tau_B >= 0.4: min final concat",
        fast_min, thr, "fast, regularised gates split the weights into task modules"))
    if 0.0 in fb.lam_ref.values:
        out.append(Check.at_most(
            'lam_0_max_final_concat', "lam = 0: max final concat (any block length, seed)",
            float(fb.sel(lam_ref=0.0).max()), 0.75,
            "without the regulariser no modules form"))
    slow = fa.sel(tau_c=tau_w / fa.tau_c <= 2 + 1e-9)
    if slow.size:
        out.append(Check.at_most(
            'slow_gates_tau_w_tau',
            "slow gates (tau_w/tau_c <= 2): max final concat", float(slow.max()), 0.8,
            "slow gates do not protect modules"))
    frac_a = ds.specialised_fraction_a_sim.sortby("tau_c", ascending=False).values
    out.append(Check.at_most(
        'specialised_fraction_gate_speed_largest',
        "specialised fraction vs gate speed: largest drop (seeds)",
        _nondecreasing(frac_a, n_seed), 1.0,
        "faster gates specialise at least as often (tolerance one seed)"))
    frac_b = ds.specialised_fraction_b_sim.sortby("lam_ref").values
    out.append(Check.at_most(
        'specialised_fraction_regularisation_largest_drop',
        "specialised fraction vs regularisation: largest drop (seeds)",
        _nondecreasing(frac_b, n_seed), 1.0,
        "stronger regularisation specialises at least as often (tolerance one seed)"))
    trend = ds.specialised_fraction_b_sim.sel(lam_ref=ds.lam_ref > 0).sortby("tau_b")
    out.append(Check.at_most(
        'provisional_specialised_fraction_block_length',
        "(provisional) specialised fraction vs block length at fast gates, lam > 0: "
        "largest drop (seeds)", _nondecreasing(trend.transpose("lam_ref", "tau_b").values,
                                               n_seed), 1.0,
        "longer blocks favour specialisation (heuristic block-length argument: trend only)"))
    return out


# ---- figures ------------------------------------------------------------------------------
def _heat(ax, arr, xlabels, ylabels, title, xlabel, ylabel):
    im = ax.imshow(arr, vmin=0.5, vmax=1.0, cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(len(xlabels)), [f"{x:g}" for x in xlabels])
    ax.set_yticks(range(len(ylabels)), [f"{y:g}" for y in ylabels])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(False)
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            ax.text(j, i, f"{arr[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="w" if arr[i, j] < 0.8 else "k")
    return im


def figures(ds: xr.Dataset, config) -> dict:
    """Fig. 5 analogue: final concat alignment (seed mean) over the two grids, and the
    concat-alignment time courses of grid A."""
    tau_w = float(ds.attrs["tau_w"])
    fig, axes = plotting.figure(3, 1, width=4.0, height=3.2)
    a = ds.concat_final_a_sim.mean("seed").sortby("tau_c", ascending=False)
    _heat(axes[0, 0], a.values, tau_w / a.tau_c.values, a.tau_b.values,
          "final concat alignment (grid A)", "gate speed tau_w/tau_c", "block length tau_B")
    b = ds.concat_final_b_sim.mean("seed")
    im = _heat(axes[0, 1], b.values, b.lam_ref.values, b.tau_b.values,
               "final concat alignment (grid B)", "regularisation lam_ref",
               "block length tau_B")
    fig.colorbar(im, ax=axes[0, 1])
    ax = axes[0, 2]
    t = ds.time.values
    cols = plotting.colors(ds.sizes["tau_c"])
    for j, tc in enumerate(ds.tau_c.values):
        for bt, ls in zip(ds.tau_b.values, ("-", "--", ":")):
            ax.plot(t, ds.concat_alignment_a_sim.sel(tau_c=tc, tau_b=bt).mean("seed"), ls=ls,
                    color=cols[j], lw=1.0,
                    label=f"tau_c={tc:g}, tau_B={bt:g}")
    ax.set(xlabel="time", ylabel="concat alignment", ylim=(0.4, 1.02),
           title="grid A over training (seed mean)")
    ax.legend(fontsize=5, ncol=2, loc="lower right")
    return {"task_abstraction_regimes": fig}


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
            doc="Fig. 5: SGD with B = 200 (Wishart batches), 10 seeds, 5 x 5 cells per grid"),
    },
    run=run,
    figures=figures,
    checks=checks,
)
