"""Figures of Lufkin, Saxe & Grant (NeurIPS 2024) drawn from a :func:`simulate.compare` dataset:
weight profiles (sites x time and final), IPR over time, final IPR against kurtosis, phi(a)."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..core import plotting
from . import data, theory

__all__ = ["ipr_over_time", "ipr_vs_kurtosis", "many_fields", "many_median_ipr", "phi_curves",
           "weight_profiles"]


def _reference_lines(ax, L: int, *, side: str = "right") -> None:
    """IPR of uniform weights (1/L) and of a random init (~3/L), labelled at one side."""
    x = 1.0 if side == "right" else 0.0
    for value, text in ((1.0 / L, "uniform"), (3.0 / L, "random init")):
        ax.axhline(value, color="0.6", lw=0.8, ls=":")
        ax.annotate(text, (x, value), xycoords=("axes fraction", "data"), ha=side,
                    va="bottom", fontsize=7, color="0.4")


def weight_profiles(ds: xr.Dataset, *, seed_index: int = 0) -> Figure:
    """Per data set: w_i(t) / max_i |w_i(t)| as site x time maps (SGD, ODE, one seed; time on
    a log axis from the first record) and the final profiles of every seed (SGD solid, ODE
    dashed)."""
    names = list(ds.dataset.values)
    fig, axes = plotting.figure(3, len(names), width=3.3, height=1.9)
    t = ds.time.values[1:].astype(float)
    edges = np.concatenate([[t[0] ** 1.5 / t[1] ** 0.5], np.sqrt(t[1:] * t[:-1]), [t[-1]]])
    sites = ds.site.values
    site_edges = np.arange(len(sites) + 1) - 0.5
    for row, d in enumerate(names):
        sel = ds.sel(dataset=d)
        for col, kind in enumerate(("sim", "theory")):
            w = sel[f"weights_{kind}"].isel(seed=seed_index).values[1:]
            w = w / np.abs(w).max(axis=-1, keepdims=True)
            ax = axes[row, col]
            im = ax.pcolormesh(site_edges, edges, w, cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_yscale("log")
            ax.grid(False)
            ax.set_title(f"{sel.label.item()}: {'SGD' if kind == 'sim' else 'effective ODE'}",
                         fontsize=9)
            ax.set_ylabel("SGD step")
        colors = plotting.colors(sel.sizes["seed"])
        ax = axes[row, 2]
        for s, c in enumerate(colors):
            ax.plot(sites, sel.weights_sim.isel(seed=s, time=-1), color=c, lw=1.4)
            ax.plot(sites, sel.weights_theory.isel(seed=s, time=-1), color=c, lw=1.4, ls="--")
        ax.set_title(f"{sel.label.item()}: final weights (all seeds)", fontsize=9)
        ax.set_ylabel("$w_i$")
    for ax in axes[-1]:
        ax.set_xlabel("site $i$")
    fig.colorbar(im, ax=axes[-1, :2], location="bottom", shrink=0.6, aspect=40,
                 ticks=[-1, -0.5, 0, 0.5, 1], label=r"$w_i / \max_i |w_i|$ (seed 0)")
    axes[0, 2].legend(handles=[Line2D([], [], color="0.3", lw=1.4, label="SGD"),
                               Line2D([], [], color="0.3", lw=1.4, ls="--",
                                      label="effective ODE")],
                      fontsize=7, loc="upper right")
    return fig


def ipr_over_time(ds: xr.Dataset, L: int) -> Figure:
    """IPR of SGD (markers, band over seeds) and the ODE (lines) per data set on a log time
    axis, and the cosine between SGD and ODE weights (seed mean)."""
    fig, axes = plotting.figure(2, width=3.4, height=3.0)
    colors = plotting.colors(ds.sizes["dataset"])
    t = ds.time.values[1:]
    ax, ax_c = axes[0]
    ax.set(xscale="log", yscale="log")
    ax_c.set_xscale("log")
    for d, c in zip(ds.dataset.values, colors):
        sel = ds.sel(dataset=d).isel(time=slice(1, None))
        plotting.sim_band(ax, t, sel.ipr_sim.values, color=c, max_markers=20)
        plotting.theory_line(ax, t, sel.ipr_theory.mean("seed"), color=c)
        ax_c.plot(t, sel.cosine_sim_theory.mean("seed"), "o-", color=c, lw=0.8, ms=2.5,
                  mfc="none")
    _reference_lines(ax, L)
    ax.set(xlabel="SGD step", ylabel="IPR", title="localization over training")
    ax_c.set(xlabel="SGD step", ylabel="cosine(SGD, ODE weights)",
             title="SGD against the effective ODE")
    _legend_below(fig, ds, colors)
    return fig


def _legend_below(fig: Figure, ds: xr.Dataset, colors) -> None:
    """Style keys (theory line, simulation markers) and data-set colours under the panels."""
    handles = [Line2D([], [], color="0.3", lw=1.6, label="theory"),
               Line2D([], [], color="0.3", marker="o", mfc="none", ls="none",
                      label="simulation")]
    handles += [Line2D([], [], color=c, lw=3, label=str(lbl))
                for lbl, c in zip(ds.label.values, colors)]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
               fontsize=8)


def ipr_vs_kurtosis(ds: xr.Dataset, L: int) -> Figure:
    """Final IPR against the exact kurtosis: SGD markers (seed mean +- std), ODE lines, one
    colour per family (Alg(k), NLGP, others as single points); kurtosis 3 as a vertical line.
    Infinite kurtosis (Alg(k <= 4)) is left out."""
    fam = {}
    for d in ds.dataset.values:
        name = {"Alg": "Alg(k)", "NLGP": "NLGP"}.get(type(data.parse(str(d))).__name__, "other")
        fam.setdefault(name, []).append(str(d))
    fig, axes = plotting.figure(1, width=4.4, height=3.4)
    ax = axes[0, 0]
    colors = plotting.colors(len(fam))
    for members, c in zip(fam.values(), colors):
        sel = ds.sel(dataset=members).sortby("kurtosis")
        sel = sel.isel(dataset=np.isfinite(sel.kurtosis.values))
        k = sel.kurtosis.values
        sim = sel.ipr_sim.isel(time=-1)
        ax.errorbar(k, sim.mean("seed"), yerr=sim.std("seed"), fmt="o", mfc="none", color=c,
                    ms=5, capsize=2)
        plotting.theory_line(ax, k, sel.ipr_theory.isel(time=-1).mean("seed"), color=c,
                             marker=".")
    ax.axvline(3.0, color="k", lw=0.8, ls="--")
    ax.annotate(r"Gaussian $\kappa = 3$", (3.05, 0.97), xycoords=("data", "axes fraction"),
                ha="left", va="top", fontsize=7)
    _reference_lines(ax, L, side="left")
    ax.set(xlabel=r"marginal kurtosis $\kappa = E[x^4]$", ylabel="final IPR", yscale="log")
    plotting.legend_theory_sim(ax, [(n, c) for n, c in zip(fam, colors)], fontsize=7,
                               loc="upper right", bbox_to_anchor=(1.0, 0.88))
    return fig


def phi_curves(ds: xr.Dataset, L: int) -> Figure:
    """phi(a)/phi'(0) - a per data set (lines) with the Monte Carlo drive 2 E_1[x 1{s>0}] at
    a random w (markers), and [phi(a)/phi'(0) - a] / a^3 against its small-a limit
    (3 - kappa)/6 (marked at a = 0; heavy tails have no such limit). phi'(0) is sqrt(2/pi)
    for copula/NLGP data and c_ell for elliptical data (whose drive is exactly linear)."""
    fig, axes = plotting.figure(2, width=3.5, height=3.1)
    ax, ax_b = axes[0]
    a = ds.a.values
    pos = a >= 0.05
    colors = plotting.colors(ds.sizes["dataset"])
    for d, c in zip(ds.dataset.values, colors):
        sel = ds.sel(dataset=d)
        m = data.parse(str(d))
        slope = (theory.c_elliptical(m, L) if isinstance(m, data.Elliptical)
                 else math.sqrt(2 / math.pi))
        dev = sel.phi_theory.values / slope - a
        plotting.theory_line(ax, a, dev, color=c)
        a_w = sel.drive_a.values
        ax.plot(a_w, 2 * sel.drive_sample.values / slope - a_w, "o", mfc="none", ms=3.5,
                color=c)
        plotting.theory_line(ax_b, a[pos], dev[pos] / a[pos] ** 3, color=c)
        if data.finite_moment(m, 6) and not isinstance(m, data.Elliptical):
            ax_b.plot([0.0], [(3.0 - float(sel.kurtosis)) / 6.0], "D", color=c, ms=5)
    ax.axhline(0, color="0.5", lw=0.8, ls="--")
    ax.set(xlabel="$a$", ylabel=r"$\varphi(a)/\varphi'(0) - a$",
           title="drive beyond its linear part")
    ax_b.axhline(0, color="0.5", lw=0.8, ls="--")
    ax_b.set(xlabel="$a$", ylabel=r"$[\varphi(a)/\varphi'(0) - a] / a^3$",
             title="localization amplifier", xlim=(-0.03, 1.0))
    ax_b.legend(handles=[Line2D([], [], color="0.3", marker="D", ls="none",
                                label=r"$(3-\kappa)/6$")], fontsize=7, loc="upper right")
    _legend_below(fig, ds, colors)
    return fig


def many_fields(ds: xr.Dataset, L: int, *, seed_index: int = 0) -> Figure:
    """Per data set: final weights of every neuron (rows sorted by SGD peak site, each scaled
    by its max |w|) for SGD and, if present, the closure ODE; and each neuron's final IPR."""
    kinds = [k for k in ("sim", "theory") if f"weights_{k}" in ds]
    names = list(ds.dataset.values)
    fig, axes = plotting.figure(len(kinds) + 1, len(names), width=3.2, height=2.1)
    for row, d in enumerate(names):
        sel = ds.sel(dataset=d).isel(seed=seed_index, time=-1)
        order = np.argsort(sel.peak_site_sim.values, kind="stable")
        for col, kind in enumerate(kinds):
            w = sel[f"weights_{kind}"].values[order]
            ax = axes[row, col]
            im = ax.imshow(w / np.abs(w).max(axis=-1, keepdims=True), aspect="auto",
                           cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest",
                           origin="lower")
            ax.grid(False)
            who = "SGD" if kind == "sim" else "closure ODE (ours)"
            ax.set(title=f"{sel.label.item()}: {who}", ylabel="neuron (by peak)")
            ax.title.set_fontsize(9)
        ax = axes[row, -1]
        rank = np.arange(1, sel.sizes["neuron"] + 1)
        ax.plot(rank, np.sort(sel.ipr_sim.values)[::-1], "o", mfc="none", ms=4, color="C0")
        if "ipr_theory" in sel:
            plotting.theory_line(ax, rank, np.sort(sel.ipr_theory.values)[::-1], color="C1")
        ax.axhline(4.0 / L, color="0.5", lw=0.8, ls="--")
        ax.set(yscale="log", ylabel="final IPR", title=f"{sel.label.item()}: neurons by IPR")
        ax.title.set_fontsize(9)
    for ax in axes[-1, :-1]:
        ax.set_xlabel("site $i$")
    axes[-1, -1].set_xlabel("neuron rank")
    fig.colorbar(im, ax=axes[-1, :-1], location="bottom", shrink=0.6, aspect=40,
                 ticks=[-1, 0, 1], label=r"$w_{ki} / \max_i |w_{ki}|$ (seed 0)")
    handles = [Line2D([], [], color="C0", marker="o", mfc="none", ls="none", label="SGD"),
               Line2D([], [], color="0.5", ls="--", label="IPR = 4/L")]
    if "ipr_theory" in ds:
        handles.insert(1, Line2D([], [], color="C1", label="closure ODE (ours)"))
    axes[0, -1].legend(handles=handles, fontsize=7, loc="upper right")
    return fig


def many_median_ipr(ds: xr.Dataset, L: int) -> Figure:
    """Median neuron IPR over training (SGD markers, closure ODE lines) and the final peak
    sites of the localized neurons (IPR > 4/L), one row per data set, all seeds."""
    fig, axes = plotting.figure(2, width=3.5, height=3.0)
    ax, ax_p = axes[0]
    colors = plotting.colors(ds.sizes["dataset"])
    t = ds.time.values[1:]
    ax.set(xscale="log", yscale="log")
    for row, (d, c) in enumerate(zip(ds.dataset.values, colors)):
        sel = ds.sel(dataset=d).isel(time=slice(1, None))
        plotting.sim_band(ax, t, sel.median_ipr_sim.values, color=c, max_markers=20)
        if "median_ipr_theory" in sel:
            plotting.theory_line(ax, t, sel.median_ipr_theory.mean("seed"), color=c)
        fin = ds.sel(dataset=d).isel(time=-1)
        peaks = fin.peak_site_sim.values[fin.ipr_sim.values > 4.0 / L]
        ax_p.plot(peaks, np.full(peaks.shape, row) + np.linspace(-0.25, 0.25, peaks.size),
                  "|", color=c, ms=6)
    _reference_lines(ax, L)
    ax.set(xlabel="SGD step", ylabel="median neuron IPR", title="localization over training")
    ax_p.set(xlim=(-0.5, L - 0.5), ylim=(-0.6, ds.sizes["dataset"] - 0.4),
             xlabel="peak site", title="peak sites (IPR > 4/L)")
    ax_p.set_yticks(range(ds.sizes["dataset"]), [str(x) for x in ds.label.values], fontsize=8)
    _legend_below(fig, ds, colors)
    return fig
