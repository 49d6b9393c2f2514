"""One figure style for every study: theory as lines, simulation as mean with a band over seeds.

Simulation means are drawn as open markers (thinned to at most ``max_markers``) over a shaded
band of +/- one standard deviation across seeds, so a theory line running through the band is
visible at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = ["caption_of", "captioned", "colors", "figure", "legend_below", "legend_theory_sim",
           "sim_band", "theory_line"]

STYLE = {
    "figure.dpi": 100,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "legend.frameon": False,
}


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.0, height: float = 3.2,
           **kwargs) -> tuple[Figure, np.ndarray]:
    """A figure with an array of axes (always 2-D: ``axes[row, col]``) in the house style."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                                 squeeze=False, layout="constrained", **kwargs)
    for ax in axes.flat:
        ax.grid(True, alpha=0.25)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def captioned(fig: Figure, caption: str) -> Figure:
    """Attach the figure's one-sentence caption: what to see, and where theory and simulation
    are known to differ. It is stored beside the PNG and shown in the report."""
    fig.set_label(" ".join(caption.split()))
    return fig


def caption_of(fig: Figure) -> str:
    """The caption given by :func:`captioned` ("" if none)."""
    return fig.get_label()


def colors(n: int) -> list:
    """``n`` distinguishable colours (viridis-like for ordered things such as modes)."""
    cmap = plt.get_cmap("viridis")
    return [cmap(x) for x in np.linspace(0.0, 0.85, max(n, 1))]


def theory_line(ax: Axes, x: np.ndarray, y: np.ndarray, *, color=None, label: str | None = None,
                **kwargs) -> None:
    """Theory: a line, solid unless ``linestyle``/``ls`` says otherwise."""
    if "ls" not in kwargs:
        kwargs.setdefault("linestyle", "-")
    ax.plot(np.asarray(x), np.asarray(y), color=color, lw=1.6, label=label, **kwargs)


def sim_band(ax: Axes, x: np.ndarray, ys: np.ndarray, *, color=None, label: str | None = None,
             max_markers: int = 40) -> None:
    """Simulation: mean over the first axis (seeds) as markers, +/- 1 std as a band.

    Markers are thinned to points evenly spread along x (records may be log-spaced).
    """
    x, ys = np.asarray(x), np.asarray(ys)
    mean, std = ys.mean(axis=0), ys.std(axis=0)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.25, lw=0)
    scale = ax.get_xscale()
    grid = (np.geomspace(x[x > 0].min(), x.max(), max_markers) if scale == "log"
            else np.linspace(x.min(), x.max(), max_markers))
    idx = np.unique(np.clip(np.searchsorted(x, grid), 0, len(x) - 1))
    ax.plot(x[idx], mean[idx], "o", mfc="none", ms=4, mew=1.0, color=color, label=label)


def legend_theory_sim(ax: Axes, entries: Sequence[tuple[str, object]] = (), **kwargs) -> None:
    """A legend with the two style keys (theory line, simulation markers) plus colour entries."""
    handles = [
        Line2D([], [], color="0.3", lw=1.6, label="theory"),
        Line2D([], [], color="0.3", marker="o", mfc="none", ls="none", label="simulation"),
    ]
    handles += [Line2D([], [], color=c, lw=3, label=name) for name, c in entries]
    ax.legend(handles=handles, **kwargs)


def legend_below(fig: Figure, entries: Sequence[tuple[str, object]], *, ncols: int = 5,
                 extra: Sequence[Line2D] = (), theory: str = "theory",
                 simulation: str = "simulation") -> None:
    """One legend under the panels: the theory/simulation key (labelled ``theory`` and
    ``simulation``), ``extra`` handles and colour entries (name, colour)."""
    handles = [Line2D([], [], color="0.3", lw=1.6, label=theory),
               Line2D([], [], color="0.3", marker="o", mfc="none", ls="none",
                      label=simulation), *extra]
    handles += [Line2D([], [], color=c, lw=3, label=name) for name, c in entries]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(ncols, len(handles)),
               fontsize=8)
