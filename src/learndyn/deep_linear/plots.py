r"""Figure pieces for lambda sweeps of two-layer linear networks (Dominé et al., ICLR 2025).

lambda = 0 is drawn black, lambda > 0 in reds and lambda < 0 in blues, darker with |lambda|;
theory is a line (dashed for lambda < 0, which in equal dimensions lies on the +lambda curve),
simulation open markers (:mod:`learndyn.core.plotting`). lambda axes are symmetric-logarithmic.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..core import plotting

__all__ = ["curves", "lambda_axis", "lambda_colors", "legend_below", "spread", "versus_lambda"]


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
