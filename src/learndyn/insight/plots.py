"""Figures of the insight studies (Löwe et al., PLOS Comp Biol 2024): the switch, the delays,
silent knowledge, the dead zone of our reduced theory, and sweeps."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..core import plotting
from . import theory
from .analysis import default_insight
from .claims import PUBLISHED, sweep_fraction

__all__ = ["OUTCOME_COLORS", "ablation_figure", "dead_zone_figure", "delay_figure",
           "silent_figure", "sweep_figure", "switch_figure"]

OUTCOME_COLORS = {"insight": "C3", "no insight": "C0", "control": "0.55"}


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    kernel = np.ones(width) / width
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, x)


def switch_figure(ds: xr.Dataset, title: str) -> Figure:
    """(a) hardest-level accuracy over trials, insight vs no-insight vs controls;
    (b) insight networks aligned on their fitted switch time."""
    fig, axes = plotting.figure(2, width=3.6, height=3.0)
    ins = default_insight(ds).values
    hard = ds.hard_acc_sim.values  # (seed, group, network, trial)
    trials = ds.trial.values
    onset = int(trials[0]) + 200
    width = 10
    x = _smooth(trials[None].astype(float), width)[0]
    ax = axes[0, 0]
    groups = {"insight": hard[:, 0][ins], "no insight": hard[:, 0][~ins],
              "control": hard[:, 1].reshape(-1, hard.shape[-1])}
    for name, rows in groups.items():  # a band (+-1 SD) for the insight group only
        if not len(rows):
            continue
        curves = _smooth(rows, width)
        label = f"{name} (n = {len(rows)})"
        if name == "insight":
            plotting.sim_band(ax, x, curves, color=OUTCOME_COLORS[name], label=label,
                              max_markers=30)
        else:
            idx = np.linspace(0, x.size - 1, 30).astype(int)
            ax.plot(x[idx], curves.mean(0)[idx], "o", mfc="none", ms=4,
                    color=OUTCOME_COLORS[name], label=label)
    ax.axvline(onset, color="k", lw=0.8, ls=":")
    ax.text(onset, 1.0, " colour onset", fontsize=8, va="top")
    ax.set(xlabel="trial", ylabel="hardest-level accuracy", ylim=(0.4, 1.02),
           title="(a) " + title)
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[0, 1]
    t_s = ds.t_switch_sim.isel(fit=0).sel(group="test").values[ins]
    rows = hard[:, 0][ins]
    centre = onset + (t_s - 4.0) * 50.0
    rel = np.arange(-150, 151)
    aligned = np.full((len(rows), rel.size), np.nan)
    for i, (row, c) in enumerate(zip(rows, centre)):
        idx = np.rint(c).astype(int) - int(trials[0]) + rel
        ok = (idx >= 0) & (idx < row.size)
        aligned[i, ok] = row[idx[ok]]
    rng = np.random.default_rng(0)
    for i in rng.choice(len(rows), size=min(12, len(rows)), replace=False) if len(rows) else []:
        ax.plot(rel, aligned[i], color=OUTCOME_COLORS["insight"], lw=0.5, alpha=0.5)
    if len(rows):
        ax.plot(rel, np.nanmedian(aligned, axis=0), color="k", lw=1.8, label="median")
    ax.axvline(0, color="k", lw=0.8, ls=":")
    ax.set(xlabel="trials from the fitted switch", ylabel="hardest-level accuracy",
           ylim=(0.4, 1.02), title="(b) insight networks, aligned")
    ax.legend(handles=[Line2D([], [], color=OUTCOME_COLORS["insight"], lw=0.8,
                              label="single networks"),
                       Line2D([], [], color="k", lw=1.8, label="median")],
              fontsize=7, loc="lower right")
    return fig


def delay_figure(ds: xr.Dataset, config, title: str) -> Figure:
    """Histogram of delays (simulation) with the first-passage density of R4 (theory)."""
    fig, axes = plotting.figure(1, width=3.8, height=4.0)
    ax = axes[0, 0]
    d = ds.delay_sim.values[np.isfinite(ds.delay_sim.values)]
    bins = np.arange(-100, 451, 25)
    ax.hist(d, bins=bins, color=OUTCOME_COLORS["insight"], alpha=0.6,
            label=f"simulation: {d.mean():.0f} $\\pm$ {d.std(ddof=1):.0f}" if d.size > 1
            else "simulation")
    test = ds.sel(group="test")
    step = config.sigma_xi * (config.alpha if config.rule == "code" else 1.0)
    grid = np.arange(0, config.task.colour_blocks * 100 + 1)
    w0 = np.abs(test.wc_onset_sim.values).ravel()
    ws = test.w_star_theory.values.ravel()
    inside = np.isfinite(w0) & np.isfinite(ws) & (w0 < ws)
    beyond = int(np.sum(np.isfinite(w0) & (w0 >= ws)))
    if inside.any() and step > 0:
        # expected number of networks (inside the dead zone at onset) whose |w_c| first
        # reaches w* in each histogram bin
        p = theory.p_cross(w0[inside, None], ws[inside, None], step, np.maximum(grid, 1e-9))
        expected = p.sum(0)
        centres = 0.5 * (bins[1:] + bins[:-1])
        per_bin = np.interp(bins[1:], grid, expected) - np.interp(bins[:-1], grid, expected)
        ax.plot(centres, per_bin, "-", color="k", lw=1.6, drawstyle="steps-mid",
                label=f"theory (ours, R4): |$w_c$| reaches $w^*$\n(+ {beyond} networks "
                      "beyond $w^*$ at onset)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
    ax.errorbar([PUBLISHED["delay_mean"]], [ax.get_ylim()[1] * 0.93],
                xerr=[PUBLISHED["delay_sd"]], fmt="s", color="k", ms=4, capsize=3,
                label="published 175 $\\pm$ 105")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="delay after colour onset (trials)", ylabel="insight networks")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=1)
    return fig


def silent_figure(ds: xr.Dataset, title: str) -> Figure:
    """Silent-knowledge bars, insight vs no insight, with the published values."""
    names = [("abs_wc_onset", "|$w_c$| at onset"), ("abs_wm_onset", "|$w_m$| at onset"),
             ("gc_grad", "|$\\partial L/\\partial g_c$|, colour trials 1-5"),
             ("abs_gc_end", "final |$g_c$|"), ("abs_gm_end", "final |$g_m$|"),
             ("colour_acc", "hardest accuracy, colour phase")]
    fig, axes = plotting.figure(3, 2, width=2.6, height=2.3)
    sk = ds.silent_knowledge_sim
    for ax, (name, label) in zip(axes.flat, names):
        values = sk.sel(measure=name).values
        colors = [OUTCOME_COLORS["insight"], OUTCOME_COLORS["no insight"]]
        ax.bar([0, 1], values, color=colors, alpha=0.8, width=0.6)
        ax.plot([0, 1], PUBLISHED[name], "k_", ms=22, mew=2)
        ax.set_xticks([0, 1], ["insight", "no insight"])
        ax.set_title(label, fontsize=9)
    axes[0, 0].legend(handles=[Line2D([], [], color="k", marker="_", ls="none", ms=12,
                                      mew=2, label="published")], fontsize=7,
                      loc="upper right")
    fig.suptitle(title, fontsize=10)
    return fig


def dead_zone_figure(ds: xr.Dataset, title: str) -> Figure:
    """(a) max |w_c| over the colour phase against w* (theory: the diagonal separates the
    groups); (b) calibration of P_insight (theory) against the observed insight rate."""
    fig, axes = plotting.figure(2, width=3.6, height=3.2)
    ins = default_insight(ds).values.ravel()
    test = ds.sel(group="test")
    ws, reach = test.w_star_theory.values.ravel(), test.max_wc_colour_sim.values.ravel()
    ax = axes[0, 0]
    for mask, name in ((~ins, "no insight"), (ins, "insight")):
        ax.plot(ws[mask], reach[mask], "o", mfc="none", ms=3, color=OUTCOME_COLORS[name],
                label=f"simulation: {name}")
    finite = np.isfinite(ws) & np.isfinite(reach) & (ws > 0) & (reach > 0)
    both = np.concatenate([ws[finite], reach[finite]])
    lim = (0.8 * np.percentile(both, 0.5), 1.25 * np.percentile(both, 99.5))
    plotting.theory_line(ax, lim, lim, color="k", label="theory (ours): |$w_c$| = $w^*$")
    ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="$w^*$ at onset",
           ylabel="max |$w_c$| in the colour phase", title="(a) " + title)
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[0, 1]
    p = test.p_insight_theory.values.ravel()
    edges = np.array([0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0 + 1e-9])
    which = np.digitize(p, edges) - 1
    xs, ys, ns = [], [], []
    for k in range(len(edges) - 1):
        m = which == k
        if m.sum() >= 5:
            xs.append(p[m].mean())
            ys.append(ins[m].mean())
            ns.append(m.sum())
    ax.plot(xs, ys, "o", mfc="none", color="C3", label="simulation (binned networks)")
    plotting.theory_line(ax, [0, 1], [0, 1], color="k", label="theory: perfect calibration")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="$P_{insight}$, theory (ours, R4)",
           ylabel="fraction with insight", title="(b) calibration")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def sweep_figure(ds: xr.Dataset, config, field: str, *, xlabel: str, title: str,
                 published: tuple[np.ndarray, np.ndarray, str] | None = None,
                 delays: bool = False, xscale: str = "linear") -> Figure:
    """Insight fraction (simulation: mean +- SD over batches) against the swept ``field``,
    with the theory's P_insight (mean over networks from their own onset state: open squares;
    the population curve of R4 with the pooled mean rho: line); optionally the mean delay
    beside it (theory: mean first passage of R4)."""
    values = ds[field].values.astype(float)
    frac = sweep_fraction(ds, field)
    fig, axes = plotting.figure(2 if delays else 1, width=3.6, height=4.0)
    ax = axes[0, 0]
    if xscale == "symlog":
        ax.set_xscale("symlog", linthresh=0.01, linscale=0.5)
    ax.errorbar(values, frac.mean(axis=1), yerr=frac.std(axis=1), fmt="o", mfc="none",
                color="C3", capsize=3, label=r"simulation (mean $\pm$ SD over batches)")
    ax.plot(values, ds.fraction_theory.values, "s", mfc="none", color="k",
            label="theory (ours), per network")
    rho = float(np.nanmean(ds.rho_onset_theory.sel(group="test").values))
    grid = np.linspace(values.min(), values.max(), 200)
    kw = dict(alpha=config.alpha, mu_c=config.mu_c, n_on=config.task.onset,
              n_colour=config.task.colour_blocks * 100, w_init=config.init, rule=config.rule)
    other = {"sigma_xi": config.lam, "lam": config.sigma_xi}[field]
    curve = (theory.p_insight_curve(grid, other, rho, **kw) if field == "sigma_xi"
             else theory.p_insight_curve(other, grid, rho, **kw))
    plotting.theory_line(ax, grid, curve, color="k", label="theory (ours), mean $\\rho$ = "
                                                           f"{rho:.2f}")
    if published is not None:
        ax.plot(published[0], published[1], "D", color="0.4", ms=5, label=published[2])
    ax.set(xlabel=xlabel, ylabel="fraction with insight", ylim=(-0.03, 1.05))
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    if delays:
        ax = axes[0, 1]
        d = ds.delay_sim.transpose(field, ...).values.reshape(len(values), -1)
        ax.errorbar(values, np.nanmean(d, axis=1), yerr=np.nanstd(d, axis=1), fmt="o",
                    mfc="none", color="C3", capsize=3,
                    label="simulation (fitted switch; mean $\\pm$ SD over networks)")
        plotting.theory_line(ax, values, ds.delay_theory.values, color="k",
                             label="theory (ours): first passage to $w^*$")
        ax.set(xlabel=xlabel, ylabel="mean delay (trials)")
        ax.set_title("delays of insight networks", fontsize=8)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return fig


def ablation_figure(ds: xr.Dataset, labels: dict[str, str], published: dict[str, float],
                    title: str) -> Figure:
    """Insight fraction and median delay per ablation (bars: simulation; diamonds: published
    where there is a published number)."""
    names = list(ds.ablation.values)
    frac = default_insight(ds).mean("network").transpose("ablation", "seed").values
    delay = ds.delay_sim.transpose("ablation", ...).values.reshape(len(names), -1)
    fig, axes = plotting.figure(2, width=3.4, height=0.32 * len(names) + 1.2)
    y = np.arange(len(names))[::-1]
    ax = axes[0, 0]
    ax.barh(y, frac.mean(axis=1), color="C3", alpha=0.7, height=0.6, label="simulation")
    for yi, row in zip(y, frac):
        ax.plot(row, np.full(row.size, yi), "k.", ms=3)
    pub = [(yi, published[n]) for yi, n in zip(y, names) if n in published]
    if pub:
        ax.plot([p[1] for p in pub], [p[0] for p in pub], "D", color="0.3", ms=5,
                label="published")
    ax.set_yticks(y, [labels.get(n, n) for n in names], fontsize=8)
    ax.set(xlim=(0, 1.02), xlabel="fraction with insight")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[0, 1]
    with np.errstate(all="ignore"):
        med = np.array([np.nanmedian(r) if np.isfinite(r).any() else np.nan for r in delay])
    ax.barh(y, np.where(np.isfinite(med), med, 0.0), color="C0", alpha=0.7, height=0.6)
    for yi, m in zip(y, med):
        if not np.isfinite(m):
            ax.text(2, yi, "no insight networks", va="center", fontsize=7)
    ax.set_yticks(y, [])
    ax.set(xlabel="median delay (trials)")
    ax.set_title("delays of insight networks", fontsize=8)
    return fig
