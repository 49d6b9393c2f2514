"""Study ``icl_transience_toy``: the coopetition minimal model shows ICL emerging then fading.

Singh, Moskovitz, Dragutinović, Hill, Chan & Saxe, *Strategy Coopetition Explains the
Emergence and Transience of In-Context Learning*, ICML 2025 (arXiv:2503.05631), Sec. 5 and
App. Four vectors a, b, c in R^20, d in R^160 are trained by plain gradient descent (lr 1) on
L = (L_abc + mu1)(L_dbc + mu2) + alpha mean((a (x) d)^2) / 2 (:mod:`learndyn.icl_transience.toy`).
Mechanism 1 (ICL, L_abc) usually forms first, mechanism 2 (CIWL, L_dbc) forms slowly on the
shared b, c, and once it is complete the competition term removes a: L_abc rises back to its
no-ICL value. Controls: alpha = 0 (no competition: ICL persists) and mu1 = 0 (no drive on d
once ICL is learned: CIWL never takes over).

The simulation differentiates the tensor losses (autodiff, float64, seeds drawn inside the
compiled program); the theory is the exact 8-variable overlap map started from each run's own
initial overlaps and norms. Time is counted in gradient steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study, check_batch
from ..icl_transience import toy

__all__ = ["BATCH_FIELDS", "STUDY", "ToyConfig", "checks", "figures", "run", "run_batch"]

SCALARS = ("loss_icl", "loss_ciwl", "cost", "loss")
VECTOR_QUANTITIES = ("overlap", "sqnorm", "sqnorm_orth")
LABELS = ("t_icl", "t_ciwl", "icl_rebound", "icl_emerged", "ciwl_completed", "transient")
NAMES = {"loss_icl": "ICL loss $L_{abc}$", "loss_ciwl": "CIWL loss $L_{dbc}$",
         "cost": "competition cost mean$((a\\otimes d)^2)/2$", "loss": "total loss $L$",
         "overlap": "overlap $v\\cdot v^*$", "sqnorm": "squared norm $|v|^2$",
         "sqnorm_orth": "squared norm orthogonal to the target",
         "t_icl": "step of the ICL-loss minimum", "t_ciwl": "first step with CIWL complete",
         "icl_rebound": "final $L_{abc}$ / $L_{abc}(a=0)$", "icl_emerged": "ICL emerged",
         "ciwl_completed": "CIWL completed", "transient": "ICL transient"}


@dataclass(frozen=True)
class ToyConfig(Config):
    """The coopetition toy model (the paper's values are the defaults)."""

    sizes: tuple[int, ...] = param((20, 20, 20, 160), "sizes of a, b, c, d", ge=1)
    mu1: float = param(0.1, "offset mu1 on the ICL loss (drive on d)", ge=0)
    mu2: float = param(0.0, "offset mu2 on the CIWL loss (drive on a)", ge=0)
    alpha: float = param(0.1, "competition strength alpha", ge=0)
    lr: float = param(1.0, "gradient-descent step size", gt=0)
    num_steps: int = param(16000, "gradient steps", ge=1)
    record_every: int = param(50, "steps between records", ge=1)
    controls: bool = param(True, "also run the controls alpha = 0 and mu1 = 0 on the same seeds")
    dtype: str = param("float64", "simulation precision", choices=("float32", "float64"))

    def validate(self) -> None:
        if len(self.sizes) != 4:
            raise ConfigError(f"config field 'sizes': four sizes (a, b, c, d), got {self.sizes}")
        if self.num_steps % self.record_every:
            raise ConfigError(f"config field 'record_every': must divide num_steps = "
                              f"{self.num_steps}, got {self.record_every}")

    def conditions(self) -> list[tuple[str, float, float]]:
        """(name, mu1, alpha) of the main run and the controls."""
        out = [("coopetition", self.mu1, self.alpha)]
        return out + ([("alpha_0", self.mu1, 0.0), ("mu1_0", 0.0, self.alpha)]
                      if self.controls else [])


def _stack(values: dict, q: str) -> np.ndarray:
    return np.stack([values[f"{q}_{v}"] for v in toy.VECTORS], -1)


#: fields that keep every array shape: a sweep over them runs as one vmapped program
BATCH_FIELDS = ("mu1", "mu2", "alpha", "lr")


def run(config: ToyConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Simulate every condition on every seed and iterate the overlap map beside it."""
    return run_batch([config], seeds=seeds, progress=progress)[0]


def run_batch(configs, *, seeds, progress: Progress | None = None) -> list[xr.Dataset]:
    """:func:`run` for configs differing only in :data:`BATCH_FIELDS`: every condition of
    every config in one vmapped program (the same seeds, so the same initial vectors)."""
    check_batch(configs, BATCH_FIELDS)
    config = configs[0]
    rows = [(i, *cond, c.mu2, c.lr) for i, c in enumerate(configs) for cond in c.conditions()]
    which, names, mu1, alpha, mu2, lr = (np.array(x) for x in zip(*rows))
    hyper = dict(sizes=config.sizes, steps=config.num_steps, record_every=config.record_every)
    sim, target_sq = toy.simulate_seeds(
        seeds, mu1=mu1, alpha=alpha, mu2=mu2, lr=lr, dtype=config.dtype, progress=progress,
        vmap_seeds=jax.default_backend() != "cpu", **hyper)
    lead = {k: v[:, None] for k, v in dict(mu1=mu1, alpha=alpha, mu2=mu2, lr=lr).items()}
    th = toy.theory_from_overlaps(_stack(sim, "overlap")[..., 0, :],
                                  _stack(sim, "sqnorm_orth")[..., 0, :], target_sq[None],
                                  **lead, **hyper)
    # the map restarted from the simulation's state at every record, one record ahead
    ahead = toy.theory_from_overlaps(
        _stack(sim, "overlap")[..., :-1, :], _stack(sim, "sqnorm_orth")[..., :-1, :],
        target_sq[None, :, None], **{k: v[..., None] for k, v in lead.items()},
        **{**hyper, "steps": config.record_every})
    one_record = np.max([np.max(np.abs(ahead[k][..., 1] - sim[k][..., 1:]), -1)
                         / np.max(np.abs(sim[k]), -1) for k in toy.OBSERVABLES], axis=0)
    out = []
    for i, c in enumerate(configs):
        part = which == i
        out.append(_dataset(c, seeds, names[part],
                            {k: v[part] for k, v in sim.items()},
                            {k: v[part] for k, v in th.items()}, one_record[part], target_sq))
    return out


def _dataset(config: ToyConfig, seeds, names, sim, th, one_record, target_sq) -> xr.Dataset:
    """One config's conditions: simulation, overlap map and labels."""
    steps = np.arange(0, config.num_steps + 1, config.record_every)
    none = toy.no_mechanism_losses(target_sq, config.sizes)
    dims = ("condition", "seed", "time")
    data = {}
    for kind, vals in (("sim", sim), ("theory", th)):
        for q in SCALARS:
            data[f"{q}_{kind}"] = (dims, vals[q], {"long_name": NAMES[q]})
        for q in VECTOR_QUANTITIES:
            data[f"{q}_{kind}"] = ((*dims, "vector"), _stack(vals, q), {"long_name": NAMES[q]})
        lab = toy.labels(steps, vals["loss_icl"], vals["loss_ciwl"], none[0], none[1])
        for q in LABELS:
            units = {"units": "steps"} if q.startswith("t_") else {}
            data[f"{q}_{kind}"] = (dims[:2], lab[q], {"long_name": NAMES[q], **units})
    data["map_one_record_error"] = (dims[:2], one_record, {
        "long_name": "largest relative error of the overlap map restarted from the "
                     "simulation at each record, one record ahead"})
    data["loss_icl_none"] = (("seed",), none[0], {"long_name": "$L_{abc}(a=0)$ (no ICL)"})
    data["loss_ciwl_none"] = (("seed",), none[1], {"long_name": "$L_{dbc}(d=0)$ (no CIWL)"})
    data["target_sqnorm"] = (("seed", "vector"), target_sq,
                             {"long_name": "squared norm of the target $|v^*|^2$"})
    ds = xr.Dataset(data, coords={
        "condition": ("condition", names, {"long_name": "run or control"}),
        "seed": ("seed", list(seeds), {"long_name": "seed"}),
        "time": ("time", steps, {"long_name": "gradient steps", "units": "steps"}),
        "step": ("time", steps, {"long_name": "gradient steps", "units": "steps"}),
        "vector": ("vector", list(toy.VECTORS), {"long_name": "vector"})})
    return ds


def _trajectory_error(ds: xr.Dataset, conditions) -> float:
    err = 0.0
    for q in (*SCALARS, *VECTOR_QUANTITIES):
        sim, th = ds[f"{q}_sim"].sel(condition=conditions), ds[f"{q}_theory"].sel(
            condition=conditions)
        scale = np.abs(th).max("time")
        err = max(err, float((np.abs(sim - th).max("time") / scale).max()))
    return err


def _emerged_max(ds: xr.Dataset, condition: str, values: xr.DataArray, how: str) -> float:
    """max (or min) of per-seed ``values`` over the seeds where ICL emerged (NaN if none)."""
    emerged = ds.icl_emerged_sim.sel(condition=condition).values.astype(bool)
    v = np.asarray(values)[emerged]
    return float(getattr(np, how)(v)) if len(v) else float("nan")


def checks(ds: xr.Dataset, config: ToyConfig) -> list[Check]:
    """The toy's claims on every seed (quick = paper values; measured values in brackets).

    - exact reduction: the overlap map restarted from the simulation's state at each record
      predicts the next record to relative 1e-8 in every condition [<1e-12]; whole trajectories
      agree to 1e-8 in the coopetition run and the alpha = 0 control [~1e-12]. Relative error
      = max over time |sim - theory| / max over time |theory|, per quantity, seed and run.
      Whole trajectories of the mu1 = 0 control are not compared: with mu1 = mu2 = 0 gradient
      descent at lr 1 meets repeated loss spikes (step size at the stability edge) where
      rounding differences of 1e-16 grow to 1e-2, in the map against itself as well (tested);
    - transience: at least half the seeds transient (the paper: 6 of 12) [10 of 12];
    - alpha = 0: every seed where ICL emerged ends with L_abc <= 0.1 L_abc(a=0) [0.01];
    - mu1 = 0: at most one seed transient [0]; where ICL emerged, L_dbc stays >= 0.1
      L_dbc(d=0) [0.95] and the final L_abc <= 0.1 L_abc(a=0) [~0].

    A control check over "every seed where ICL emerged" is NaN (fails) when none emerged.
    """
    names = list(ds.condition.values)
    transient = ds.transient_sim.sel(condition="coopetition")
    out = [
        Check.at_most("exact_map_per_record",
                      "overlap map vs simulation, one record ahead (relative, max)",
                      float(ds.map_one_record_error.max()), 1e-8,
                      "the 8-variable overlap map is the exact gradient-descent dynamics"),
        Check.at_most("exact_trajectory", "overlap map vs simulation, whole run (relative, max)",
                      _trajectory_error(ds, [n for n in names if n != "mu1_0"]), 1e-8,
                      "the overlap map reproduces whole trajectories"),
        Check.at_least("transient_seeds", "seeds where ICL emerges and then fades",
                       float(transient.sum()), 0.5 * ds.sizes["seed"],
                       "ICL emerges first and fades once CIWL completes, in most seeds"),
    ]
    if "alpha_0" not in names:
        return out
    ratio = ds.icl_rebound_sim
    floor = (ds.loss_ciwl_sim / ds.loss_ciwl_none).min("time")
    out += [
        Check.at_most("alpha0_no_rebound", "alpha = 0: final L_abc / L_abc(a=0), ICL seeds (max)",
                      _emerged_max(ds, "alpha_0", ratio.sel(condition="alpha_0"), "max"), 0.1,
                      "without competition ICL persists after CIWL is learned"),
        Check.at_most("mu1_0_transient", "mu1 = 0: transient seeds",
                      float(ds.transient_sim.sel(condition="mu1_0").sum()), 1,
                      "without the drive on d, CIWL does not take over"),
        Check.at_least("mu1_0_ciwl_never", "mu1 = 0: min L_dbc / L_dbc(d=0), ICL seeds (min)",
                       _emerged_max(ds, "mu1_0", floor.sel(condition="mu1_0"), "min"), 0.1,
                       "once ICL is learned, nothing drives CIWL"),
        Check.at_most("mu1_0_icl_persists", "mu1 = 0: final L_abc / L_abc(a=0), ICL seeds (max)",
                      _emerged_max(ds, "mu1_0", ratio.sel(condition="mu1_0"), "max"), 0.1,
                      "ICL persists when CIWL never forms"),
    ]
    return out


# ---- figures ------------------------------------------------------------------------------
COLORS = {"loss_icl": "C0", "loss_ciwl": "C1"}
LABEL = {"loss_icl": "ICL $L_{abc}/L_{abc}(a{=}0)$", "loss_ciwl": "CIWL $L_{dbc}/L_{dbc}(d{=}0)$"}


def _normalised(ds, q, kind, **sel):
    none = ds[f"{q}_none"]
    return (ds[f"{q}_{kind}"] / none).sel(**sel)


def _seed_panel(ax, ds, seed, condition):
    t = ds.time.values
    for q in ("loss_icl", "loss_ciwl"):
        plotting.theory_line(ax, t, _normalised(ds, q, "theory", condition=condition, seed=seed),
                             color=COLORS[q])
        sim = _normalised(ds, q, "sim", condition=condition, seed=seed).values
        idx = np.linspace(0, len(t) - 1, 33).astype(int)
        ax.plot(t[idx], sim[idx], "o", mfc="none", ms=3.5, mew=0.9, color=COLORS[q])
    ax.axhline(1.0, color="0.5", ls=":", lw=0.8)


def figures(ds: xr.Dataset, config: ToyConfig) -> dict:
    """Per-seed losses of the coopetition run; the three runs side by side."""
    seeds = ds.seed.values
    cols = 3
    rows = int(np.ceil(len(seeds) / cols))
    fig_s, axes = plotting.figure(cols, rows, width=3.3, height=2.3, sharex=True, sharey=True)
    for ax, seed in zip(axes.flat, seeds):
        _seed_panel(ax, ds, seed, "coopetition")
        tag = "transient" if bool(ds.transient_sim.sel(condition="coopetition", seed=seed)) \
            else ("ICL persists" if bool(ds.icl_emerged_sim.sel(condition="coopetition",
                                                               seed=seed)) else "no ICL")
        ax.set_title(f"seed {seed}: {tag}", fontsize=9)
    for ax in axes.flat[len(seeds):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("gradient steps")
    for ax in axes[:, 0]:
        ax.set_ylabel("loss / no-mechanism loss")
    plotting.legend_theory_sim(axes[0, 0], [(LABEL[q], COLORS[q]) for q in COLORS],
                               fontsize=7, loc="upper right")
    fig_s = plotting.captioned(fig_s, "Each seed's ICL loss (blue) falls first, then the CIWL "
                               "loss (orange) falls and the ICL loss climbs back to its no-ICL "
                               "level (dotted): transience; the overlap map (lines) and "
                               "gradient descent (markers) coincide.")

    conditions = list(ds.condition.values)
    titles = {"coopetition": f"$\\mu_1$={config.mu1}, $\\alpha$={config.alpha}",
              "alpha_0": "control $\\alpha$ = 0", "mu1_0": "control $\\mu_1$ = 0"}
    fig_c, axes = plotting.figure(len(conditions), 2, width=3.3, height=2.4, sharex=True,
                                  sharey="row")
    trans = ds.transient_sim.sel(condition="coopetition").values.astype(bool)
    hi = seeds[np.argmax(trans)] if trans.any() else seeds[0]
    t = ds.time.values
    for j, cond in enumerate(conditions):
        for i, q in enumerate(("loss_icl", "loss_ciwl")):
            ax = axes[i, j]
            for seed in seeds:
                ax.plot(t, _normalised(ds, q, "theory", condition=cond, seed=seed), color="0.75",
                        lw=0.7)
            plotting.theory_line(ax, t, _normalised(ds, q, "theory", condition=cond, seed=hi),
                                 color=COLORS[q])
            sim = _normalised(ds, q, "sim", condition=cond, seed=hi).values
            idx = np.linspace(0, len(t) - 1, 33).astype(int)
            ax.plot(t[idx], sim[idx], "o", mfc="none", ms=3.5, mew=0.9, color=COLORS[q])
            ax.axhline(1.0, color="0.4", ls=":", lw=0.8)
            if j == 0:
                ax.set_ylabel(LABEL[q])
        n_t = int(ds.transient_sim.sel(condition=cond).sum())
        n_e = int(ds.icl_emerged_sim.sel(condition=cond).sum())
        axes[0, j].set_title(f"{titles[cond]}\nICL emerged {n_e}/{len(seeds)}, transient "
                             f"{n_t}/{len(seeds)}", fontsize=9)
        axes[1, j].set_xlabel("gradient steps")
    axes[0, 0].set_ylim(-0.1, 2.6)
    plotting.legend_theory_sim(axes[0, 0], [(f"seed {hi}", "C0"), ("other seeds", "0.75")],
                               fontsize=7, loc="upper right")
    fig_c = plotting.captioned(fig_c, "With competition (left) ICL fades once CIWL completes; "
                               "with alpha = 0 it persists after CIWL is learned; with mu1 = 0 "
                               "CIWL never forms and ICL persists. Grey: every seed (overlap "
                               "map); colour: one seed, map (line) and gradient descent "
                               "(markers); in the mu1 = 0 control late loss spikes make single "
                               "trajectories sensitive to rounding.")
    return {"losses": fig_s, "controls": fig_c}


STUDY = Study(
    name="icl_transience_toy",
    claim="In the coopetition minimal model ICL emerges and then fades as the shared-factor "
          "CIWL mechanism completes; without competition (alpha = 0) ICL persists, and without "
          "the drive on CIWL (mu1 = 0) CIWL never takes over. An exact 8-variable map "
          "reproduces gradient descent.",
    paper="Singh, Moskovitz, Dragutinovic, Hill, Chan & Saxe, Strategy Coopetition Explains "
          "the Emergence and Transience of In-Context Learning, ICML 2025",
    config=ToyConfig,
    presets={
        "quick": Preset(seeds=12, doc="the paper's values: sizes (20, 20, 20, 160), mu1 0.1, "
                        "mu2 0, alpha 0.1, lr 1, 16,000 steps, 12 seeds, both controls"),
        "paper": Preset(seeds=12, doc="the same as quick (the toy is cheap)",
                                  cost="seconds"),
    },
    run=run,
    checks=checks,
    figures=figures,
    headline=lambda ds, config: float(ds.transient_sim.sel(condition="coopetition").mean()),
    headline_label="fraction of seeds with transient ICL",
    batch_fields=BATCH_FIELDS,
    run_batch=run_batch,
)
