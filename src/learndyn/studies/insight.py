"""Study ``insight``: abrupt, delayed, selective strategy switches in L1-gated networks.

Löwe, Touzo, Muhle-Karbe, Saxe, Summerfield & Schuck, PLOS Comp Biol 20(10): e1012505 (2024).
Batches of test networks (colour becomes predictive at trial n_pre + 200) and paired controls
(it never does) are trained trial by trial (:mod:`learndyn.insight.model`); a network has
insight when the sigmoid score of its hardest-level accuracy beats every control of its batch
(:mod:`learndyn.insight.observables`). Beside it: the same batches without update noise, with
the paper-text variant, and our reduced dead-zone theory evaluated on each network's own state
(:mod:`learndyn.insight.theory`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import param
from ..core.study import Check, Preset, Progress, Study, run_each
from ..insight import analysis, claims, plots
from ..insight.simulate import BATCH_FIELDS, PAPER_VARIANT, InsightConfig, simulate_batches

__all__ = ["STUDY", "InsightStudyConfig", "checks", "figures", "run"]


@dataclass(frozen=True)
class InsightStudyConfig(InsightConfig):
    compare_no_noise: bool = param(True, "also run every batch with sigma_xi = 0")
    compare_paper_variant: bool = param(True, "also run every batch with the paper variant")
    headline_checks: bool = param(False, "check the published count, delay and values")


def _conditions(config: InsightStudyConfig) -> dict[str, InsightConfig]:
    """The comparison runs (default criterion only; same seeds, so the same networks)."""
    base = dict(fits=config.fits[:1], thresholds=config.thresholds[:1],
                scores=config.scores[:1], pool_factor=1)
    out = {}
    if config.compare_no_noise:
        out["no_noise"] = config.replace(sigma_xi=0.0, **base)
    if config.compare_paper_variant:
        out["paper_variant"] = config.replace(**PAPER_VARIANT, **base)
    return out


def run(config: InsightStudyConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Simulate and classify the batches, then the comparison runs."""
    batches = simulate_batches(config, seeds, progress=progress, label="test + control")
    ds = xr.merge([analysis.analyse(batches, config), analysis.trial_data(batches, config)],
                  combine_attrs="drop_conflicts")
    conditions = _conditions(config)
    if conditions:
        counts = []
        for name, cfg in conditions.items():
            other = analysis.analyse(simulate_batches(cfg, seeds, progress=progress,
                                                      label=name), cfg)
            counts.append(analysis.default_insight(other).sum("network").values)
        ds["condition_n_insight_sim"] = (("condition", "seed"), np.asarray(counts))
        ds["condition_n_insight_sim"].attrs["long_name"] = "insight networks per batch"
        ds["condition"] = list(conditions)
        ds["condition"].attrs["long_name"] = "comparison run (sigma_xi = 0; paper variant)"
    ds.attrs.update(variant=config.variant, motion_means=config.means_label)
    return ds


def checks(ds: xr.Dataset, config: InsightStudyConfig) -> list[Check]:
    """Claims of the paper (1-9, 12) and of our reduced theory (13, 14, 16, and R4's rho).

    - selectivity: mean insight fraction in (0.1, 0.9) and every batch mixed; delay: median
      > 0, SD > 50 trials; behaviour: insight networks reach >= 0.75 hardest-level accuracy
      in the colour phase, >= 0.15 above the motion phase, no-insight networks change by
      <= 0.05 (the published 64 % -> 64 %); silent knowledge: |w_c| ratio >= 1.5 (published
      3), |w_m| ratio within 30 % of 1, colour-gate gradient higher, final g_c ratio >= 3
      (published 10), final g_m lower. These pool >= 3 batches (~300 networks), so group
      means carry a few % of sampling error; the margins are ours;
    - no noise: 0 insight networks at sigma_xi = 0 in every batch (the gates clip to 0 and
      stay there: nothing can be learnt); paper variant: fraction higher by >= 0.2;
    - headline (paper preset, >= 10 batches): 46 within mean +- 2 SD of the per-batch counts
      (the count is dominated by one extreme control per batch, SD ~ 10), mean in [25, 65],
      mean delay in [100, 250] trials, listed values within 30 % of the published ones;
    - criterion options: every per-batch count, threshold and bootstrap interval present;
    - theory (ours): R1 Var w_c at onset within 15 % of n_on (alpha sigma_xi)^2 (pooled over
      the control pool, ~500 networks per batch, so ~4 % sampling error per batch); R2 max
      |w_c| / w* below 1 for the median no-insight and above 1 for the median insight
      network, and |w_c| / w* in [0.4, 1.5] when the gate opens (w* is a heuristic edge);
      R3 median rise time < 200 trials; R4 rho at onset higher for insight networks.
    """
    out = claims.selectivity(ds) + claims.delays(ds) + claims.behaviour(ds)
    out += claims.silent_knowledge(ds) + claims.criterion_report(ds)
    if "condition" in ds.coords:
        cond = ds.condition_n_insight_sim
        if "no_noise" in ds.condition.values:
            out.append(Check.at_most(
                "no_noise_no_insight", "most insight networks in a batch at sigma_xi = 0",
                float(cond.sel(condition="no_noise").max()), 0.0,
                "without update noise no network switches"))
        if "paper_variant" in ds.condition.values:
            gain = (float(cond.sel(condition="paper_variant").mean()) / config.n_networks
                    - float(claims.fraction(ds).mean()))
            out.append(Check.at_least(
                "paper_variant_gain", "insight fraction: paper variant minus code variant",
                gain, 0.2, "the paper-text rule makes nearly all networks switch"))
    if config.headline_checks:
        tag = "" if config.motion_means_file else f" ({config.motion_means} motion means)"
        out += claims.headline(ds, tag)
    if config.rule == "code":
        out += claims.theory_r1(ds)
    out += claims.theory_r2(ds) + claims.theory_r3(ds) + claims.theory_rho(ds)
    return out


def figures(ds: xr.Dataset, config: InsightStudyConfig) -> dict:
    """The switch, the delays, silent knowledge and the dead zone."""
    n = ds.sizes["seed"]
    title = (f"{config.variant} variant, {config.means_label} means, "
             f"{n} batch{'es' if n > 1 else ''}")
    counts = analysis.default_insight(ds).sum("network").values
    return {
        "switch": plotting.captioned(
            plots.switch_figure(ds, title),
            f"Hardest-level accuracy jumps after a variable delay in the insight networks "
            f"({counts.mean():.0f} of {config.n_networks} per batch on average) and stays "
            "flat in the others and in the controls; simulation only."),
        "delays": plotting.captioned(
            plots.delay_figure(ds, config, title),
            "Switch delays after colour onset spread over hundreds of trials, as published; "
            "our random-walk theory (first passage of |w_c| to w*, for networks inside the "
            "dead zone at onset) predicts fewer and earlier crossings than the observed "
            "switches (noise opens gates before w*; the fitted switch lags the crossing)."),
        "silent_knowledge": plotting.captioned(
            plots.silent_figure(ds, title),
            "Before the switch, insight networks already carry a larger colour weight behind "
            "a closed gate and a larger colour-gate gradient; at the end their colour gate is "
            "open and their motion gate closed (bars: simulation; dashes: published)."),
        "dead_zone": plotting.captioned(
            plots.dead_zone_figure(ds, title),
            "Networks whose colour weight passes our dead-zone edge w* switch, the others do "
            "not (a); the random-walk P_insight (R4) is ordered like the observed rate but "
            "its calibration is approximate (b)."),
    }


STUDY = Study(
    name="insight",
    claim="L1-gated networks with update noise switch to the hidden colour rule like people "
          "with insight: only about half of them, abruptly, after a variable delay, preceded "
          "by silent colour weight behind a closed gate; without noise none do.",
    paper="Löwe, Touzo, Muhle-Karbe, Saxe, Summerfield & Schuck, PLOS Comp Biol 2024",
    config=InsightStudyConfig,
    presets={
        "quick": Preset(seeds=3, values={"pool_factor": 3, "n_bootstrap": 200},
                        doc="3 batches of 99 + 99 networks, code variant, synthetic means"),
        "paper": Preset(seeds=10, values={"headline_checks": True},
                        doc="10 batches; motion_means_file if given, else synthetic means",
                        cost="about 1.5 min on 2 CPU cores (73 s CPU, 1.6 GB)"),
    },
    run=run,
    checks=checks,
    figures=figures,
    batch_fields=BATCH_FIELDS,
    run_batch=run_each(run, BATCH_FIELDS),
)
