"""Figures of the alignment studies (van Rossem & Saxe, ICML 2024): theory as lines, simulation
(micro-model or trained network) as markers, keys outside the data."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..core import plotting
from . import theory

__all__ = ["LABELS", "chain", "fits", "final", "rich_lazy", "structure", "trajectories"]

LABELS = {"h": r"$h = \|dh\|^2$", "y": r"$y = \|d\hat y\|^2$",
          "w": r"$w = y - \langle dy^*, d\hat y\rangle$", "loss": r"loss $L$"}
TIME = r"time $t$"
SIM = Line2D([], [], color="0.3", marker="o", mfc="none", ls="none", label="simulation")
THEORY = Line2D([], [], color="0.3", lw=1.6, label="theory (ODE)")


def _key(fig: Figure, entries, *, extra=(), ncol: int | None = None) -> None:
    handles = [THEORY, SIM, *extra] + [Line2D([], [], color=c, lw=3, label=name)
                                        for name, c in entries]
    fig.legend(handles=handles, loc="outside lower center", fontsize=7,
               ncol=ncol or min(len(handles), 4))


def trajectories(ds: xr.Dataset, config, max_seeds: int = 4) -> Figure:
    """h, y, w and the loss of the micro-model (markers) and its ODE (lines), per rate pair."""
    sel = ds.sel(convention="half_sum")
    pairs = list(ds.pair.values)
    names = ("h", "y", "w", "loss")
    fig, axes = plotting.figure(len(pairs), len(names), width=3.4, height=2.2)
    seeds = ds.seed.values[:max_seeds]
    colors = plotting.colors(len(seeds))
    t = ds.time_micro.values
    for col, pair in enumerate(pairs):
        for row, v in enumerate(names):
            ax = axes[row, col]
            for seed, color in zip(seeds, colors):
                plotting.theory_line(ax, t, sel[f"{v}_theory"].sel(pair=pair, seed=seed),
                                     color=color)
                plotting.sim_band(ax, t, sel[f"{v}_sim"].sel(pair=pair, seed=[seed]).values,
                                  color=color, max_markers=25)
            if v == "y":
                ax.axhline(config.dy2, color="0.5", lw=0.8, ls=":")
            if v == "loss":  # below ~1e-13 of the start the loss is round-off
                top = float(sel.loss_sim.sel(pair=pair).max())
                ax.set(yscale="log", ylim=(1e-13 * top, 3 * top))
            ax.set(ylabel=LABELS[v], xlabel=TIME if row == len(names) - 1 else "")
        axes[0, col].set_title(rf"$\eta_h$ = {ds.eta_h.values[col]:g}, "
                               rf"$\eta_y$ = {ds.eta_y.values[col]:g}", fontsize=9)
    _key(fig, [(f"seed {s}", c) for s, c in zip(seeds, colors)],
         extra=[Line2D([], [], color="0.5", ls=":", label=r"target $y = dy2$")], ncol=4)
    return plotting.captioned(fig, (
        "The micro-model's exact gradient flow (markers; random small starts, 1/2 sum loss) "
        "and the (h, y, w) ODE started from the same state (lines) coincide to integration "
        "accuracy (1e-14): the closure is exact for the micro-model."))


def rich_lazy(ds: xr.Dataset, config) -> Figure:
    """h_inf against h0 (formula, micro-model runs) and h(t) for several h0."""
    fig, axes = plotting.figure(2, 1, width=3.6, height=3.1)
    ax = axes[0, 0]
    colors = plotting.colors(ds.sizes["pair"])
    h0 = ds.h0.values
    dense = np.geomspace(h0.min() / 3, h0.max() * 3, 200)
    for pair, color in zip(ds.pair.values, colors):
        sel = ds.sel(pair=pair)
        curve = theory.final_distance(dense, config.y0, dx2=config.dx2, dy2=config.dy2,
                                      eta_h=float(sel.eta_h), eta_y=float(sel.eta_y))
        plotting.theory_line(ax, dense, np.asarray(curve), color=color)
        ax.plot(h0, sel.sweep_h_sim.isel(time=-1), "o", mfc="none", ms=6, color=color)
        ax.axhline(float(sel.h_rich_limit), color=color, ls="--", lw=0.9)
    ax.plot(dense, dense, ":", color="0.4", lw=1.0)
    ax.set(xscale="log", yscale="log", xlabel=r"initial $h_0 = \|dh(0)\|^2$",
           ylabel=r"final $h_\infty$", title="rich (small $h_0$) to lazy (large $h_0$)")
    ax = axes[0, 1]
    sel = ds.isel(pair=0)
    t = ds.time.values[1:]
    shown = h0[np.unique(np.linspace(0, len(h0) - 1, min(len(h0), 5)).round().astype(int))]
    hues = plotting.colors(len(shown))
    ax.set(xscale="log", yscale="log")  # before sim_band, which thins markers along the scale
    for h, color in zip(shown, hues):
        plotting.theory_line(ax, t, sel.sweep_h_theory.sel(h0=h).values[1:], color=color)
        plotting.sim_band(ax, t, sel.sweep_h_sim.sel(h0=[h]).values[:, 1:], color=color,
                          max_markers=18)
    ax.set(xscale="log", yscale="log", xlabel=TIME, ylabel=r"$h(t)$",
           title=rf"$\eta_h/\eta_y$ = {ds.pair.values[0]}")
    entries = [(rf"$\eta_h/\eta_y$ = {p}", c) for p, c in zip(ds.pair.values, colors)]
    entries += [(rf"$h_0$ = {h:.3g}", c) for h, c in zip(shown, hues)]
    _key(fig, entries, ncol=4, extra=[
        Line2D([], [], color="0.4", ls="--", label=r"rich limit $\sqrt{\eta_h/\eta_y}\,"
               r"\|dx\|\|dy^*\|$"),
        Line2D([], [], color="0.4", ls=":", label=r"lazy: $h_\infty = h_0$")])
    return plotting.captioned(fig, (
        r"Final representation distance against the initial one: small $h_0$ ends at the "
        "rate-scaled geometric mean of input and output distances (rich), large $h_0$ keeps "
        "its initial distance (lazy); the micro-model's gradient flow from each start "
        "(markers) lands on the fixed-point formula (line) and follows the ODE throughout."))


def chain(ds: xr.Dataset, config) -> Figure:
    """The scalar chain: ODE, deep_linear's closed form and gradient flow of (w1, w2)."""
    fig, axes = plotting.figure(3, width=3.3, height=2.8)
    colors = plotting.colors(ds.sizes["lam"])
    t = ds.time_chain.values
    for ax, v in zip(axes[0], "hyw"):
        for lam, color in zip(ds.lam.values, colors):
            plotting.theory_line(ax, t, ds[f"chain_{v}_theory"].sel(lam=lam), color=color)
            ax.plot(t, ds[f"chain_{v}_deep_linear"].sel(lam=lam), ":", color="k", lw=0.9)
            plotting.sim_band(ax, t, ds[f"chain_{v}_sim"].sel(lam=[lam]).values, color=color,
                              max_markers=25)
        ax.set(xlabel=TIME, ylabel=LABELS[v])
    _key(fig, [(rf"$\lambda$ = {lam:g}", c) for lam, c in zip(ds.lam.values, colors)], ncol=6,
         extra=[Line2D([], [], color="k", ls=":", lw=0.9,
                       label=r"deep_linear $\lambda$-balanced closed form")])
    return plotting.captioned(fig, (
        rf"The 1-1-1 scalar chain ($\eta$ = {config.chain_eta:g}): gradient flow of its two "
        "weights (markers), the (h, y, w) ODE (coloured lines) and deep_linear's closed-form "
        r"$\lambda$-balanced mode solution (dotted) coincide for every $\lambda$; the final "
        r"distance falls as $\lambda$ grows."))


def _pair_label(run) -> str:
    return rf"$dx2$ = {float(run.dx2):.3g}, $dy2$ = {float(run.dy2):.3g}"


def fits(ds: xr.Dataset, config) -> Figure:
    """Measured h, y, w and loss (markers) and the ODE with fitted rates (lines): the table runs
    of the first setting and the lazy contrast."""
    first = str(ds.setting.values[0])
    cols = [(f"{first}, gain {float(ds.gain.values[0]):g}", np.flatnonzero(
        (ds.regime.values == "table") & (ds.setting.values == first)))]
    lazy = np.flatnonzero(ds.regime.values == "lazy")
    if lazy.size:
        cols.append((f"lazy contrast, gain {float(ds.gain.values[lazy[0]]):g}", lazy))
    names = ("h", "y", "w", "loss")
    fig, axes = plotting.figure(len(cols), len(names), width=3.4, height=2.2)
    t = ds.time.values
    keys, seen = [], set()
    hues = plotting.colors(max(len(idx) for _, idx in cols))
    for c, (title, idx) in enumerate(cols):
        for k, color in zip(idx, hues):
            run = ds.isel(run=k)
            label = _pair_label(run)
            color = hues[0] if c else color
            if c == 0 or label not in seen:
                keys.append((label + (" (lazy)" if c else ""), color))
                seen.add(label)
            for r, v in enumerate(names):
                ax = axes[r, c]
                plotting.theory_line(ax, t, run[f"{v}_theory"].mean("seed").values, color=color)
                plotting.sim_band(ax, t, run[f"{v}_sim"].values, color=color, max_markers=30)
        for r, v in enumerate(names):
            axes[r, c].set(ylabel=LABELS[v], xlabel="epoch" if r == len(names) - 1 else "")
        top = float(ds.loss_sim.isel(run=idx).max())
        axes[-1, c].set(yscale="log", ylim=(1e-13 * top, 3 * top))
        axes[0, c].set_title(title, fontsize=9)
    _key(fig, keys, ncol=3)
    return plotting.captioned(fig, (
        "A trained MLP's pair geometry (markers) and the two-point ODE with effective rates "
        "fitted per run (lines): h, y and w follow the ODE; known differences: the fitted ODE "
        "moves h slightly early or late in the rich runs, the lazy network's h moves by ~2% "
        "in its first epochs (the ODE keeps it), and the measured loss stops near 1e-12 "
        "(float32 training) while the fitted loss falls on."))


def final(ds: xr.Dataset, config) -> Figure:
    """Final h from the fixed point against the measured one; h/h0 over training."""
    fig, axes = plotting.figure(2, 1, width=3.6, height=3.2)
    ax = axes[0, 0]
    names = sorted(set(ds.setting.values))
    hues = dict(zip(names, plotting.colors(len(names))))
    for regime, marker in (("table", "o"), ("lazy", "s")):
        for name in names:
            sub = ds.isel(run=np.flatnonzero((ds.setting.values == name)
                                             & (ds.regime.values == regime)))
            if sub.sizes["run"]:
                ok = sub.converged.values.ravel() | (regime == "lazy")
                ax.plot(sub.h_final_sim.values.ravel()[ok],
                        sub.h_final_theory.values.ravel()[ok], marker, ms=5, alpha=0.8,
                        color=hues[name], label=name if regime == "table" else None)
    both = np.concatenate([ds.h_final_sim.values.ravel(), ds.h_final_theory.values.ravel()])
    both = both[np.isfinite(both) & (both > 0)]
    lim = [0.7 * both.min(), 1.4 * both.max()]
    ax.plot(lim, lim, "-", color="0.3", lw=1.0)
    ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel=r"measured final $h$",
           ylabel=r"fixed point $h_\infty$ (fitted rates)", title="final distance")
    ax = axes[0, 1]
    contrast = config.lazy_setting
    pick = np.flatnonzero(ds.setting.values == contrast)
    t = ds.time.values
    hue = plotting.colors(len(pick))
    for k, color in zip(pick, hue):
        run = ds.isel(run=k)
        h0 = run.h0_sim.values[:, None]
        plotting.theory_line(ax, t, (run.h_theory.values / h0).mean(0), color=color)
        plotting.sim_band(ax, t, run.h_sim.values / h0, color=color, max_markers=20)
    ax.set(yscale="log", xlabel="epoch", ylabel=r"$h(t)/h_0$",
           title=f"{contrast}: rich (gain {_table_gain(ds, contrast)}) vs lazy")
    axes[0, 0].legend(handles=[*axes[0, 0].get_legend_handles_labels()[0], Line2D(
        [], [], color="0.3", marker="s", ls="none", label="lazy contrast")], fontsize=6,
        loc="upper left", ncol=1 + len(names) // 8)
    keys = [(_pair_label(ds.isel(run=k)) + (" (lazy)" if ds.regime.values[k] == "lazy"
                                            else ""), c) for k, c in zip(pick, hue)]
    _key(fig, keys, ncol=3)
    return plotting.captioned(fig, (
        "Left: the fixed point with the fitted rates and the measured start against the "
        "measured final distance (converged runs; line: equality): on the diagonal, though "
        "the ratio guess of the fit uses the final h, so this is a consistency check; right: "
        "small initial weights grow h many-fold to the data-set distance (rich), large ones "
        "leave it at its start (lazy), the fitted ODE (lines) following the network (markers)."))


def _table_gain(ds: xr.Dataset, setting: str) -> str:
    gains = ds.gain.values[(ds.setting.values == setting) & (ds.regime.values == "table")]
    return f"{gains[0]:g}" if gains.size else "?"


def structure(ds: xr.Dataset, pairs) -> Figure:
    """Per regime (rows): the measured final and the predicted 4 x 4 squared-distance matrices
    (seed 0) and the six pair distances over training (markers) with the two-point ODE from
    each pair's start (lines)."""
    d = ds.isel(seed=0)
    corners = ["(-,-)", "(-,+)", "(+,-)", "(+,+)"]
    fig, axes = plotting.figure(3, 2, width=3.1, height=2.8)
    hues = plotting.colors(len(pairs))
    t = ds.time.values
    for r, regime in enumerate(("rich", "lazy")):
        sub = d.sel(regime=regime)
        mats = [("measured, final", sub.dist_sim.values), ("predicted (fixed point)",
                                                           sub.dist_theory.values)]
        vmax = max(float(np.max(m)) for _, m in mats)
        for c, (title, vals) in enumerate(mats):
            ax = axes[r, c]
            m = np.zeros((4, 4))
            for (i, j), value in zip(pairs, vals):
                m[i, j] = m[j, i] = value
            im = ax.imshow(m, vmin=0, vmax=vmax, cmap="magma")
            ax.set_xticks(range(4), corners, fontsize=7)
            ax.set_yticks(range(4), corners, fontsize=7)
            ax.grid(False)
            ax.set_title(f"{regime}: {title}", fontsize=9)
        fig.colorbar(im, ax=axes[r, :2], fraction=0.05, label=r"$\|h_i - h_j\|^2$")
        ax = axes[r, 2]
        for k, color in enumerate(hues):
            plotting.theory_line(ax, t, sub.h_theory.isel(pair=k).values, color=color)
            plotting.sim_band(ax, t, sub.h_sim.isel(pair=[k]).values.T, color=color,
                              max_markers=20)
        ax.set(xlabel="epoch", ylabel=r"$\|h_i - h_j\|^2$", title=f"{regime}: pairs")
    rich = d.sel(regime="rich")
    apart = ds.dy2.values > 0
    ratio = float(np.mean(rich.dist_sim.values[apart] / rich.dist_theory.values[apart]))
    merged = float(np.mean(rich.dist_sim.values[~apart]))
    _key(fig, [(f"{corners[i]}-{corners[j]} ({'different' if dy else 'equal'} targets)", c)
               for (i, j), dy, c in zip(pairs, ds.dy2.values, hues)], ncol=3)
    return plotting.captioned(fig, (
        "XOR: with small initial weights (rich) the corners with equal targets merge and those "
        "with different targets separate, the structure the two-point fixed point applied to "
        f"every pair predicts, but not its magnitude: the different-target distances end at "
        f"{ratio:.2f} of the prediction and the equal-target ones at {merged:.2g}, not 0 (each "
        "corner belongs to three pairs sharing one network; the theory treats each pair "
        "alone); with large ones (lazy) the random "
        "initial distances stay, as the fixed point with the large measured start also says "
        "(the lazy ODE uses the rich run's fitted rates)."))
