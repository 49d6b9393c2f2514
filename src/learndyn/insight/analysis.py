"""From simulated batches to the labelled result: the insight criterion under every option,
its batch-to-batch and within-batch uncertainty, the silent-knowledge measures and the reduced
theory evaluated on each network's own state (Löwe et al., PLOS Comp Biol 2024; the theory is
ours, see :mod:`learndyn.insight.theory`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..core.study import Progress
from . import observables, theory
from .simulate import Batches, InsightConfig, simulate_batches

__all__ = ["MEASURES", "analyse", "compare", "default_insight", "label_coords",
           "outcome_means", "sweep", "sweep_theory", "trial_data"]

#: silent-knowledge measures compared between insight and no-insight networks
MEASURES = {
    "abs_wc_onset": "|w_c| at colour onset",
    "abs_wm_onset": "|w_m| at colour onset",
    "gc_grad": "mean |dL/dg_c|, first 5 colour trials",
    "abs_gc_end": "final |g_c|",
    "abs_gm_end": "final |g_m|",
    "motion_acc": "hardest-level accuracy, motion phase",
    "colour_acc": "hardest-level accuracy, colour phase",
}


def _attrs(da: xr.DataArray, long_name: str, units: str = "") -> xr.DataArray:
    da.attrs["long_name"] = long_name
    if units:
        da.attrs["units"] = units
    return da


def _split(x: np.ndarray, n: int) -> np.ndarray:
    """(seed, net, ...) -> (seed, group, network, ...): tests and their paired controls."""
    return np.stack([x[:, :n], x[:, n:2 * n]], axis=1)


def analyse(batches: Batches, config: InsightConfig, *, rng_seed: int = 0) -> xr.Dataset:
    """Per-network and per-batch results of ``batches`` (dims seed, group, network, bin and
    the criterion options fit, threshold, score; the first of each is the default)."""
    n = config.n_networks
    task = config.task
    n_motion = task.motion_blocks * 100
    main = task.n_main
    diverged = batches.diverged
    bins = observables.binned_hard_accuracy(batches.acc[..., :main],
                                            batches.levels[..., task.n_pretrain:][..., :main])
    bins = np.where(diverged[..., None], np.nan, bins)  # (seed, net, 12)
    n_seed, n_net, n_bins = bins.shape
    fits, thresholds, scores = config.fits, config.thresholds, config.scores
    fitted = {f: {k: v.reshape(n_seed, n_net) for k, v in
                  observables.fit_switch(bins.reshape(-1, n_bins), f).items()} for f in fits}
    score = np.stack([np.stack([observables.switch_scores(fitted[f], bins, s) for s in scores])
                      for f in fits])  # (fit, score, seed, net)
    test, ctrl = slice(0, n), slice(n, 2 * n)
    thr = np.empty((len(fits), len(thresholds), len(scores), n_seed))
    for i, j, k, b in np.ndindex(thr.shape):
        thr[i, j, k, b] = observables.threshold(score[i, k, b, ctrl], score[i, k, b, n:],
                                                thresholds[j], config.quantile)
    insight = observables.classify(score[:, None, :, :, test], thr[..., None])
    rng = np.random.default_rng(rng_seed)
    boot = np.stack([observables.bootstrap_counts(score[0, 0, b, test], score[0, 0, b, ctrl],
                                                  n_boot=config.n_bootstrap, rng=rng)
                     for b in range(n_seed)])
    lone = np.array([[[observables.lone_control_threshold(score[i, k, b, ctrl])
                       for b in range(n_seed)] for k in range(len(scores))]
                     for i in range(len(fits))])
    default = insight[0, 0, 0]  # (seed, network)
    t_switch = fitted[fits[0]]["t_switch"][:, test]
    delay = np.where(default, (t_switch - observables.N_MOTION_BINS) * observables.BIN, np.nan)

    # silent knowledge (parameters before the trial: index n_motion = colour onset)
    onset, end = batches.params[:, :, n_motion], batches.params[:, :, main]
    colour = batches.params[:, :, n_motion:main + 1]
    gc_grad = np.abs(batches.grad_gc[:, :, n_motion:n_motion + 5]).mean(axis=-1)
    u = np.abs(colour[..., 2] * colour[..., 3])[:, test]
    rise = np.where(default, observables.rise_time(u.reshape(-1, u.shape[-1]))
                    .reshape(n_seed, n), np.nan)

    # theory from each network's own state at onset
    a_m = onset[..., 0] * onset[..., 1]
    rho = theory.rho(a_m, batches.mu_m, plus_minus=task.plus_minus)
    w_star = theory.w_star(config.lam, config.alpha, config.mu_c, rho, config.rule)
    step = config.sigma_xi * (config.alpha if config.rule == "code" else 1.0)
    p_ins = theory.p_cross(np.abs(onset[..., 2]), w_star, step, task.colour_blocks * 100)
    opened = np.abs(colour[..., 3]) >= 0.1
    first = np.argmax(opened, axis=-1)
    wc_open = np.take_along_axis(np.abs(colour[..., 2]), first[..., None], -1)[..., 0]
    wc_open = np.where(opened.any(axis=-1), wc_open, np.nan)

    gs = ("seed", "group", "network")
    fs = ("fit", "seed", "group", "network")
    fields = {
        "hard_acc_bins_sim": (gs + ("bin",), _split(bins, n),
                              "hardest-level accuracy, 50-trial bins"),
        "diverged_sim": (gs, _split(diverged, n), "network diverged (no insight)"),
        "score_sim": (("fit", "score") + gs, np.stack([score[..., test], score[..., ctrl]], -2),
                      "classification score"),
        "threshold_sim": (("fit", "threshold", "score", "seed"), thr, "insight threshold"),
        "insight_sim": (("fit", "threshold", "score", "seed", "network"), insight,
                        "insight network"),
        "n_insight_sim": (("seed", "fit", "threshold", "score"),
                          np.moveaxis(insight.sum(-1), -1, 0), "insight networks per batch"),
        "n_insight_boot_sim": (("seed", "quantile"), np.percentile(boot, [2.5, 97.5], axis=1).T,
                               "insight count, bootstrap over controls (2.5/97.5 %)"),
        "lone_control_sim": (("fit", "score", "seed"), lone,
                             "threshold set by one control > 2 SD above the others"),
        "delay_sim": (("seed", "network"), delay, "switch delay after colour onset", "trials"),
        "rise_time_sim": (("seed", "network"), rise, "10-90 % rise time of |g_c w_c|", "trials"),
        "wc_onset_sim": (gs, _split(onset[..., 2], n), "w_c at colour onset"),
        "wc_var_sim": (("seed",), np.nanvar(np.where(diverged[:, n:], np.nan, onset[:, n:, 2]),
                                            axis=1, ddof=1),
                       "Var w_c at onset over the control pool (all distinct networks)"),
        "abs_wc_onset_sim": (gs, _split(np.abs(onset[..., 2]), n), MEASURES[
            "abs_wc_onset"]),
        "abs_wm_onset_sim": (gs, _split(np.abs(onset[..., 0]), n), MEASURES[
            "abs_wm_onset"]),
        "abs_gc_onset_sim": (gs, _split(np.abs(onset[..., 3]), n), "|g_c| at onset"),
        "abs_gm_onset_sim": (gs, _split(np.abs(onset[..., 1]), n), "|g_m| at onset"),
        "abs_wc_end_sim": (gs, _split(np.abs(end[..., 2]), n), "final |w_c|"),
        "abs_wm_end_sim": (gs, _split(np.abs(end[..., 0]), n), "final |w_m|"),
        "abs_gc_end_sim": (gs, _split(np.abs(end[..., 3]), n), MEASURES["abs_gc_end"]),
        "abs_gm_end_sim": (gs, _split(np.abs(end[..., 1]), n), MEASURES["abs_gm_end"]),
        "gc_grad_sim": (gs, _split(gc_grad, n), MEASURES["gc_grad"]),
        "motion_acc_sim": (gs, _split(bins[..., :4].mean(-1), n),
                           MEASURES["motion_acc"]),
        "colour_acc_sim": (gs, _split(bins[..., 4:].mean(-1), n),
                           MEASURES["colour_acc"]),
        "max_wc_colour_sim": (gs, _split(np.abs(colour[..., 2]).max(-1), n),
                              "max |w_c| over the colour phase"),
        "wc_gate_open_sim": (gs, _split(wc_open, n),
                             "|w_c| at the first colour trial with |g_c| >= 0.1"),
        "rho_onset_theory": (gs, _split(rho, n), "motion residual rho at onset"),
        "w_star_theory": (gs, _split(w_star, n), "dead-zone edge w*"),
        "p_insight_theory": (gs, _split(p_ins, n), "P(|w_c| reaches w*), R4"),
    }
    for name in ("f_min", "f_max", "t_switch", "slope", "sse"):
        fields[f"{name}_sim"] = (fs, np.stack([_split(fitted[f][name], n)
                                               for f in fits]), f"sigmoid fit: {name}")
    ds = xr.Dataset({k: _attrs(xr.DataArray(v[1], dims=v[0]), *v[2:])
                     for k, v in fields.items()},
                    coords={"seed": batches.seeds, "group": ["test", "control"],
                            "network": np.arange(n), "bin": np.arange(1, n_bins + 1),
                            "fit": list(fits), "threshold": list(thresholds),
                            "score": list(scores), "quantile": [2.5, 97.5]})
    ds["wc_var_theory"] = _attrs(xr.DataArray(theory.wc_variance(
        task.onset, config.alpha, config.sigma_xi, config.rule)), "Var w_c at onset, R1")
    ds["silent_knowledge_sim"] = outcome_means(ds)
    return label_coords(ds)


def trial_data(batches: Batches, config: InsightConfig) -> xr.Dataset:
    """Trial-level records of the test networks and their paired controls (float32):
    ``accuracy_sim``, ``hard_acc_sim`` and ``choice_correct_sim`` over phases 1-2,
    ``params_sim`` over the whole run at the coarse record times."""
    n, task = config.n_networks, config.task
    main = task.n_main
    trials = np.arange(task.n_pretrain, task.n_pretrain + main)
    gs = ("seed", "group", "network")
    ds = xr.Dataset(
        {"accuracy_sim": (gs + ("trial",), _split(batches.acc[..., :main], n)
                          .astype(np.float32)),
         "hard_acc_sim": (gs + ("trial",), _split(batches.hard_acc[..., :main], n)
                          .astype(np.float32)),
         "choice_correct_sim": (gs + ("trial",), _split(batches.correct[..., :main], n)
                                .astype(np.int8)),
         "params_sim": (gs + ("time", "param"), _split(batches.coarse_params, n)
                        .astype(np.float32))},
        coords={"seed": batches.seeds, "group": ["test", "control"], "network": np.arange(n),
                "trial": trials, "phase": ("trial", task.phases()[trials]),
                "time": batches.coarse_steps, "param": ["w_m", "g_m", "w_c", "g_c"]})
    _attrs(ds.accuracy_sim, "analytic accuracy on the trial's level, before its update")
    _attrs(ds.hard_acc_sim, "analytic accuracy at the hardest level, before the update")
    _attrs(ds.choice_correct_sim, "sampled choice correct (y_hat > 1/2 for 0/1 targets, > 0 "
           "for -1/+1)")
    _attrs(ds.params_sim, "weights and gates before the trial (effective input weights for "
           "the hidden variant)")
    return label_coords(ds)


_COORDS = {
    "seed": ("batch (engine seed)", ""),
    "group": ("test networks or their paired controls (colour never predictive)", ""),
    "network": ("network within its batch", ""),
    "bin": ("50-trial bin of phases 1-2 (1-4 motion, 5-12 colour)", ""),
    "fit": ("sigmoid fit of the insight criterion", ""),
    "threshold": ("insight threshold", ""),
    "score": ("classification score", ""),
    "quantile": ("bootstrap percentile", "%"),
    "trial": ("trial (from the start of pre-training)", "trials"),
    "phase": ("task phase (0 pre-training, 1 motion, 2 motion + colour, 3 instructed)", ""),
    "time": ("trials since the start of pre-training", "trials"),
    "param": ("parameter", ""),
    "measure": ("silent-knowledge measure", ""),
    "outcome": ("insight or no insight (default criterion)", ""),
}


def label_coords(ds: xr.Dataset) -> xr.Dataset:
    """Give every known coordinate its ``long_name`` (and ``units``)."""
    for name, (long_name, units) in _COORDS.items():
        if name in ds.coords:
            _attrs(ds[name], long_name, units)
    return ds


def default_insight(ds: xr.Dataset) -> xr.DataArray:
    """Insight under the default criterion (first fit, threshold and score), (seed, network)."""
    return ds.insight_sim.isel(fit=0, threshold=0, score=0)


def outcome_means(ds: xr.Dataset) -> xr.DataArray:
    """Means of the silent-knowledge :data:`MEASURES` over test networks with and without
    insight (default criterion), pooled over batches: dims (measure, outcome)."""
    ins = default_insight(ds).values
    values = np.full((len(MEASURES), 2), np.nan)
    for i, name in enumerate(MEASURES):
        x = ds[f"{name}_sim"].sel(group="test").values
        ok = np.isfinite(x)
        with np.errstate(invalid="ignore"):
            values[i] = [np.mean(x[ok & ins]) if (ok & ins).any() else np.nan,
                         np.mean(x[ok & ~ins]) if (ok & ~ins).any() else np.nan]
    return _attrs(xr.DataArray(values, dims=("measure", "outcome"),
                               coords={"measure": list(MEASURES),
                                       "outcome": ["insight", "no_insight"]}),
                  "silent-knowledge measures by outcome (test networks)")


def compare(config: InsightConfig, runs: dict, dim: str, *, seeds,
            progress: Progress | None = None) -> xr.Dataset:
    """:func:`analyse` for each ``{label: field overrides}`` of ``runs`` (a new dimension
    ``dim`` labelled by the keys); each run gets its own networks and controls (engine
    ``point`` = its index) and runs sharing array shapes re-use one compiled program (the
    rule, noise and strengths are traced arguments)."""
    parts = []
    for i, (label, overrides) in enumerate(runs.items()):
        cfg = config.replace(**overrides)
        batches = simulate_batches(cfg, seeds, point=i, progress=progress, label=f"{label}")
        parts.append(analyse(batches, cfg, rng_seed=i))
    ds = xr.concat(parts, dim=dim, data_vars="all", coords="minimal", compat="override",
                   join="override")
    ds[dim] = list(runs)
    ds.attrs.update(variant=config.variant, motion_means=config.means_label)
    return label_coords(ds)


def sweep(config: InsightConfig, field: str, values, *, seeds,
          progress: Progress | None = None) -> xr.Dataset:
    """:func:`compare` over the values of one config ``field`` (the dimension ``field``)."""
    runs = {f"{field} = {v}": {field: v} for v in values}
    ds = compare(config, runs, field, seeds=seeds, progress=progress)
    ds[field] = list(values)
    return ds


def sweep_theory(ds: xr.Dataset, config: InsightConfig, field: str) -> xr.Dataset:
    """Per sweep value: the mean P_insight over test networks and the mean first-passage
    delay of R4, from each network's own onset state (ours)."""
    p, delay = [], []
    for value in ds[field].values:
        cfg = config.replace(**{field: float(value)})
        test = ds.sel({field: value, "group": "test"})
        step = cfg.sigma_xi * (cfg.alpha if cfg.rule == "code" else 1.0)
        p.append(float(np.nanmean(test.p_insight_theory.values)))
        delay.append(theory.mean_first_passage(
            np.abs(test.wc_onset_sim.values), test.w_star_theory.values, step,
            cfg.task.colour_blocks * 100) if step > 0 else np.nan)
    out = xr.Dataset({"fraction_theory": ((field,), np.array(p)),
                      "delay_theory": ((field,), np.array(delay))},
                     coords={field: ds[field].values})
    _attrs(out.fraction_theory, "P_insight, R4 (mean over test networks; ours)")
    _attrs(out.delay_theory, "mean first passage of |w_c| to w*, R4 (ours)", "trials")
    return out
