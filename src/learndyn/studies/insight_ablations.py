"""Study ``insight_ablations``: which ingredients make insight-like switches?

Löwe, Touzo, Muhle-Karbe, Saxe, Summerfield & Schuck, PLOS Comp Biol 2024 (noise and
architecture analyses). The batches of :mod:`learndyn.studies.insight` with one change each:
no update noise; no gates (g = 1, no regulariser); L2 instead of L1 gates; lambda = 0; noise on
the gates only or on the weights only; 6 pre-training blocks; the paper's update rule; and a
hidden-layer network (gated inputs -> linear hidden layer -> output, lambda = 0.002,
alpha = 0.1; provisional: its architecture was not available to us). Each has its own networks
and controls. The predictions for no gates, gate-only noise, L2 and lambda = 0 are ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import param
from ..core.study import Check, Preset, Progress, Study, run_each
from ..insight import analysis, plots
from ..insight.simulate import BATCH_FIELDS, SweepConfig

__all__ = ["ABLATIONS", "STUDY", "InsightAblationsConfig", "checks", "figures", "run"]

#: label -> (field overrides, description)
ABLATIONS = {
    "baseline": ({}, "baseline (authors' rule)"),
    "no_noise": ({"sigma_xi": 0.0}, r"$\sigma_\xi$ = 0"),
    "no_gates": ({"gates": "fixed", "regulariser": "none"}, "no gates"),
    "l2_gates": ({"regulariser": "l2"}, "L2 gates"),
    "lambda_0": ({"lam": 0.0}, r"$\lambda$ = 0"),
    "noise_gates_only": ({"noise_on": "gates"}, "noise on gates only"),
    "noise_weights_only": ({"noise_on": "weights"}, "noise on weights only"),
    "pretrain_6": ({"pretrain_blocks": 6}, "6 pre-training blocks"),
    "paper_rule": ({"rule": "paper"}, "paper rule"),
    "hidden": ({"architecture": "hidden", "lam": 0.002, "alpha": 0.1},
               "hidden layer (provisional)"),
}
_PUBLISHED = {"baseline": 46 / 99, "hidden": 18 / 99}


@dataclass(frozen=True)
class InsightAblationsConfig(SweepConfig):
    ablations: tuple[str, ...] = param(tuple(ABLATIONS), "ablations to run (baseline first)",
                                       choices=tuple(ABLATIONS))


def run(config: InsightAblationsConfig, *, seeds, progress: Progress | None = None
        ) -> xr.Dataset:
    """Every ablation for every batch (shape-keeping ones share one compiled program)."""
    runs = {name: ABLATIONS[name][0] for name in config.ablations}
    ds = analysis.compare(config, runs, "ablation", seeds=seeds, progress=progress)
    ds["ablation"].attrs.update(long_name="ablation (one change to the baseline)")
    return ds


def _summary(ds: xr.Dataset, name: str) -> tuple[float, float]:
    """(mean insight fraction, median delay) of one ablation."""
    sel = ds.sel(ablation=name)
    frac = float(analysis.default_insight(sel).mean())
    d = sel.delay_sim.values
    return frac, float(np.nanmedian(d)) if np.isfinite(d).any() else np.nan


def checks(ds: xr.Dataset, config: InsightAblationsConfig) -> list[Check]:
    """Our predictions for the ablations (flagged "ours"; the paper has no numbers for them).

    - no update noise: no insight network;
    - no gates: colour is used right after onset by nearly all networks (fraction >= 0.8,
      median delay <= 100 trials): no delay, no selectivity;
    - noise on the gates only: w_c never leaves its start (no data gradient behind a closed
      gate, no noise of its own), so <= 0.1 insight;
    - L2 gates and lambda = 0: no dead zone, so switching is at least as frequent and no later
      than with L1 (fraction >= baseline's, median delay <= baseline's).
    With one batch per ablation (quick) the fractions carry ~0.05-0.1 of batch noise; the
    predictions are far from their thresholds or they fail.
    """
    names = list(ds.ablation.values)
    out: list[Check] = []
    if "no_noise" in names:
        out.append(Check.at_most("ablation_no_noise", "no update noise: insight fraction",
                                 _summary(ds, "no_noise")[0], 0.0,
                                 "without update noise no network switches"))
    if "no_gates" in names:
        frac, delay = _summary(ds, "no_gates")
        out += [Check.at_least("ablation_no_gates_fraction", "no gates: insight fraction",
                               frac, 0.8, "ours: without gates colour is used by nearly all"),
                Check.at_most("ablation_no_gates_delay", "no gates: median delay (trials)",
                              delay, 100.0, "ours: without gates there is no delay")]
    if "noise_gates_only" in names:
        out.append(Check.at_most(
            "ablation_noise_gates_only", "noise on the gates only: insight fraction",
            _summary(ds, "noise_gates_only")[0], 0.1,
            "ours: noise on the weights is required (the silent colour weight)"))
    if "baseline" in names:
        base_frac, base_delay = _summary(ds, "baseline")
        for name in ("l2_gates", "lambda_0"):
            if name in names:
                frac, delay = _summary(ds, name)
                out += [Check.at_least(f"ablation_{name}_fraction",
                                       f"{name}: insight fraction minus baseline's",
                                       frac - base_frac, 0.0,
                                       "ours: without the L1 dead zone switching is more common"),
                        Check.at_most(f"ablation_{name}_delay",
                                      f"{name}: median delay minus baseline's (trials)",
                                      delay - base_delay, 0.0,
                                      "ours: without the L1 dead zone switching is earlier")]
    return out


def figures(ds: xr.Dataset, config: InsightAblationsConfig) -> dict:
    """Insight fraction and median delay per ablation."""
    labels = {k: v[1] for k, v in ABLATIONS.items()}
    fig = plots.ablation_figure(ds, labels, _PUBLISHED,
                                f"{config.means_label} means, {ds.sizes['seed']} "
                                f"batch{'es' if ds.sizes['seed'] > 1 else ''} per ablation")
    return {"ablations": plotting.captioned(
        fig, "Insight needs update noise on the weights and the L1 dead zone: without gates, "
             "with L2 gates or lambda = 0 colour is taken up by (nearly) all networks and early; "
             "without weight noise (or any noise) nobody switches; the hidden-layer network "
             "is provisional (dots: batches; diamonds: published).")}


STUDY = Study(
    name="insight_ablations",
    claim="Insight-like switches need update noise on the weights and L1-regularised gates; "
          "without gates or with L2 gates colour is used early by nearly all networks.",
    paper="Löwe, Touzo, Muhle-Karbe, Saxe, Summerfield & Schuck, PLOS Comp Biol 2024",
    config=InsightAblationsConfig,
    presets={
        "quick": Preset(seeds=1, doc="one batch of 99 + 99 networks per ablation"),
        "paper": Preset(seeds=3, doc="three batches per ablation",
                                 cost="under a minute on 2 CPU cores (42 s CPU)"),
    },
    run=run,
    checks=checks,
    figures=figures,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
