"""Figures of the transformer runs of ``icl_transience`` (Singh et al., NeurIPS 2023; ICML
2025): every evaluator's accuracy over sequences seen, the transience window shaded, beside the
training loss. Simulation only (no theory for the transformer).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..core import plotting
from . import data
from .observables import primary

__all__ = ["LABELS", "evaluators_figure", "transience_window"]

LABELS = {"icl": "icl (in context)", "icl_holdout": "icl, held-out classes", "flip": "flip",
          "iwl": "iwl", "ciwl": "ciwl", "train_eval": "training data"}


def transience_window(t: np.ndarray, icl: np.ndarray) -> tuple[float, float] | None:
    """From the ICL peak to where the fall reaches 90% of its size (None without a fall)."""
    i = int(np.argmax(icl))
    drop = icl[i] - icl[-1]
    if drop < 0.05:
        return None
    j = i + int(np.argmax(icl[i:] <= icl[i] - 0.9 * drop))
    return float(t[i]), float(t[j])


def evaluators_figure(ds: xr.Dataset, l2_form: str) -> Figure:
    """Evaluator accuracies and training CE over sequences seen, one row per variant (of
    :func:`learndyn.icl_transience.simulate.train_variants`); ``l2_form`` names the penalty."""
    t = ds.time.values
    variants = list(ds.variant.values)
    fig, axes = plotting.figure(2, len(variants), width=3.6, height=2.7)
    colors = dict(zip(data.EVALUATORS, ["C0", "C9", "C3", "C2", "C1", "0.4"]))
    for row, v in enumerate(variants):
        sub = ds.sel(variant=v)
        ax = axes[row, 0]
        for e in sub.evaluator.values:
            curve = primary(sub, str(e))
            plotting.sim_band(ax, t, curve.values, color=colors[str(e)], label=LABELS[str(e)],
                              max_markers=25)
            ax.plot(t, curve.mean("seed"), color=colors[str(e)], lw=0.8)
        window = transience_window(t, primary(sub, "icl").mean("seed").values) \
            if "icl" in sub.evaluator.values else None
        if window:
            ax.axvspan(*window, color="0.85", zorder=0, label="transience window")
        lam = float(sub.lam)
        title = "matched exemplars" if v == "matched" else \
            f"$\\lambda$ = {lam:g} ({l2_form} L2)" if lam else "no L2"
        ax.set(xlabel="sequences seen", ylabel="accuracy", ylim=(-0.02, 1.02),
               title=title + ("" if window else ": no transience"))
        ce = sub.ce_sim.sel(evaluator="train_eval") if "train_eval" in sub.evaluator.values \
            else sub.ce_sim.isel(evaluator=0)
        ax = axes[row, 1]
        plotting.sim_band(ax, t, ce.values, color="0.3", label="simulation (seed mean, band)")
        ax.set(xlabel="sequences seen", ylabel="cross-entropy (nats)", title="training loss")
        ax.legend(fontsize=7, loc="upper right")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=4, fontsize=7)
    return plotting.captioned(fig, "Accuracy of each evaluator (icl and flip read in context, "
                              "iwl and ciwl over the whole vocabulary) and the training loss; "
                              "the grey span marks where ICL fades. Simulation only (no theory "
                              "for the transformer); the quick preset is a smoke test and shows "
                              "no transience.")
