"""Study ``teacher_student_overparam``: the final error of over-parameterised students.

Goldt, Advani, Saxe, Krzakala & Zdeborova, NeurIPS 2019 (arXiv:1906.08632), Sec. 3-4. With
label noise sigma, a student with K = M + L units trained online settles at a final error
eps_g* set by the noise: training the first layer only it grows with K (erf, small lr:
(lr sigma^2/2 pi)(L + M/sqrt 3); linear exactly K lr sigma^2/(2(2 - K lr))); training both
layers it does not (erf: the denoising configuration, c students per teacher unit with
v = v*/c, lowers it).

The study computes ODE fixed points (:mod:`learndyn.teacher_student.floors`) for erf and
linear first-layer students and for the erf denoising configurations, and runs long SGD
simulations (every width K of one activation and trained layers in one vmapped program, with
the ODE from each seed's own start beside it) whose final error is the mean of eps_g over the
last ``average_fraction`` of the run. Both-layer runs stuck on a dead-unit plateau
(:func:`learndyn.teacher_student.observables.stuck`) are flagged and left out of the medians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study, run_each
from ..teacher_student import floors, observables, plots, theory
from ..teacher_student.simulate import Setting, ode_from_simulation, simulate

__all__ = ["STUDY", "OverparamConfig", "checks", "figures", "run"]

#: fields that keep every array shape: the noise and rates of the fixed points and of the SGD
#: runs (traced arguments of the SGD program), so a sweep over them compiles once
BATCH_FIELDS = ("sigma", "linear_lr", "linear_sigma", "both_lr", "sgd_lr", "sgd_sigma")

#: ODE tolerance beside the SGD runs: their checks compare final errors at 10%
ODE_RTOL = 1e-6
#: step budget of each seed's ODE beside SGD (a solve to t = 3000 takes about 130 steps): a
#: seed whose solve stalls (a ReLU state near singular covariances, see docs) comes back NaN
ODE_MAX_STEPS = 2000


@dataclass(frozen=True)
class OverparamConfig(Config):
    M: int = param(2, "teacher hidden units", ge=1)
    sigma: float = param(0.01, "label-noise std of the erf fixed points", ge=0)
    erf_K: tuple[int, ...] = param((2, 3, 4), "erf first layer: student widths (>= M)", ge=1)
    erf_lrs: tuple[float, ...] = param((0.02, 0.05), "erf first layer: learning rates", gt=0)
    linear_K: tuple[int, ...] = param((1, 2, 3, 4), "linear first layer: widths", ge=1)
    linear_lr: float = param(0.1, "linear: learning rate (K lr < 2 for stability)", gt=0)
    linear_sigma: float = param(0.1, "linear: label-noise std", ge=0)
    both_K: tuple[int, ...] = param((2, 4, 6), "erf both layers: widths (multiples of M)", ge=1)
    both_lr: float = param(0.05, "erf both layers: learning rate", gt=0)
    sgd_activations: tuple[str, ...] = param(
        ("erf", "relu", "linear"), "SGD runs: activations", choices=("erf", "relu", "linear"))
    sgd_modes: tuple[str, ...] = param(("first",), "SGD runs: trained layers",
                                       choices=("first", "both"))
    sgd_K: tuple[int, ...] = param((2, 3, 4), "SGD runs: student widths (>= M)", ge=1)
    sgd_N: int = param(200, "SGD runs: input dimension", ge=1)
    sgd_lr: float = param(0.4, "SGD runs: learning rate", gt=0)
    sgd_sigma: float = param(0.3, "SGD runs: label-noise std", ge=0)
    sgd_t_max: float = param(600.0, "SGD runs: training time", gt=0)
    average_fraction: float = param(0.5, "SGD: eps_g* = mean over this last fraction of t",
                                    gt=0, le=1)
    dtype: str = param("float32", "SGD precision", choices=("float32", "float64"))

    def validate(self) -> None:
        if any(k < self.M for k in self.erf_K):
            raise ConfigError(f"config field 'erf_K': widths must be >= M = {self.M}")
        if any(k % self.M for k in self.both_K):
            raise ConfigError(f"config field 'both_K': widths must be multiples of M = {self.M}")
        if max(self.linear_K, default=0) * self.linear_lr >= 2:
            raise ConfigError("config field 'linear_lr': K lr must stay below 2 (stability)")
        if "linear" in self.sgd_activations and max(self.sgd_K) * self.sgd_lr >= 2:
            raise ConfigError("config field 'sgd_lr': linear SGD needs K lr < 2 (stability)")
        if any(k < self.M for k in self.sgd_K):
            raise ConfigError(f"config field 'sgd_K': widths must be >= M = {self.M}")
        if len(set(self.erf_lrs)) != len(self.erf_lrs):
            raise ConfigError("config field 'erf_lrs': must be distinct")

    @property
    def sgd_records(self) -> np.ndarray:
        """101 evenly spaced record steps of the SGD runs."""
        steps = int(round(self.sgd_t_max * self.sgd_N))
        return np.rint(np.linspace(0, steps, 101)).astype(np.int64)

    @property
    def eg_reference(self) -> float:
        """(lr sigma^2/2pi) M/sqrt 3 of the SGD runs: the scale of the dead-unit flag."""
        return float(theory.erf_floor_law(self.M, self.M, self.sgd_lr, self.sgd_sigma))


def _sgd_runs(config: OverparamConfig, seeds, progress) -> xr.Dataset | None:
    if not config.sgd_activations or not config.sgd_modes or not config.sgd_K:
        return None
    parts = []
    for mode in config.sgd_modes:  # every activation and width in one program
        runs = [(g, K) for g in config.sgd_activations for K in config.sgd_K]
        settings = [Setting.make(g, N=config.sgd_N, M=config.M, K=K, lr=config.sgd_lr,
                                 sigma=config.sgd_sigma, train_v=mode == "both",
                                 dtype=config.dtype) for g, K in runs]
        sims = simulate(settings, seeds, record_at=config.sgd_records, progress=progress,
                        label=f"SGD, {mode} layer")
        odes, label = [], f"ODE beside SGD, {mode} layer"
        for k, g in enumerate(config.sgd_activations):  # one solve per activation: say so
            if progress is not None:
                progress(k, len(config.sgd_activations), f"{label} ({g})")
            odes += ode_from_simulation(
                *zip(*[(s, sim) for s, sim in zip(settings, sims) if s.activation == g]),
                rtol=ODE_RTOL, max_steps=ODE_MAX_STEPS)
        for (g, K), sim, ode in zip(runs, sims, odes):
            t, e = sim.time.values, sim.eg_sim.values
            late = t >= t[-1] * (1 - config.average_fraction)
            stuck = (observables.stuck(e[:, late], sim.v_sim.values[:, -1],
                                       sim.R_sim.values[:, -1], config.eg_reference)
                     if mode == "both" else np.zeros(len(seeds), bool))
            law = (float(theory.linear_floor_law(K, config.sgd_lr, config.sgd_sigma))
                   if g == "linear" and mode == "first" else np.nan)
            parts.append(xr.Dataset(
                {"eg_sim": (("seed", "time"), e), "eg_theory": (("seed", "time"), ode),
                 "eg_star_sim": ("seed", e[:, late].mean(1)),
                 "eg_star_theory": ("seed", ode[:, late].mean(1)),
                 "ode_solved": ("seed", np.isfinite(ode).all(1)),
                 "stuck_sim": ("seed", stuck), "eg_star_law": law},
                coords={"seed": list(seeds), "time": t, "activation": g, "layers": mode,
                        "K_sim": K}))
    labels = {k: [p[k].item() for p in parts] for k in ("activation", "layers", "K_sim")}
    ds = xr.concat([p.drop_vars(list(labels)) for p in parts], dim="run", coords="minimal",
                   compat="override")
    return ds.assign_coords(run=[f"{g}-{m}-K{K}" for g, m, K in zip(*labels.values())],
                            **{k: ("run", v) for k, v in labels.items()})


def run(config: OverparamConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """ODE fixed points (erf, linear, both-layer denoising) and long SGD runs."""
    ds = floors.sweep(config.M, config.sigma, erf_K=config.erf_K, erf_lrs=config.erf_lrs,
                      linear_K=config.linear_K, linear_lr=config.linear_lr,
                      linear_sigma=config.linear_sigma, both_K=config.both_K,
                      both_lr=config.both_lr)
    sgd = _sgd_runs(config, seeds, progress)
    return observables.describe(ds if sgd is None else xr.merge([ds, sgd]))


# ---- checks -------------------------------------------------------------------------------
def checks(ds: xr.Dataset, config: OverparamConfig) -> list[Check]:
    """The paper's claims, with tolerances and why.

    - ``erf_floors_found``: every erf first-layer fixed point found (residual below
      1e-6 lr^2 sigma^2); ``erf_floors_stable``: no Jacobian eigenvalue above (lr sigma)^2.
      With two or more surplus units there is a marginal direction among them (measured
      +0.65 (lr sigma)^2 at K = 4, a growth time beyond 10^6), while the specialised
      directions decay at rates ~ -lr/20.
    - ``erf_floor_law``: eps_g* / (lr sigma^2/2pi) within 10% of L + M/sqrt 3 (the law is the
      O(lr) limit: measured 1.5% at lr = 0.02, 3.8% at 0.05); ``erf_law_small_lr``: the
      deviation shrinks as lr decreases (ratio <= 0.9); ``erf_floor_grows``: eps_g* grows with
      K (each surplus unit adds ~ lr sigma^2/2pi to M/sqrt3: ratios >= 1.3).
    - ``linear_floor_law``: fixed points within 1e-6 (relative) of K lr sigma^2/(2(2 - K lr))
      (exact law; Gauss-Newton converges to ~1e-12); ``linear_floor_grows``: ratios >= 1.1.
    - ``denoising_fixed_point``: the denoising configuration zeroes the RHS at sigma = 0
      (<= 1e-10, rounding only); ``denoising_lowers_floor``: at sigma > 0 the fixed point
      continued from it has a lower eps_g* for the largest K than for K = M (ratio <= 0.9).
    - ``sgd_law_{g}_K{K}`` (linear first layer): seed-mean eps_g* of SGD within 10% of the law
      (finite-N O(1/N) corrections plus the noise of a time average over half the run).
    - ``ode_vs_sgd_{g}_K{K}`` (first layer): the ODE from each seed's initial overlaps,
      averaged over the same late times, within 10% of SGD (seed means; the same finite-N and
      averaging noise, plus late escapes: the ODE can leave a plateau later than SGD).
    - ``sgd_grows_{g}`` / ``ode_grows_{g}`` (first layer, several K): the median eps_g* over
      seeds grows with K (ratios >= 1), in SGD and in the ODE from the same starts.
    - ``sgd_both_flat_{g}`` (both layers): the median eps_g* of the runs not stuck does not
      grow from K = M to larger K (10% slack for seed noise); ``sgd_both_stuck_{g}``: at most
      half the runs stuck on a dead unit (stuck runs are counted, never averaged in).
    """
    erf, lin, both = ds.erf_floor_theory, ds.linear_floor_theory, ds.denoising_floor_theory
    lrs = ds.eta.values
    dev = np.abs(erf / ds.erf_floor_law - 1.0)
    out = [
        Check.at_least("erf_floors_found", "erf first layer: fraction of fixed points "
                       "converged", float(np.isfinite(erf).mean()), 1.0,
                       "the ODE has a fixed point near the specialised solution"),
        Check.at_most("erf_floors_stable", "erf first layer: max Jacobian eigenvalue / "
                      "(lr sigma)^2 at the fixed points", float((
                          ds.erf_floor_eigenvalue / (ds.eta * config.sigma) ** 2).max()), 1.0,
                      "the fixed points are stable (no eigenvalue above the noise scale)"),
        Check.at_most("erf_floor_law", "erf first layer: max |eps* / law - 1|, law = "
                      "(lr sigma^2/2pi)(L + M/sqrt3)", float(dev.max()), 0.1,
                      "small-lr law of the final error"),
    ]
    if len(lrs) > 1:
        worst = dev.max("K_erf").values[np.argsort(lrs)]
        out.append(Check.at_most(
            "erf_law_small_lr", "erf first layer: law deviation at the smallest lr / at the "
            "largest", float(worst[0] / worst[-1]), 0.9,
            "the law is the small-lr limit (O(lr) correction)"))
    if ds.sizes["K_erf"] > 1:
        out.append(Check.at_least(
            "erf_floor_grows", "erf first layer: min eps*(K+1) / eps*(K)",
            float(np.min(erf.values[:, 1:] / erf.values[:, :-1])), 1.3,
            "training the first layer only, the final error grows with K"))
    out.append(Check.at_most(
        "linear_floor_law", "linear first layer: max |eps*_ODE / law - 1|, law = "
        "K lr sigma^2/(2(2 - K lr))", float(np.max(np.abs(lin / ds.linear_floor_law - 1.0))),
        1e-6, "exact final error of linear students"))
    if ds.sizes["K_linear"] > 1:
        out.append(Check.at_least(
            "linear_floor_grows", "linear first layer: min eps*(K+1) / eps*(K)",
            float(np.min(lin.values[1:] / lin.values[:-1])), 1.1, "the final error grows with K"))
    out.append(Check.at_most(
        "denoising_fixed_point", "erf both layers: max |RHS| at the denoising configuration, "
        "sigma = 0", float(ds.denoising_residual.max()), 1e-10,
        "K = cM students copying each teacher unit with v = v*/c are a fixed point"))
    K_both = ds.K_both.values
    if len(K_both) > 1 and config.M in K_both:
        out.append(Check.at_most(
            "denoising_lowers_floor", "erf both layers: eps*(largest K) / eps*(K = M), "
            "denoising fixed points", float(both.sel(K_both=K_both.max())
                                           / both.sel(K_both=config.M)), 0.9,
            "training both layers, more units denoise: the final error decreases"))
    return out + (_sgd_checks(ds) if "eg_star_sim" in ds else [])


def _sgd_checks(ds: xr.Dataset) -> list[Check]:
    out = []
    for r in range(ds.sizes["run"]):
        run = ds.isel(run=r)
        g, K, first = str(run.activation.values), int(run.K_sim), run.layers == "first"
        mean = float(run.eg_star_sim.mean())
        law = float(run.eg_star_law)
        if np.isfinite(law):
            out.append(Check.at_most(f"sgd_law_{g}_K{K}", f"SGD {g} K = {K}: |eps*_sim / law "
                                     "- 1| (seed mean)", abs(mean / law - 1.0), 0.1,
                                     "SGD settles on the exact linear noise floor"))
        if first:
            solved = run.ode_solved.values
            both = (float(run.eg_star_theory.values[solved].mean())
                    / float(run.eg_star_sim.values[solved].mean())) if solved.any() else np.nan
            out.append(Check.at_most(
                f"ode_vs_sgd_{g}_K{K}", f"SGD {g} K = {K}: |eps*_ODE / eps*_sim - 1| (means "
                "over the seeds whose ODE solved)", abs(both - 1.0), 0.1,
                "the ODE from each seed's start ends on SGD's noise floor"))
    for g in np.unique(ds.activation.values):
        for layers in np.unique(ds.layers.values):
            sel = ds.isel(run=np.flatnonzero((ds.activation.values == g)
                                             & (ds.layers.values == layers))).sortby("K_sim")
            if sel.sizes["run"] < 2:
                continue
            ok = ~sel.stuck_sim.values
            med = np.array([np.median(e[m]) if m.any() else np.nan
                            for e, m in zip(sel.eg_star_sim.values, ok)])
            if layers == "first":
                ode = np.array([np.median(e[np.isfinite(e)]) if np.isfinite(e).any()
                                else np.nan for e in sel.eg_star_theory.values])
                out += [Check.at_least(f"sgd_grows_{g}", f"SGD {g} first layer: min median "
                                       "eps*(K') / eps*(K)", float(np.min(med[1:] / med[:-1])),
                                       1.0, "training the first layer only, the final error "
                                       "grows with K"),
                        Check.at_least(f"ode_grows_{g}", f"ODE {g} first layer: min median "
                                       "eps*(K') / eps*(K)", float(np.min(ode[1:] / ode[:-1])),
                                       1.0, "the ODE's final error grows with K too")]
            else:
                out += [Check.at_most(f"sgd_both_flat_{g}", f"SGD {g} both layers: max median "
                                      "eps*(K) / eps*(K = M), runs not stuck",
                                      float(np.nanmax(med[1:] / med[0])), 1.1,
                                      "training both layers, the final error does not grow "
                                      "with K"),
                        Check.at_most(f"sgd_both_stuck_{g}", f"SGD {g} both layers: fraction "
                                      "of runs stuck on a dead unit",
                                      float(sel.stuck_sim.mean()), 0.5, "most runs leave the "
                                      "dead-unit plateau (stuck runs are not averaged)")]
    return out + [Check.at_least(
        "ode_solved", "ODE beside SGD: fraction of (run, seed) solves that finished within "
        f"{ODE_MAX_STEPS} steps", float(ds.ode_solved.mean()), 0.9,
        "a stalled seed is left out of the ODE comparisons; more than one in ten would leave "
        "them thin")]


def figures(ds: xr.Dataset, config: OverparamConfig) -> dict:
    """eps_g* against K from the fixed points, and the SGD runs with their ODEs."""
    out = {"final_error_vs_K": plots.final_errors(ds, config)}
    if "eg_sim" in ds:
        out["sgd_runs"] = plots.sgd_runs(ds, config)
    return out


STUDY = Study(
    name="teacher_student_overparam",
    claim="With label noise, over-parameterised students trained on the first layer only end "
          "with an error growing with K; training both layers, the error does not grow "
          "(erf: denoising lowers it).",
    paper="Goldt, Advani, Saxe, Krzakala & Zdeborova, Dynamics of stochastic gradient descent "
          "for two-layer neural networks in the teacher-student setup, NeurIPS 2019",
    config=OverparamConfig,
    presets={
        "quick": Preset(seeds=1, doc="fixed points (erf K = 2-4, linear K = 1-4, erf both "
                                     "layers K = 2, 4, 6) and first-layer SGD runs of erf, "
                                     "ReLU and linear students, K = 2, 3, 4 (N = 200)"),
        "paper": Preset(
            seeds=10,
            values=dict(erf_K=(2, 3, 4, 5, 6), erf_lrs=(0.01, 0.02, 0.05), both_K=(2, 4, 6),
                        sgd_activations=("erf", "relu", "linear"), sgd_modes=("first", "both"),
                        sgd_K=(2, 4, 6), sgd_N=784, sgd_lr=0.05, sgd_sigma=0.01,
                        sgd_t_max=3000.0, average_fraction=0.1, dtype="float64"),
            doc="Goldt et al. Figs. 2-4-type sweep (N = 784, the reference code's default; "
                "lr, sigma and t are our choices)",
            cost="about 1.5-2 h on an idle 2-core CPU (measured: SGD 31 min per trained-layer "
                 "mode; the ODE beside every seed adds the rest); resumes when rerun; a GPU is "
                 "much faster"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
