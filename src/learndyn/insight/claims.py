"""The claims of Löwe et al. (PLOS Comp Biol 2024) and of our reduced theory as checks on a
batch dataset (from :func:`learndyn.insight.analysis.analyse`). The tolerances are the
studies' (their ``checks`` docstrings say why); values are pooled over batches unless stated.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.stats import spearmanr

from ..core.study import Check
from .analysis import default_insight, outcome_means

__all__ = ["PUBLISHED", "behaviour", "criterion_report", "delays", "fraction", "headline",
           "ratio", "selectivity", "silent_knowledge", "spearman", "sweep_fraction", "theory_r1",
           "theory_r2", "theory_r3", "theory_r4_sweep", "theory_rho"]

#: published values (paper, as quoted): (insight, no insight) where paired
PUBLISHED = {
    "n_insight": 46, "delay_mean": 175.0, "delay_sd": 105.0,
    "motion_acc": (0.58, 0.64), "colour_acc": (0.83, 0.64),
    "abs_wc_onset": (1.2, 0.4), "abs_wm_onset": (3.4, 3.5), "gc_grad": (0.05, 0.01),
    "abs_gc_end": (0.7, 0.07), "abs_gm_end": (0.2, 0.5),
}


def fraction(ds: xr.Dataset) -> np.ndarray:
    """Insight fraction per batch (default criterion)."""
    return default_insight(ds).mean("network").values


def _by_outcome(ds: xr.Dataset, name: str) -> tuple[float, float]:
    """(insight, no insight) means of a measure, from the per-network variables."""
    m = outcome_means(ds).sel(measure=name).values
    return float(m[0]), float(m[1])


def ratio(ds: xr.Dataset, name: str) -> float:
    """Mean over insight networks / mean over no-insight networks of measure ``name``."""
    a, b = _by_outcome(ds, name)
    return a / b if b else np.nan


def selectivity(ds: xr.Dataset, lo: float = 0.1, hi: float = 0.9) -> list[Check]:
    frac = fraction(ds)
    counts = default_insight(ds).sum("network").values
    n = ds.sizes["network"]
    mixed = float(np.mean((counts >= 1) & (counts <= n - 1)))
    claim = "only some networks switch (selectivity)"
    return [Check.at_least("selectivity_low", "mean insight fraction over batches (> 0.1)",
                           frac.mean(), lo, claim),
            Check.at_most("selectivity_high", "mean insight fraction over batches (< 0.9)",
                          frac.mean(), hi, claim),
            Check.at_least("every_batch_mixed",
                           "fraction of batches with >= 1 insight and >= 1 no-insight network",
                           mixed, 1.0, claim)]


def delays(ds: xr.Dataset, sd_min: float = 50.0) -> list[Check]:
    d = ds.delay_sim.values[np.isfinite(ds.delay_sim.values)]
    return [Check.at_least("delay_median", "median delay of insight networks (trials, > 0)",
                           np.median(d) if d.size else np.nan, 0.0,
                           "the switch comes after colour onset (delay)"),
            Check.at_least("delay_spread", "SD of delays (trials)",
                           np.std(d, ddof=1) if d.size > 1 else np.nan, sd_min,
                           "delays vary widely between networks")]


def behaviour(ds: xr.Dataset) -> list[Check]:
    (m_ins, m_no), (c_ins, c_no) = (_by_outcome(ds, k) for k in ("motion_acc", "colour_acc"))
    return [
        Check.at_least("insight_colour_accuracy",
                       "insight networks: hardest-level accuracy, colour phase", c_ins, 0.75,
                       "insight networks solve the hardest trials once they use colour"),
        Check.at_least("insight_accuracy_gain",
                       "insight networks: colour-phase minus motion-phase accuracy",
                       c_ins - m_ins, 0.15, "behaviour jumps with the switch"),
        Check.at_most("no_insight_accuracy_change",
                      "no-insight networks: |colour-phase - motion-phase accuracy|",
                      abs(c_no - m_no), 0.05, "networks without insight stay where they were"),
        Check.at_least("insight_worse_before",
                       "motion-phase accuracy: no insight minus insight", m_no - m_ins, 0.0,
                       "insight networks are slightly worse before the switch"),
    ]


def silent_knowledge(ds: xr.Dataset) -> list[Check]:
    claim = "colour weight grows silently behind a closed gate before the switch"
    return [
        Check.at_least("wc_onset_ratio", "|w_c| at onset, insight / no insight",
                       ratio(ds, "abs_wc_onset"), 1.5, claim),
        Check.at_most("wm_onset_ratio", "| |w_m| at onset, insight / no insight - 1 |",
                      abs(ratio(ds, "abs_wm_onset") - 1.0), 0.3,
                      "the motion weight does not tell the groups apart"),
        Check.at_least("gc_gradient_ratio",
                       "mean |dL/dg_c| over the first 5 colour trials, insight / no insight",
                       ratio(ds, "gc_grad"), 1.0, claim),
        Check.at_least("final_gc_ratio", "final |g_c|, insight / no insight",
                       ratio(ds, "abs_gc_end"), 3.0, "insight networks open the colour gate"),
        Check.at_most("final_gm_ratio", "final |g_m|, insight / no insight",
                      ratio(ds, "abs_gm_end"), 1.0, "and close the motion gate"),
    ]


def criterion_report(ds: xr.Dataset) -> list[Check]:
    """Presence of the per-batch counts under every criterion option, their thresholds and
    the bootstrap interval (the values themselves are reported, not judged)."""
    counts = ds.n_insight_sim.values
    thresholds = ds.threshold_sim.values
    present = np.isfinite(counts).sum() + np.isfinite(thresholds).sum()
    present += np.isfinite(ds.n_insight_boot_sim.values).sum()
    present += np.isfinite(ds.lone_control_sim.values.astype(float)).sum()
    total = counts.size + thresholds.size + ds.n_insight_boot_sim.size + ds.lone_control_sim.size
    return [Check.at_least("criterion_options_reported",
                           "fraction of (option, batch) counts, thresholds and intervals present",
                           present / total, 1.0,
                           "the count is reported per batch under every criterion option")]


def headline(ds: xr.Dataset, tag: str = "", *, rel: float = 0.3) -> list[Check]:
    """Checks 7-9: the published count, delay and values (paper preset); ``tag`` is added to
    the count checks' names (e.g. " (synthetic motion means)")."""
    counts = default_insight(ds).sum("network").values.astype(float)
    mean, sd = counts.mean(), counts.std(ddof=1)
    pub = PUBLISHED
    d = ds.delay_sim.values[np.isfinite(ds.delay_sim.values)]
    out = [
        Check.at_most("count_46_within_2sd",
                      f"|46 - mean count| / SD of per-batch counts{tag}",
                      abs(pub["n_insight"] - mean) / sd if sd > 0 else np.inf, 2.0,
                      "46 of 99 networks show insight"),
        Check.at_least("count_mean_low", f"mean insight count per batch{tag}", mean, 25.0,
                       "46 of 99 networks show insight"),
        Check.at_most("count_mean_high", f"mean insight count per batch{tag}", mean, 65.0,
                      "46 of 99 networks show insight"),
        Check.at_least("delay_mean_low", "mean delay of insight networks (trials)",
                       d.mean() if d.size else np.nan, 100.0, "delay 175 +- 105 trials"),
        Check.at_most("delay_mean_high", "mean delay of insight networks (trials)",
                      d.mean() if d.size else np.nan, 250.0, "delay 175 +- 105 trials"),
    ]
    for name, which in (("colour_acc", 0), ("motion_acc", 1), ("colour_acc", 1),
                        ("abs_wc_onset", 0), ("abs_wm_onset", 0), ("abs_wm_onset", 1)):
        group = ("insight", "no_insight")[which]
        value, target = _by_outcome(ds, name)[which], pub[name][which]
        out.append(Check.at_most(
            f"{name}_{group}_vs_published", f"{name} ({group}): relative error vs {target}",
            abs(value / target - 1.0), rel, "published value (paper, as quoted)"))
    return out


def theory_r1(ds: xr.Dataset, tol: float = 0.15) -> list[Check]:
    """R1: the spread of w_c at onset is the noise random walk's."""
    var = float(np.mean(ds.wc_var_sim.values))
    return [Check.at_most("r1_wc_variance", "Var w_c at onset / (n_on (alpha sigma_xi)^2) - 1",
                          abs(var / float(ds.wc_var_theory) - 1.0), tol,
                          "ours (R1): behind a closed gate w_c moves by noise alone")]


def theory_r2(ds: xr.Dataset) -> list[Check]:
    """R2: w* separates the networks that escape from those that do not."""
    ins = default_insight(ds).values
    test = ds.sel(group="test")
    reach = (test.max_wc_colour_sim / test.w_star_theory).values
    at_open = (test.wc_gate_open_sim / test.w_star_theory).values
    claim = "ours (R2): the gate opens once |w_c| passes w* = lam/(alpha mu_c rho)"
    med = lambda x: float(np.nanmedian(x)) if np.isfinite(x).any() else np.nan  # noqa: E731
    return [
        Check.at_most("r2_no_insight_below", "median over no-insight nets of max|w_c| / w*",
                      med(reach[~ins]), 1.0, claim),
        Check.at_least("r2_insight_above", "median over insight nets of max|w_c| / w*",
                       med(reach[ins]), 1.0, claim),
        Check.at_least("r2_escape_ratio_low", "insight nets: median |w_c|/w* when |g_c| >= 0.1",
                       med(at_open[ins]), 0.4, claim),
        Check.at_most("r2_escape_ratio_high", "insight nets: median |w_c|/w* when |g_c| >= 0.1",
                      med(at_open[ins]), 1.5, claim),
    ]


def theory_r3(ds: xr.Dataset, limit: float = 200.0) -> list[Check]:
    r = ds.rise_time_sim.values
    return [Check.at_most("r3_rise_time", "median 10-90 % rise time of |g_c w_c| (trials)",
                          np.nanmedian(r) if np.isfinite(r).any() else np.nan, limit,
                          "ours (R3): the escape is fast compared with the delay")]


def theory_rho(ds: xr.Dataset) -> list[Check]:
    ins = default_insight(ds).values
    rho = ds.rho_onset_theory.sel(group="test").values
    diff = (np.nanmean(rho[ins]) - np.nanmean(rho[~ins]) if ins.any() and (~ins).any()
            else np.nan)
    return [Check.at_least("r4_rho_higher", "mean rho at onset: insight minus no insight", diff,
                           0.0,
                           "ours (R4): worse motion fits leave more for colour to explain")]


def spearman(x, y) -> float:
    """Spearman rank correlation (NaN if either is constant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    return float(spearmanr(x, y).statistic)


def sweep_fraction(ds: xr.Dataset, field: str) -> np.ndarray:
    """Insight fraction (default criterion) per sweep value and batch, (value, seed)."""
    return default_insight(ds).mean("network").transpose(field, "seed").values


def theory_r4_sweep(ds: xr.Dataset, field: str, label: str, threshold: float = 0.7
                    ) -> list[Check]:
    """R4 across a sweep: the mean P_insight is ordered like the simulated fraction."""
    frac = sweep_fraction(ds, field).mean(axis=1)
    return [Check.at_least(f"r4_spearman_{field}",
                           f"Spearman(P_insight theory, simulated fraction) over {label}",
                           spearman(ds.fraction_theory.values, frac), threshold,
                           f"ours (R4): P_insight follows the insight fraction over {label}")]
