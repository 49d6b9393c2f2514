r"""Figures of the teacher-student studies (Goldt et al., NeurIPS 2019): theory as lines,
simulation as markers, one panel per activation, keys outside the data.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..core import plotting

__all__ = ["ACTIVATION_NAMES", "error_curves", "final_errors", "overlaps", "sgd_runs"]

ACTIVATION_NAMES = {"erf": r"erf($x/\sqrt{2}$)", "relu": "ReLU", "linear": "linear"}
EPS = r"$\epsilon_g$"
TIME = r"$t$ = steps / $N$"


def _style_keys(extra=()) -> list[Line2D]:
    keys = [Line2D([], [], color="0.3", lw=1.6, label="ODE (theory)"),
            Line2D([], [], color="0.3", marker="o", mfc="none", ls="none",
                   label="SGD (simulation)")]
    return keys + [Line2D([], [], label=label, **kw) for label, kw in extra]


def error_curves(ds: xr.Dataset, config) -> Figure:
    """eps_g(t): per activation a panel, per seed the ODE (line) through SGD (markers)."""
    acts = list(ds.activation.values)
    fig, axes = plotting.figure(len(acts), width=3.5, height=3.0)
    t = ds.time.values[1:]
    seeds = ds.seed.values
    colors = plotting.colors(len(seeds))
    for ax, g in zip(axes[0], acts):
        sel = ds.sel(activation=g)
        ax.set(xscale="log", yscale="log")
        for k, color in enumerate(colors):
            plotting.theory_line(ax, t, sel.eg_theory.values[k, 1:], color=color)
            plotting.sim_band(ax, t, sel.eg_sim.values[k:k + 1, 1:], color=color,
                              max_markers=30)
        if g == "erf" and "eg_sym_theory" in ds:
            ts = ds.time_sym.values[1:]
            ax.plot(ts, ds.eg_sym_theory.values[1:], "--", color="0.45")
            ax.axhline(float(ds.eg_plateau_theory), color="0.45", lw=0.8, ls=":")
        if "eg_floor_theory" in ds:
            ax.axhline(float(np.nanmean(sel.eg_floor_theory)), color="C3", lw=0.9, ls=":")
        low = float(np.nanmin(sel.eg_sim.values[:, 1:]))
        ax.set_ylim(max(low / 3, 1e-12), 2 * float(sel.eg_sim.max()))
        ax.set(xlabel=TIME, ylabel=EPS, title=ACTIVATION_NAMES[g])
    extra = [(f"seed {s}", dict(color=c, lw=3)) for s, c in zip(seeds, colors)]
    if "eg_sym_theory" in ds:
        extra += [("ODE from R = 0, Q = T = I", dict(color="0.45", ls="--")),
                  ("plateau fixed point", dict(color="0.45", ls=":"))]
    if "eg_floor_theory" in ds:
        extra.append(("noise floor (ODE)", dict(color="C3", ls=":")))
    fig.legend(handles=_style_keys(extra), loc="outside right center", fontsize=7)
    fig.suptitle(rf"$M$ = {config.M}, $K$ = {config.K}, $N$ = {config.N}, "
                 rf"$\eta$ = {config.lr:g}, $\sigma$ = {config.sigma:g}", fontsize=9)
    known = ("erf: SGD leaves the plateau up to ~35% earlier or later than its ODE"
             if "eg_sym_theory" in ds else "")
    if "relu" in acts:
        known += ("; " if known else "") + ("ReLU from small weights: SGD leaves its plateau "
                                            "earlier than the ODE")
    return plotting.captioned(fig, (
        "Generalisation error of online SGD (markers, one colour per seed) and of the ODE "
        "started from each seed's own initial overlaps (lines): the symmetric plateau, its "
        "escape and the noise floor set by the label noise"
        + (" (dashed: the ODE from the exactly symmetric start never escapes)"
           if "eg_sym_theory" in ds else "")
        + (f"; known differences, from finite-N noise on the plateau: {known}." if known
           else ".")))


def overlaps(ds: xr.Dataset, config) -> Figure:
    """R_in(t) and Q_ik(t) (and v_i(t) when trained) of seed 0, one row per activation."""
    acts = list(ds.activation.values)
    names = [("R", r"$R_{in}$", [(i, n) for i in ds.student.values for n in ds.teacher.values]),
             ("Q", r"$Q_{ik}$", [(i, k) for i in ds.student.values for k in ds.student2.values
                                 if k >= i])]
    if config.train_second_layer:
        names.append(("v", r"$v_i$", [(i,) for i in ds.student.values]))
    fig, axes = plotting.figure(len(names), len(acts), width=3.5, height=2.8)
    t = ds.time.values[1:]
    for r, g in enumerate(acts):
        sel = ds.sel(activation=g).isel(seed=0)
        for c, (name, label, indices) in enumerate(names):
            ax = axes[r, c]
            ax.set_xscale("log")
            cols = plotting.colors(len(indices))
            for idx, color in zip(indices, cols):
                dims = dict(zip(sel[f"{name}_sim"].dims[1:], idx))
                plotting.theory_line(ax, t, sel[f"{name}_theory"].sel(dims).values[1:],
                                     color=color)
                plotting.sim_band(ax, t, sel[f"{name}_sim"].sel(dims).values[None, 1:],
                                  color=color, max_markers=30)
            ax.set(xlabel=TIME, ylabel=label)
            ax.set_title(f"{ACTIVATION_NAMES[g]}, seed {int(sel.seed)}", fontsize=9)
            if r == 0:
                sub = label.strip("$").split("_")[0]
                keys = [Line2D([], [], color=col, lw=3,
                               label=f"${sub}_{{{''.join(str(i + 1) for i in idx)}}}$")
                        for idx, col in zip(indices, cols)]
                ax.legend(handles=keys, fontsize=7, ncol=min(len(keys), 4), loc="lower center",
                          bbox_to_anchor=(0.5, 1.12))
    fig.legend(handles=_style_keys(), loc="outside lower center", ncol=2, fontsize=7)
    return plotting.captioned(fig, (
        "Order parameters of seed 0 (markers: SGD; lines: the ODE from the same initial "
        "overlaps): the students first share the teacher units equally (plateau), then each "
        "specialises on one; they differ by O(1/sqrt N) fluctuations, and for ReLU from small "
        "weights by the earlier escape of SGD."))


def final_errors(ds: xr.Dataset, config) -> Figure:
    """eps_g* against K: erf and linear first layer (fixed points, laws, SGD), erf both layers
    (denoising fixed points)."""
    fig, axes = plotting.figure(3, width=3.5, height=3.0)
    ax = axes[0, 0]
    cols = plotting.colors(ds.sizes["eta"])
    M = config.M
    K = ds.K_erf.values
    for lr, color in zip(ds.eta.values, cols):
        unit = lr * config.sigma**2 / (2 * np.pi)
        ax.plot(K, ds.erf_floor_theory.sel(eta=lr) / unit, "o", mfc="none", color=color,
                label=rf"ODE fixed point, $\eta$ = {lr:g}")
    ax.plot(K, (K - M) + M / np.sqrt(3), "-", color="0.3", lw=1.4,
            label=r"law $L + M/\sqrt{3}$")
    ax.set(xlabel=r"student width $K$",
           ylabel=r"$\epsilon_g^* \,/\, (\eta\sigma^2/2\pi)$",
           title="erf, first layer only")
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[0, 1]
    plotting.theory_line(ax, ds.K_linear, ds.linear_floor_law, color="0.3",
                         label=r"law $K\eta\sigma^2/(2(2-K\eta))$")
    ax.plot(ds.K_linear, ds.linear_floor_theory, "s", color="C0", ms=6, mfc="none",
            label="ODE fixed point")
    ax.set(xlabel=r"student width $K$", ylabel=r"$\epsilon_g^*$",
           title=rf"linear, first layer ($\eta$ = {config.linear_lr:g}, "
                 rf"$\sigma$ = {config.linear_sigma:g})")
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[0, 2]
    ax.plot(ds.K_both, ds.denoising_floor_theory, "o-", color="C2", mfc="none",
            label="ODE fixed point from\nthe denoising state")
    ax.set(xlabel=r"student width $K$", ylabel=r"$\epsilon_g^*$",
           title=rf"erf, both layers ($\eta$ = {config.both_lr:g})", yscale="log")
    ax.legend(fontsize=7, loc="upper right")
    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return plotting.captioned(fig, (
        rf"Final error with label noise ($\sigma$ = {config.sigma:g}) against the student's "
        "width: training the first layer only it grows with K (erf: ODE fixed points against "
        "the small-eta law, which they approach as eta falls; linear: the exact law), training "
        "both layers the denoising fixed points fall with K."))


def sgd_runs(ds: xr.Dataset, config) -> Figure:
    """SGD runs: eps_g(t) per activation (ODE from each seed's start as lines) and their final
    error against K with the ODE's and the law's."""
    acts = [g for g in ("erf", "relu", "linear") if g in set(ds.activation.values)]
    fig, axes = plotting.figure(len(acts), 2, width=3.5, height=2.9)
    t = ds.time.values
    widths = sorted(set(int(k) for k in ds.K_sim.values))
    cols = dict(zip(widths, plotting.colors(len(widths))))
    for c, g in enumerate(acts):
        runs = ds.isel(run=np.flatnonzero(ds.activation.values == g)).sortby("K_sim")
        ax = axes[0, c]
        ax.set(xscale="log", yscale="log")
        for k in range(runs.sizes["run"]):
            r = runs.isel(run=k)
            color = cols[int(r.K_sim)]
            solved = r.eg_theory.values[np.isfinite(r.eg_theory.values).all(1)]
            if len(solved):  # seeds whose ODE stalled are left out
                plotting.theory_line(ax, t[1:], solved[:, 1:].mean(0), color=color,
                                     ls="-" if str(r.layers.values) == "first" else "--")
            plotting.sim_band(ax, t[1:], r.eg_sim.values[:, 1:], color=color, max_markers=30)
        ax.set(xlabel=TIME, ylabel=rf"{EPS} (seed mean)", title=ACTIVATION_NAMES[g])
        ax = axes[1, c]
        for layers, ls in (("first", "-"), ("both", "--")):
            sub = runs.isel(run=np.flatnonzero(runs.layers.values == layers))
            if not sub.sizes["run"]:
                continue
            ok = ~sub.stuck_sim.values
            sim = [np.median(e[m]) if m.any() else np.nan
                   for e, m in zip(sub.eg_star_sim.values, ok)]
            ax.plot(sub.K_sim, sim, "o", mfc="none", color="C1", ms=6)
            ode = [np.median(e[np.isfinite(e)]) if np.isfinite(e).any() else np.nan
                   for e in sub.eg_star_theory.values]
            plotting.theory_line(ax, sub.K_sim, ode, color="C0", ls=ls, label=f"ODE, {layers} layer"
                                 + ("s" if layers == "both" else ""))
            law = sub.eg_star_law.values
            if np.isfinite(law).any():
                ax.plot(sub.K_sim, law, ":", color="0.3", label="exact law")
        ax.set(xlabel=r"student width $K$", ylabel=r"$\epsilon_g^*$ (median over seeds)",
               yscale="log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(handles=ax.get_legend_handles_labels()[0] + [Line2D(
            [], [], color="C1", marker="o", mfc="none", ls="none", label="SGD")],
            fontsize=7, loc="upper left")
    keys = [(f"K = {k}", dict(color=col, lw=3)) for k, col in cols.items()]
    if "both" in set(ds.layers.values):
        keys.append(("both layers trained (ODE dashed)", dict(color="0.3", ls="--")))
    fig.legend(handles=_style_keys(keys), loc="outside lower center", ncol=len(keys) + 2,
               fontsize=7)
    return plotting.captioned(fig, (
        rf"Long SGD runs ($N$ = {config.sgd_N}, $\eta$ = {config.sgd_lr:g}, "
        rf"$\sigma$ = {config.sgd_sigma:g}; markers) with the ODE integrated from each seed's "
        "own start (lines): training the first layer only, the final error grows with K for "
        "erf, ReLU and linear students, in SGD and ODE alike; the ODE leaves plateaus later "
        "than SGD where finite-N noise breaks the symmetry first (ReLU from small weights)."))
