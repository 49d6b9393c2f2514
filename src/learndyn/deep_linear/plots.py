r"""Figures of deep linear networks: Saxe modes (ICLR 2014) and lambda sweeps of two-layer
networks (Dominé et al., ICLR 2025).

:func:`mode_figures` draws the mode strengths and loss of each run of
:func:`learndyn.deep_linear.simulate.modes_dataset`. In a lambda sweep, lambda = 0 is drawn
black, lambda > 0 in reds and lambda < 0 in blues, darker with |lambda|; theory is a line
(dashed for lambda < 0, which in equal dimensions lies on the +lambda curve), simulation open
markers (:mod:`learndyn.core.plotting`); lambda axes are symmetric-logarithmic. The figures of a
sweep (:func:`sweep_loss_figure`, :func:`ntk_figure`, :func:`representations_figure`,
:func:`projections_figure`, :func:`reversal_figure`) read the layout of
:func:`learndyn.deep_linear.simulate.sweep_dataset`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..core import plotting
from . import observables

__all__ = ["TIME", "curves", "lambda_axis", "lambda_colors", "mode_figures", "ntk_figure",
           "projections_figure", "representations_figure", "resolved_lambdas", "reversal_figure",
           "spread", "sweep_loss_figure", "versus_lambda"]

TIME = r"time $t/\tau$"


# ---- Saxe modes (the layout of :func:`.simulate.modes_dataset`) ------------------------------
def _title(sel: xr.Dataset) -> str:
    """A run's panel title: its init and depth."""
    return f"{sel.init.values} init, $D = {int(sel.depth)}$"


def _panels(n: int):
    """A figure with n panels, at most three per row (four as 2 x 2)."""
    ncols = 2 if n == 4 else min(n, 3)
    fig, axes = plotting.figure(ncols, -(-n // ncols), width=3.5, height=2.9)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat[:n]


def mode_figures(ds: xr.Dataset, modes: Sequence[int]) -> tuple[Figure, Figure]:
    """Mode strengths (theory lines through simulation bands) and loss curves, one panel per
    run, showing the task modes ``modes``."""
    runs = list(ds.run.values)
    colors = plotting.colors(len(modes))
    keys = [(f"$s_{{{m}}} = {float(ds.s.sel(mode=m)):.3g}$", c) for m, c in zip(modes, colors)]

    fig_u, axes = _panels(len(runs))
    fig_l, axes_l = _panels(len(runs))
    for ax, ax_l, label in zip(axes, axes_l, runs):
        sel = ds.sel(run=label)
        halves = [float(sel.t_half_theory.sel(mode=m).mean()) for m in modes]
        sel = sel.sel(time=ds.time <= 2 * max(halves))  # learning is over by then
        t = sel.time.values
        for m, color in zip(modes, colors):
            ax.axhline(float(sel.s.sel(mode=m)), color=color, lw=0.6, ls=":")
            plotting.theory_line(ax, t, sel.mode_strength_theory.sel(mode=m).mean("seed"),
                                 color=color)
            plotting.sim_band(ax, t, sel.mode_strength_sim.sel(mode=m).values, color=color,
                              max_markers=30)
            ax_l.axvline(halves[modes.index(m)], color=color, lw=0.8, ls="--")
        ax.set(title=_title(sel), xlabel=TIME, ylabel=r"mode strength $u_\alpha(t)$")
        plotting.theory_line(ax_l, t, sel.loss_theory.mean("seed"), color="0.2")
        plotting.sim_band(ax_l, t, sel.loss_sim.values, color="C1", max_markers=30)
        loss0 = float(sel.loss_theory.isel(time=0).mean())
        ax_l.set(title=_title(sel), xlabel=TIME, ylabel=r"loss $L$", yscale="log",
                 ylim=(1e-4 * loss0, 2 * loss0))
    plotting.legend_below(fig_u, keys, ncols=5)
    fig_u = plotting.captioned(fig_u, (
        "Mode strengths over time: each mode is learned along a sigmoid, strongest first; "
        "gradient descent (markers, seed mean +- std) lies on the theory (lines) started from "
        "each seed's initial strength (random init: the part of each mode's hidden vector "
        "that the stronger modes leave free; where less than 10% is free, late modes of "
        "crowded networks lag the theory)."))
    half = Line2D([], [], color="0.3", lw=0.8, ls="--", label=r"half time $t_{1/2}$ (theory)")
    plotting.legend_below(fig_l, keys, ncols=5, extra=[half])
    fig_l = plotting.captioned(fig_l, (
        "Loss over time: plateaus and sudden drops, one per mode at its half-learning time "
        "(dashed, coloured by mode) when the modes' times are well apart; theory (line) and "
        "gradient descent (markers) agree."))
    return fig_u, fig_l


# ---- lambda sweeps -----------------------------------------------------------------------------
def lambda_colors(lams: Sequence[float]) -> dict[float, tuple]:
    """{lambda: colour}: black at 0, reds for lambda > 0, blues for lambda < 0, darker with
    |lambda| (rank-based, so log-spaced grids spread)."""
    lams = np.asarray(lams, np.float64)
    mags = np.unique(np.abs(lams[lams != 0]))
    out = {}
    for lam in lams:
        frac = 0.35 + 0.6 * (np.searchsorted(mags, abs(lam)) + 1) / max(len(mags), 1)
        cmap = plt.get_cmap("Reds" if lam > 0 else "Blues")
        out[float(lam)] = (0.0, 0.0, 0.0, 1.0) if lam == 0 else cmap(frac)
    return out


def spread(lams: Sequence[float], count: int = 7) -> list[float]:
    """At most ``count`` lambdas spread over the grid (always both ends, and 0 if present)."""
    lams = np.asarray(lams, np.float64)
    if len(lams) <= count:
        return [float(x) for x in lams]
    idx = np.unique(np.rint(np.linspace(0, len(lams) - 1, count)).astype(int))
    return sorted({float(x) for x in lams[idx]} | ({0.0} if 0.0 in lams else set()))


def lambda_axis(ax: Axes, lams: Sequence[float]) -> None:
    """A symmetric-log x axis for lambda with ticks at 0 and +-10^k, labelled lambda."""
    lams = np.asarray(lams, np.float64)
    ax.set_xlabel(r"$\lambda$")
    nonzero = np.abs(lams[lams != 0])
    if not nonzero.size:
        return
    lo, hi = nonzero.min(), nonzero.max()
    ax.set_xscale("symlog", linthresh=float(lo), linscale=0.5)
    ks = np.arange(np.ceil(np.log10(lo)), np.floor(np.log10(hi)) + 1)
    if len(ks) > 3:  # keep the labels next to 0 apart
        ks = ks[1:]
    ticks = sorted([0.0] + [s * 10.0**k for k in ks for s in (-1, 1)] if len(ks) else
                   [0.0, -hi, hi])
    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax.minorticks_off()


def curves(ax: Axes, t: np.ndarray, theory, sim, lams: Sequence[float], colors: dict, *,
           log: bool = False) -> None:
    """Theory (seed-mean line, dashed for lambda < 0) and simulation (markers and seed band)
    over time for each lambda in ``lams``; ``theory``/``sim`` are DataArrays with dims
    (seed, lam, time). lambda < 0 is drawn last, so its dashes show on the +lambda curve.
    ``log``: for a log axis, geometric means over seeds and no band (a +-std band of values
    spanning decades reaches below zero)."""
    for lam in sorted(lams, key=lambda x: (x < 0, abs(x))):
        mean = np.exp(np.log(theory.sel(lam=lam)).mean("seed")) if log else theory.sel(
            lam=lam).mean("seed")
        ax.plot(t, mean, "-" if lam >= 0 else "--", color=colors[lam], lw=1.6)
        values = sim.sel(lam=lam).transpose("seed", "time").values
        if log:
            values = np.exp(np.log(values).mean(axis=0, keepdims=True))
        plotting.sim_band(ax, t, values, color=colors[lam], max_markers=25)


def versus_lambda(ax: Axes, lams, theory, sim, *, color="k", label: str | None = None) -> None:
    """A seed-averaged quantity against lambda: theory line, simulation markers."""
    plotting.theory_line(ax, lams, np.asarray(theory), color=color, label=label)
    ax.plot(lams, np.asarray(sim), "o", mfc="none", ms=5, color=color)




# ---- figures of a lambda sweep (the layout of :func:`.simulate.sweep_dataset`) ---------------
def _lambda_keys(lams: Sequence[float]) -> tuple[list[float], dict, list]:
    """The lambdas drawn (:func:`spread`), their colours and legend keys."""
    shown, colors = spread(lams), lambda_colors(lams)
    return shown, colors, [(rf"$\lambda = {lam:.2g}$", colors[lam]) for lam in shown]


def sweep_loss_figure(ds: xr.Dataset, lams: Sequence[float], *,
                      unequal_lams: Sequence[float] = (),
                      unequal_dims: Sequence[int] = ()) -> Figure:
    """Loss over time for each lambda, its acceleration against lambda, and (with
    ``unequal_lams``) the unequal-width sweep's loss."""
    lams, t = np.asarray(lams), ds.time.values
    shown, colors, keys = _lambda_keys(lams)
    fig, axes = plotting.figure(3 if unequal_lams else 2, width=3.5)
    ax = axes[0, 0]
    curves(ax, t, ds.loss_theory, ds.loss_sim, shown, colors, log=True)
    loss0 = float(ds.loss_theory.isel(time=0).max())
    ax.set(yscale="log", ylim=(1e-6 * loss0, 2 * loss0), xlabel=TIME, ylabel=r"loss $L$",
           title="loss (dashed: $\\lambda < 0$)")
    acc = {src: observables.loss_acceleration(t, ds[f"loss_{src}"].transpose(
        "seed", "lam", "time").values).mean(axis=0) for src in ("theory", "sim")}
    versus_lambda(axes[0, 1], lams, acc["theory"], acc["sim"])
    lambda_axis(axes[0, 1], lams)
    axes[0, 1].set(yscale="log", ylabel=r"peak rate $-d\ln L/dt$ / initial rate",
                   title="sigmoidal (rich) to exponential (lazy)")
    if unequal_lams:
        ax = axes[0, 2]
        for lam, c in zip(unequal_lams, plotting.colors(len(unequal_lams))):
            plotting.theory_line(ax, t, np.exp(np.log(ds.unequal_loss_theory.sel(
                lam_unequal=lam)).mean("seed")), color=c)
            plotting.sim_band(ax, t, np.exp(np.log(ds.unequal_loss_sim.sel(
                lam_unequal=lam).values).mean(axis=0, keepdims=True)), color=c, max_markers=25)
            keys.append((rf"$\lambda = {lam:g}$, unequal", c))
        n_i, n_h, n_o = unequal_dims
        ax.set(yscale="log", xlabel=TIME, ylabel=r"loss $L$",
               title=rf"unequal widths $({n_i}, {n_h}, {n_o})$")
    plotting.legend_below(fig, keys)
    return plotting.captioned(fig, (
        "Loss for each lambda: at lambda = 0 it falls in plateaus and drops (rich), at large "
        "|lambda| exponentially from the start (lazy); +lambda and -lambda give the same curve "
        "(dashed on solid); the acceleration max(-dlnL/dt)/initial rate summarises the shape, "
        "and gradient descent (markers) lies on the closed form within O(eta)."))


def ntk_figure(ds: xr.Dataset, lams: Sequence[float]) -> Figure:
    """NTK distance S(t) from its start over time, and at the end against lambda."""
    lams, t = np.asarray(lams), ds.time.values
    shown, colors, keys = _lambda_keys(lams)
    fig, axes = plotting.figure(2, width=3.5)
    curves(axes[0, 0], t, ds.ntk_distance_theory, ds.ntk_distance_sim, shown, colors)
    end = ds.ntk_distance_theory.isel(time=-1).mean("seed")
    axes[0, 0].set(xlabel=TIME, ylabel=r"kernel distance $S(t)$", title="NTK movement",
                   yscale="log", ylim=(0.3 * float(end.min()), 2 * float(
                       ds.ntk_distance_theory.max())))
    versus_lambda(axes[0, 1], lams, end, ds.ntk_distance_sim.isel(time=-1).mean("seed"))
    lambda_axis(axes[0, 1], lams)
    axes[0, 1].set(yscale="log", ylabel=r"$S(T)$", title=f"at the end, $T = {t[-1]:g}$")
    plotting.legend_below(fig, keys)
    return plotting.captioned(fig, (
        "Kernel distance S(t) = 1 - <K(0), K(t)>/(|K(0)| |K(t)|) of the NTK from its initial "
        "value: it moves most at lambda = 0 and orders of magnitude less as |lambda| grows, the "
        "same for +lambda and -lambda; theory and gradient descent agree."))


def _mode_keys(ds: xr.Dataset) -> tuple[list, list]:
    """One colour per task mode and its legend keys (s = ...)."""
    mode_colors = plotting.colors(ds.sizes["mode"])
    return mode_colors, [(f"$s = {s:.3g}$", c) for s, c in zip(ds.s.values, mode_colors)]


def representations_figure(ds: xr.Dataset, lams: Sequence[float]) -> Figure:
    """Relative change of both representations against lambda, and their final eigenvalues
    against the limits Lambda -+ lambda/2."""
    lams = np.asarray(lams)
    fig, axes = plotting.figure(3, width=3.5)
    for name, c, label in (("rep_in", "C0", r"input side $W_1^\top W_1$"),
                           ("rep_out", "C3", r"output side $W_2W_2^\top$")):
        at_end = ds.isel(time=-1)
        versus_lambda(axes[0, 0], lams, at_end[f"{name}_change_theory"].mean("seed"),
                      at_end[f"{name}_change_sim"].mean("seed"), color=c, label=label)
    axes[0, 0].set(yscale="log", ylabel=r"$\|R(T) - R(0)\|_F / \|R(0)\|_F$",
                   title="representation change")
    axes[0, 0].legend(fontsize=8, loc="lower center")
    mode_colors, keys = _mode_keys(ds)
    for ax, name, title in (
            (axes[0, 1], "rep_in", r"$W_1^\top W_1 \to V(\Lambda - \lambda/2)V^\top$"),
            (axes[0, 2], "rep_out", r"$W_2W_2^\top \to U(\Lambda + \lambda/2)U^\top$")):
        for m, c in zip(ds.mode.values, mode_colors):
            versus_lambda(ax, lams, ds[f"{name}_eig_limit"].sel(mode=m),
                          ds[f"{name}_eig_sim"].sel(mode=m).mean("seed"), color=c)
        ax.set(yscale="log", ylabel="eigenvalues at the end", title=title)
    for ax in axes[0]:
        lambda_axis(ax, lams)
    plotting.legend_below(fig, keys)
    return plotting.captioned(fig, (
        "Representations: at large +lambda the output side W2W2^T stays near lambda I "
        "(task-agnostic) while the input side learns the task, mirrored for -lambda, and at "
        "lambda = 0 both change; their final eigenvalues sit on Lambda -+ lambda/2 "
        "(lines: theory, markers: gradient descent at the end)."))


def _converged(lam: float, s_min: float) -> float:
    """When the slowest mode has converged: 8 / min Lambda_alpha, Lambda = sqrt(s^2 +
    lambda^2/4)."""
    return 8.0 / np.sqrt(s_min**2 + lam**2 / 4)


def resolved_lambdas(lams: Sequence[float], singular_values: Sequence[float], t_max: float,
                     num_records: int) -> list[float]:
    """The most negative and the largest lambda whose slowest mode takes >= 12 records to
    converge (8 / min Lambda_alpha, Lambda = sqrt(s^2 + lambda^2/4)), and lambda closest to 0."""
    lams = np.asarray(lams)
    s_min = min(singular_values)
    ok = lams[[_converged(lam, s_min) >= 12 * t_max / (num_records - 1) for lam in lams]]
    ok = ok if ok.size else lams
    return sorted({float(ok.min()), float(lams[np.argmin(np.abs(lams))]), float(ok.max())})


def projections_figure(ds: xr.Dataset, lams: Sequence[float], singular_values: Sequence[float],
                t_max: float, num_records: int) -> Figure:
    """The function and both representations projected on the task's modes over time, for
    the :func:`resolved_lambdas` (first seed): gradient descent on the closed form."""
    columns = resolved_lambdas(lams, singular_values, t_max, num_records)
    rows = (("mode_strength", r"$\tilde u_\alpha^\top W_2W_1 \tilde v_\alpha$"),
            ("rep_in_mode", r"$\tilde v_\alpha^\top W_1^\top W_1 \tilde v_\alpha$"),
            ("rep_out_mode", r"$\tilde u_\alpha^\top W_2W_2^\top \tilde u_\alpha$"))
    mode_colors, keys = _mode_keys(ds)
    fig, axes = plotting.figure(len(columns), 3, width=3.5, height=2.6)
    for col, lam in enumerate(columns):
        sel = ds.sel(lam=lam, time=ds.time <= _converged(lam, min(singular_values)))
        for row, (name, label) in enumerate(rows):
            ax = axes[row, col]
            for m, c in zip(ds.mode.values, mode_colors):
                plotting.theory_line(ax, sel.time, sel[f"{name}_theory"].sel(mode=m).isel(seed=0),
                                     color=c)
                plotting.sim_band(ax, sel.time.values, sel[f"{name}_sim"].sel(mode=m).isel(
                    seed=[0]).values, color=c, max_markers=20)
            ax.set(title=rf"$\lambda = {lam:.3g}$" if row == 0 else None, ylabel=label,
                   xlabel=TIME if row == 2 else None)
    plotting.legend_below(fig, keys)
    return plotting.captioned(fig, (
        "The function (top) and both representations, projected on the task's singular "
        "vectors, over time for lambda = 0 and the most negative and largest lambda that the "
        "records resolve (first seed; each until its slowest mode has converged): gradient "
        "descent (markers) on the closed form (lines); rich learning (lambda = 0) is mode by "
        "mode and moves both layers, lazy learning is fast and moves only the small layer (the "
        "large one stays near |lambda|)."))


def reversal_figure(ds: xr.Dataset, s: float, lams: Sequence[float]) -> Figure:
    """Reversal of one aligned mode (target s -> -s): closed form and gradient descent."""
    t = ds.time.values
    fig, axes = plotting.figure(1, width=3.8)
    ax = axes[0, 0]
    colors = plotting.colors(len(lams))
    for lam, c in zip(lams, colors):
        plotting.theory_line(ax, t, ds.reversal_theory.sel(lam_reversal=lam), color=c)
        plotting.sim_band(ax, t, ds.reversal_sim.sel(lam_reversal=lam).values[None], color=c,
                          max_markers=25)
    for y in (s, 0.0, -s):
        ax.axhline(y, color="0.5", lw=0.6, ls=":")
    ax.set(xlabel=r"time after the target flips, $t/\tau$", ylabel=r"mode strength $a(t)$",
           title=r"reversal learning: target $s \to -s$")
    plotting.legend_theory_sim(ax, [(rf"$\lambda = {lam:g}$", c) for lam, c in
                                    zip(lams, colors)], fontsize=8, loc="upper right")
    return plotting.captioned(fig, (
        "Reversal of one aligned mode: at lambda = 0 the network stalls on the saddle a = 0 "
        "and never reverses; any lambda != 0 crosses zero and reaches -s, faster for larger "
        "|lambda|; gradient descent (markers) follows the closed form (lines)."))
