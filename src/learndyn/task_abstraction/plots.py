"""Figure panels shared by the task-abstraction studies (house style of
:mod:`learndyn.core.plotting`: theory as lines, simulation as markers or seed bands).

Block curricula make curves that jump at every switch, so the simulated loss and gates are
drawn as a seed band (or a wide pale line for one seed) with the theory as a thin dark line on
top; every panel with both has a key saying which is which.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..core import plotting
from .theory import switch_time

__all__ = ["REFERENCE_ALIGNMENTS", "SIM_LW", "TIME", "concat_panel", "fig2", "figure_key",
           "gates_panel", "grid_panel", "key", "law_panel", "loss_panel", "overview",
           "overview_key", "overview_row", "path_colors", "per_unit_gates_panel", "shade_blocks",
           "switching", "threshold_panel", "within_block_panel"]

TIME = r"time $t$ (units of $\tau$)"

#: concatenated alignment of three weight configurations (reference lines)
REFERENCE_ALIGNMENTS = ((1.0, "one module per task"), (1 / np.sqrt(2), "task average"),
                        (0.5, "current task only"))

SIM_LW = 3.0  # a single simulated trace: wide and pale, so the theory line shows on top


def shade_blocks(ax: Axes, block_time: float, tasks: Sequence[str], shaded: str) -> None:
    """Grey background over the blocks of task ``shaded``."""
    for k, task in enumerate(tasks):
        if task == shaded:
            ax.axvspan(k * block_time, (k + 1) * block_time, color="0.92", lw=0, zorder=0)


def loss_panel(ax: Axes, t: np.ndarray, loss: np.ndarray, *, color,
               theory: np.ndarray | None = None) -> None:
    """Simulated loss (seed, time): mean line inside the band of the seeds' range; the
    theory's seed mean as a thin dark dashed line."""
    ax.fill_between(t, loss.min(axis=0), loss.max(axis=0), color=color, alpha=0.3, lw=0)
    ax.plot(t, loss.mean(axis=0), "-", color=color, lw=0.8)
    if theory is not None:
        ax.plot(t, theory, "--", color="k", lw=0.7)
    ax.set_yscale("log")


def gates_panel(ax: Axes, t: np.ndarray, sim: np.ndarray, theory: np.ndarray | None,
                colors: Sequence) -> None:
    """One seed's gates (time, path): simulation wide and pale, theory thin on top."""
    for p, color in enumerate(colors):
        ax.plot(t, sim[:, p], color=color, lw=SIM_LW, alpha=0.45, solid_capstyle="butt")
        if theory is not None:
            ax.plot(t, theory[:, p], color=color, lw=0.8)


def concat_panel(ax: Axes, t: np.ndarray, concat: np.ndarray, *, color) -> None:
    """Concatenated alignment (seed, time) as a seed band with markers, and the reference
    levels of :data:`REFERENCE_ALIGNMENTS` labelled at the right."""
    plotting.sim_band(ax, t, concat, color=color, max_markers=60)
    for level, _ in REFERENCE_ALIGNMENTS:
        ax.axhline(level, color="0.5", ls=":", lw=0.8)
    ax.set(ylim=(0, 1.08), ylabel="concatenated alignment")
    right = ax.secondary_yaxis("right")
    right.set_yticks([level for level, _ in REFERENCE_ALIGNMENTS],
                     [text for _, text in REFERENCE_ALIGNMENTS], fontsize=7, color="0.35")
    right.tick_params(length=0)


def threshold_panel(ax: Axes, blocks: np.ndarray, sim: np.ndarray, theory: np.ndarray, *,
                    color) -> None:
    """Time to threshold per block: simulation as markers over the seed band, theory (seed
    mean) as a line."""
    plotting.sim_band(ax, blocks, sim, color=color)
    plotting.theory_line(ax, blocks, theory, color=color)
    ax.set_yscale("log")


def key(ax: Axes, *, sim: str = "simulation", theory: str | None = "theory",
        entries: Sequence[tuple[str, object]] = (), band: bool = False, trace: bool = False,
        **kwargs) -> None:
    """Legend: the style of simulation (markers, ``band`` or a pale ``trace``) and of theory
    (a line), then one entry per colour."""
    if trace:
        handles = [Line2D([], [], color="0.4", lw=SIM_LW, alpha=0.45, label=sim)]
    elif band:
        handles = [Patch(color="0.6", alpha=0.5, lw=0, label=sim)]
    else:
        handles = [Line2D([], [], color="0.3", marker="o", mfc="none", ls="none", label=sim)]
    if theory:
        ls = "--" if band else "-"
        handles.append(Line2D([], [], color="k" if band else "0.3", lw=0.9, ls=ls, label=theory))
    handles += [Line2D([], [], color=c, lw=3, label=name) for name, c in entries]
    kwargs.setdefault("fontsize", 7)
    ax.legend(handles=handles, **kwargs)


def overview_row(axes, sel, block_time: float, theta: float, *, color, title: str,
                 seed: int = 0) -> None:
    """Loss, gates (one seed) and concatenated alignment of one model of a dataset from
    :func:`learndyn.task_abstraction.simulate.compare`, on three axes; blocks of the first
    teacher shaded."""
    t, tasks, first = sel.time.values, list(sel.task.values), str(sel.teacher.values[0])
    for ax in axes:
        shade_blocks(ax, block_time, tasks, first)
        ax.set_xlabel(TIME)
    loss_panel(axes[0], t, sel.loss_sim.values, color=color,
               theory=sel.loss_theory.mean("seed").values)
    axes[0].axhline(theta, color="0.4", ls=":", lw=0.9)
    axes[0].set(ylabel=r"loss $\mathcal{L}$", title=f"{title}: loss")
    gates = sel.gates_sim.isel(seed=seed).values
    gates_panel(axes[1], t, gates, sel.gates_theory.isel(seed=seed).values,
                path_colors(gates.shape[-1]))
    axes[1].set(ylabel=r"gate $c^p$", title=f"{title}: gates (seed {int(sel.seed[seed])})")
    concat_panel(axes[2], t, sel.concat_alignment_sim.values, color=color)
    axes[2].set_title(f"{title}: weights vs teachers")


def path_colors(n: int) -> list:
    """Colours of the paths (path m serves teacher m after relabelling)."""
    return [f"C{k}" for k in (4, 2, 8, 9, 5, 6)][:n]


def overview_key(fig, sel, theta: float) -> None:
    """Figure legend (below the panels) of :func:`overview_row` figures."""
    teachers = [str(x) for x in sel.teacher.values]
    handles = [
        Patch(color="0.6", alpha=0.5, lw=0, label="simulation: seed range (loss), seed band "
                                                    "and markers (alignment)"),
        Line2D([], [], color="0.4", lw=SIM_LW, alpha=0.45, label="simulation: one seed"),
        Line2D([], [], color="k", lw=0.8, ls="--", label="theory: reduced map (loss)"),
        Line2D([], [], color="0.3", lw=0.8, label="theory: reduced map (gates)"),
        Line2D([], [], color="0.4", lw=0.9, ls=":", label=rf"$\theta = {theta:g}$"),
        Patch(color="0.92", label=f"blocks of task {teachers[0]}"),
    ]
    handles += [Line2D([], [], color=c, lw=3, label=f"gate of the path serving {t}")
                for t, c in zip(teachers, path_colors(len(teachers)))]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=7)


def figure_key(fig, entries: Sequence[tuple[str, dict]], ncol: int = 4) -> None:
    """A legend below the panels: ``entries`` of (label, Line2D keyword arguments)."""
    handles = [Line2D([], [], label=label, **kw) for label, kw in entries]
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=7)


def law_panel(ax: Axes, ds, late_blocks: int, overlap: float, theta: float) -> None:
    """Late-block time to threshold of the switching-law runs (markers, one per seed) against
    the gate-switching law tau_c/(2S) ln(S/theta) (line)."""
    law = ds.law_tau_c.values
    grid = np.linspace(0, law.max() * 1.1, 50)
    plotting.theory_line(ax, grid, switch_time(grid, overlap, theta), color="k")
    late = ds.time_to_threshold_law_sim.isel(block=slice(-late_blocks, None)).mean("block")
    for i, tc in enumerate(law):
        ax.plot(np.full(ds.sizes["seed"], tc), late.isel(law_tau_c=i), "o", mfc="none",
                color="C0")
    ax.set(xlabel=r"gate timescale $\tau_c$",
           ylabel=rf"late time to $\mathcal{{L}} < {theta:g}$", title="gate-switching law")
    key(ax, theory=r"theory $\frac{\tau_c}{2S}\ln\frac{S}{\theta}$", loc="upper left")


def within_block_panel(ax: Axes, t: np.ndarray, sim: np.ndarray, theory: np.ndarray) -> None:
    """sum_p ||W^p||^2 of one seed (markers) and the within-block relation (line)."""
    plotting.theory_line(ax, t, theory, color="C0")
    step = max(1, len(t) // 120)
    ax.plot(t[::step], sim[::step], "o", mfc="none", ms=3, color="C1")
    ax.set(xlabel=TIME, ylabel=r"$\Sigma_p \|W^p\|_F^2$", title="weights follow the gates")
    key(ax, theory="theory: from the gates (conservation)", loc="lower right")


def grid_panel(ax: Axes, final, xvalues, threshold: float, *, xlabel: str, title: str):
    """Heat map of a final concatenated alignment (tau_b, column, seed): seed mean as colour
    and number, and the count of seeds at or above ``threshold`` below it. Returns the image."""
    mean = final.mean("seed").values
    count = (final >= threshold).sum("seed").values
    n = final.sizes["seed"]
    img = ax.imshow(mean, vmin=0.5, vmax=1.0, cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(len(xvalues)), [f"{x:g}" for x in xvalues])
    ax.set_yticks(range(final.sizes["tau_b"]), [f"{y:g}" for y in final.tau_b.values])
    ax.set(title=title, xlabel=xlabel, ylabel=r"block length $\tau_B$")
    ax.grid(False)
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            ax.text(j, i, f"{mean[i, j]:.2f}\n{count[i, j]}/{n}", ha="center", va="center",
                    fontsize=7, color="w" if mean[i, j] < 0.8 else "k")
    return img


def overview(ds, block_time: float, theta: float, colors: dict):
    """Loss, gates and concatenated alignment (columns) of every model (rows) of a dataset
    from :func:`learndyn.task_abstraction.simulate.compare`."""
    models = [str(m) for m in ds.model.values]
    fig, axes = plotting.figure(3, len(models), width=3.5, height=2.5)
    for row, model in enumerate(models):
        overview_row(axes[row], ds.sel(model=model), block_time, theta, color=colors[model],
                     title=model)
        axes[row, 0].set_ylim(1e-4, 1)
    overview_key(fig, ds, theta)
    return fig


def switching(ds, block_time: float, theta: float, overlap: float, late_blocks: int,
              colors: dict):
    """Time to threshold per block (all models), the switching law (if the dataset has its
    runs) and the within-block relation of the last two blocks (first model, first seed)."""
    models = [str(m) for m in ds.model.values]
    fig, axes = plotting.figure(3, 1, width=3.5, height=2.8)
    ax = axes[0, 0]
    for model in models:
        sel = ds.sel(model=model)
        threshold_panel(ax, ds.block.values + 1, sel.time_to_threshold_sim.values,
                        sel.time_to_threshold_theory.mean("seed"), color=colors[model])
    ax.axhline(float(switch_time(ds.tau_c.values[0], overlap, theta)), color="k", ls=":", lw=1)
    ax.set(xlabel="block", ylabel=rf"time to $\mathcal{{L}} < {theta:g}$",
           title="time to re-learn after a switch")
    figure_key(fig, [
        ("simulation (markers, seed band)", dict(color="0.3", marker="o", mfc="none", ls="")),
        ("theory (reduced map, switching law)", dict(color="0.3", lw=1.2)),
        *[(m, dict(color=colors[m], lw=3)) for m in models],
        (rf"$t_\theta$ of {models[0]}", dict(color="k", ls=":", lw=1))], ncol=5)
    if "law_tau_c" in ds.coords:
        law_panel(axes[0, 1], ds, late_blocks, overlap, theta)
    else:
        axes[0, 1].set_axis_off()
    sel = ds.isel(model=0, seed=0)
    t = sel.time.values
    window = t >= t[-1] - 2 * block_time
    within_block_panel(axes[0, 2], t[window], sel.norm_sq_sim.values[window],
                       sel.norm_sq_theory.values[window])
    return fig


def fig2(ds, block_time: float, theta: float, overlap: float, late_blocks: int) -> dict:
    """Fig. 2 of Sandbrink et al. for the flexible and forgetful models, captioned:
    :func:`overview` (``task_abstraction``) and :func:`switching` (``switching``)."""
    colors = {"flexible": "C0", "forgetful": "C3"}
    fig = plotting.captioned(overview(ds, block_time, theta, colors), (
        "Flexible (top): the weights become one module per task (concatenated alignment -> "
        "1) and the gates one-hot, so the loss falls below theta ever faster after each "
        "switch; forgetful (bottom): the gates stay equal and the weights track the current "
        "task (alignment ~0.71) in every block. Theory = the reduced map started from each "
        "seed's weights; it breaks the path symmetry a few blocks later than SGD, so its gates "
        "switch later there"))
    fig_s = plotting.captioned(switching(ds, block_time, theta, overlap, late_blocks, colors), (
        "Left: the flexible network re-learns a task ever faster after a switch, down to the "
        "gate-switching time t_theta (dotted), the forgetful one never speeds up; theory "
        "(lines) lags SGD (markers) in the middle blocks because SGD noise breaks the path "
        "symmetry a few blocks earlier, and they agree within ~10% in the last blocks. "
        "Middle: once modules exist a switch takes tau_c/(2S) ln(S/theta). Right: within a "
        "block the weights' norm follows the gates as the conservation law says (seed 0, "
        "last 2 blocks)."))
    return {"task_abstraction": fig, "switching": fig_s}


def per_unit_gates_panel(fig, ax: Axes, gates, tasks: list[str], k_s: int) -> None:
    """Per-unit gates ``gates`` (block, path, unit) at the ends of the last base blocks of the
    first composed task's two parts, the prediction for it (even units from the first part,
    odd units from the second) and its gates after its first block ``k_s``."""
    a = max(k for k in range(k_s) if tasks[k] == tasks[k_s][0])
    b = max(k for k in range(k_s) if tasks[k] == tasks[k_s][1])
    even = np.arange(gates.sizes["unit"]) % 2 == 0
    pred = np.where(even, gates.sel(block=a).values, gates.sel(block=b).values)
    rows = [gates.sel(block=a).values, gates.sel(block=b).values, pred,
            gates.sel(block=k_s).values]
    labels = [tasks[a], tasks[b], f"{tasks[k_s]}\npredicted", f"{tasks[k_s]}\nmeasured"]
    n_p = gates.sizes["path"]
    img = ax.imshow(np.concatenate(rows), aspect="auto", cmap="viridis", vmin=0,
                    interpolation="nearest")
    for i in range(1, len(rows)):
        ax.axhline(i * n_p - 0.5, color="w", lw=2)
    ax.set_yticks([i * n_p + (n_p - 1) / 2 for i in range(len(rows))], labels, fontsize=7)
    n_u = gates.sizes["unit"]
    ax.set_xticks(range(n_u), [str(u + 1) for u in range(n_u)])
    ax.set(xlabel=f"output unit (paths 1-{n_p} in each block)",
           title="subtask: per-unit gates at block ends")
    ax.grid(False)
    fig.colorbar(img, ax=ax, label=r"gate $c^p_i$")
