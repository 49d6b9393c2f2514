"""Figures of the induction-head studies (house style of :mod:`learndyn.core.plotting`).

Time is sequences seen on a logarithmic axis: the drop to the ln 2 plateau, the plateau and
the phase change each take a similar share of it. Heads are ranked by their final score within
each seed before averaging over seeds (head identities differ between seeds).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..core import plotting
from .clamps import LABELS
from .observables import LN2, grid_run_end

__all__ = ["EVALUATOR_LABELS", "TIME", "ablation_figure", "clamping_figure", "heads_figure",
           "loss_figure", "ranked", "time_axis"]

TIME = "sequences seen"

#: the evaluators in the paper's words
EVALUATOR_LABELS = {
    "fsl_train": "training sequences",
    "fsl_val_rl": "held-out label pairs",
    "fsl_train_valex": "held-out exemplars",
    "fsl_test_class": "unseen classes",
}


def time_axis(ax: Axes, times: np.ndarray) -> None:
    """Log-scaled sequences seen, from the first record after 0."""
    ax.set_xscale("log")
    ax.set_xlim(times[times > 0].min() * 0.8, times.max() * 1.2)
    ax.set_xlabel(TIME)


def ranked(values: np.ndarray, key: np.ndarray) -> np.ndarray:
    """``values`` [seed, ..., head] with the heads of every seed sorted by ``key`` [seed,
    head], strongest first."""
    order = np.argsort(-np.asarray(key), axis=-1)
    return np.stack([np.take(v, o, axis=-1) for v, o in zip(values, order)])


def _phase_changes(ax: Axes, ds: xr.Dataset) -> None:
    for t in ds.phase_change_time_sim.values:
        if np.isfinite(t):
            ax.axvline(t, color="0.4", ls=":", lw=0.9)


def loss_figure(ds: xr.Dataset):
    """Training loss per seed (plateau near ln 2, phase change), loss and in-context accuracy
    per evaluator (mean over seeds with the seed range)."""
    t = ds.time.values
    keep = t > 0
    fig, axes = plotting.figure(3, 1, width=3.5, height=2.9)
    ax = axes[0, 0]
    ax.axhspan(0.6, 0.8, color="0.93", lw=0, zorder=0)
    for s, color in zip(ds.seed.values, plotting.colors(ds.sizes["seed"])):
        ax.plot(t[keep], ds.loss_sim.sel(seed=s, evaluator="fsl_train").values[keep], "o-",
                ms=2.5, lw=1, color=color, label=f"seed {s}")
    ax.axhline(LN2, color="k", lw=1.2, label="ln 2 (theory: plateau)")
    _phase_changes(ax, ds)
    time_axis(ax, t)
    ax.set(ylabel="cross-entropy at the query (nats)", title="training loss", ylim=(0, None))
    ax.legend(fontsize=7, loc="lower left")
    colors = dict(zip(EVALUATOR_LABELS, ["C0", "C1", "C2", "C3"]))
    for ax, name, title in ((axes[0, 1], "loss_sim", "loss per evaluation set"),
                            (axes[0, 2], "in_context_accuracy_sim", "in-context accuracy")):
        for ev, label in EVALUATOR_LABELS.items():
            da = ds[name].sel(evaluator=ev)
            ax.fill_between(t[keep], da.min("seed")[keep], da.max("seed")[keep],
                            color=colors[ev], alpha=0.25, lw=0)
            ax.plot(t[keep], da.mean("seed")[keep], color=colors[ev], lw=1.1, label=label)
        _phase_changes(ax, ds)
        time_axis(ax, t)
        ax.set_title(title)
    axes[0, 1].axhline(LN2, color="k", lw=1.2)
    axes[0, 1].set(ylabel="cross-entropy (nats)", ylim=(0, None))
    axes[0, 2].set(ylabel="in-context accuracy", ylim=(0.4, 1.02))
    axes[0, 2].legend(fontsize=7, loc="upper left", title="mean and range over seeds",
                      title_fontsize=7)
    return fig


def _ranked_panel(ax: Axes, t: np.ndarray, values: np.ndarray) -> None:
    """Heads ranked within each seed: mean over seeds per rank, seed range of the first and
    last rank; ``values`` [seed, time, head]."""
    n = values.shape[-1]
    colors = plotting.colors(n)
    for rank in range(n):
        curve = values[..., rank]
        if rank in (0, n - 1):
            ax.fill_between(t, curve.min(0), curve.max(0), color=colors[rank], alpha=0.2, lw=0)
        ax.plot(t, curve.mean(0), color=colors[rank], lw=1.1,
                label="strongest" if rank == 0 else "weakest" if rank == n - 1 else None)


def heads_figure(ds: xr.Dataset):
    """Induction strength of the layer-2 heads and previous-token score of the layer-1 heads
    (each ranked by its final value within each seed)."""
    t = ds.time.values
    keep = t > 0
    fig, axes = plotting.figure(2, 1, width=3.6, height=2.9)
    strength = ds.induction_strength_sim.values
    prev = ds.prev_token_score_sim.values
    for ax, values, title, ylabel in (
            (axes[0, 0], strength, "layer-2 heads: induction", "induction strength"),
            (axes[0, 1], prev, "layer-1 heads: previous token",
             "label -> exemplar attention")):
        _ranked_panel(ax, t[keep], ranked(values, values[:, -1])[:, keep])
        _phase_changes(ax, ds)
        time_axis(ax, t)
        ax.set(title=title, ylabel=ylabel)
        ax.legend(fontsize=7, loc="upper left", title="heads ranked by final value",
                  title_fontsize=7)
    axes[0, 0].axhline(0.0, color="0.6", lw=0.6)
    return fig


def ablation_figure(ds: xr.Dataset):
    """Training accuracy with each layer-2 head removed, or kept alone, heads ranked by their
    final induction strength within each seed."""
    final = ds.induction_strength_sim.isel(time=-1).values
    remove = ranked(ds.ablation_accuracy_sim.values, final)
    alone = ranked(ds.only_head_accuracy_sim.values, final)
    strength = ranked(final, final).mean(0)
    x = np.arange(1, final.shape[-1] + 1)
    fig, axes = plotting.figure(1, 1, width=4.6, height=3.0)
    ax = axes[0, 0]
    ax.bar(x - 0.2, remove.mean(0), 0.4, color="C0", label="this head removed")
    ax.bar(x + 0.2, alone.mean(0), 0.4, color="C1", label="only this head")
    for values, dx in ((remove, -0.2), (alone, 0.2)):
        for row in values:
            ax.plot(x + dx, row, "k.", ms=3)
    ax.axhline(float(ds.clean_accuracy_sim.mean()), color="0.3", ls="--", lw=1,
               label="all heads")
    ax.set_xticks(x, [f"{i}\n{s:.2f}" for i, s in zip(x, strength)])
    ax.set(xlabel="layer-2 head rank (final induction strength)",
           ylabel="training accuracy", ylim=(0, 1.3), title="ablations at the end")
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(fontsize=7, loc="upper center", ncol=3)
    return fig


def clamping_figure(ds: xr.Dataset, ends: dict | None = None):
    """Training loss per clamp condition (base data setting), phase-change times, and the
    phase-change time of every data setting relative to the base per condition run there.
    ``ends[(setting index, condition)]``: the run's last recorded time (a run that never
    dropped is drawn at its end; default :func:`.observables.grid_run_end`)."""
    if ends is None:
        ends = {(k, str(c)): grid_run_end(ds, k, str(c)) for k in range(ds.sizes["setting"])
                for c in ds.condition.values}
    t = ds.time.values
    keep = t > 0
    base = ds.isel(setting=0)
    conds = [str(c) for c in ds.condition.values
             if np.isfinite(base.loss_sim.sel(condition=c).values).any()]
    palette = ["0.15", "C0", "C1", "C2", "C3", "C4", "C5", "C6"]
    colors = dict(zip([str(c) for c in ds.condition.values], palette))
    fig, axes = plotting.figure(3, 1, width=3.5, height=3.7)
    ax = axes[0, 0]
    for c in conds:
        curve = base.loss_sim.sel(condition=c, evaluator="fsl_train").values
        ok = keep & np.isfinite(curve).all(0)  # a run stopped early has NaN records after
        ax.fill_between(t[ok], curve[:, ok].min(0), curve[:, ok].max(0), color=colors[c],
                        alpha=0.2, lw=0)
        ax.plot(t[ok], curve[:, ok].mean(0), color=colors[c], lw=1.2, label=LABELS[c])
    ax.axhline(LN2, color="k", lw=0.8, ls=":")
    time_axis(ax, t)
    ax.set(ylabel="training loss (nats)", ylim=(0, None),
           title=f"clamped from step 0\n({ds.setting.values[0]})")
    handles = [Line2D([], [], color=colors[c], lw=3, label=LABELS[c]) for c in conds]
    if ds.sizes["seed"] > 1:
        handles.append(Patch(color="0.6", alpha=0.4, lw=0, label="seed range (loss)"))
    handles += [Line2D([], [], color="k", ls="", marker=".", label="seeds (bars: mean)"),
                Line2D([], [], color="k", lw=0.8, ls=":", label="ln 2 (theory: plateau)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=7)
    ax = axes[0, 1]
    pct = base.phase_change_time_sim
    x = np.arange(len(conds))
    ax.bar(x, pct.sel(condition=conds).mean("seed"), color=[colors[c] for c in conds])
    for i, c in enumerate(conds):
        ax.plot([i] * ds.sizes["seed"], pct.sel(condition=c), "k.", ms=4)
    ax.set_xticks(x, [LABELS[c].replace(" (", "\n(") for c in conds], rotation=40,
                  ha="right", fontsize=7)
    ax.set(ylabel="phase-change time (sequences)",
           title="phase change\n(training loss < 0.4 ln 2)")
    found = pct.sel(condition=conds).values
    if (found[np.isfinite(found)] > 0).any():
        ax.set_yscale("log")
    else:  # a run too short for any drop: say so instead of empty log axes
        ax.text(0.5, 0.5, "no phase change\nwithin the run", transform=ax.transAxes,
                ha="center", va="center", fontsize=8, color="0.3")
    ax = axes[0, 2]
    n_set = ds.sizes["setting"]
    varied = [c for c in ds.condition.values  # the conditions run in every data setting
              if all(np.isfinite(ds.loss_sim.sel(condition=c).isel(setting=k).values).any()
                     for k in range(n_set))]
    width = 0.8 / max(len(varied), 1)
    for j, c in enumerate(str(c) for c in varied):
        pc = np.stack([np.minimum(ds.phase_change_time_sim.sel(condition=c).values[k],
                                  ends[(k, c)]) for k in range(n_set)])
        ratio = pc / pc[0]
        xs = np.arange(n_set) + (j - (len(varied) - 1) / 2) * width
        ax.bar(xs, ratio.mean(1), width, color=colors[c], label=LABELS[c])
        for k in range(n_set):
            ax.plot([xs[k]] * ds.sizes["seed"], ratio[k], "k.", ms=3)
    ax.axhline(1.0, color="0.5", ls=":", lw=1)
    ax.set_xticks(np.arange(n_set), [s.replace(", ", "\n") for s in ds.setting.values],
                  rotation=40, ha="right", fontsize=7)
    ax.set(ylabel="phase-change time / base setting",
           title="data dependence\n(relative to the base setting)")
    return fig
