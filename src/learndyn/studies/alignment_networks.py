r"""Study ``alignment_networks``: the two-point effective theory against trained networks.

Reference: L. van Rossem, A. M. Saxe, *When Representations Align: Universality in
Representation Learning Dynamics*, ICML 2024 (arXiv:2402.09142), Figs. 2-4 and the
settings table of the reference code (``experiments/model_settings/2 points.txt``).

MLPs (:mod:`.model`) are trained by full-batch gradient descent on two points (:mod:`.data`)
with squared input and target distances ``dx2``, ``dy2``. At hidden layer ``layer`` the
measured :math:`h = \|dh\|^2`, :math:`y = \|d\hat y\|^2`, :math:`w = \|d\hat y\|^2 - \langle
dy^*, d\hat y\rangle` are fitted by the ODE of :mod:`.theory` with effective rates
:math:`(\eta_h, \eta_y)` (:mod:`.fit`). The fitted rates then predict the final distance by the
fixed point

.. math:: h_\infty = \tfrac12 A_{high} + \sqrt{\tfrac14 A_{high}^2 + A_{low}^2},\quad
          A_{high} = h_0 - r\,dx2\,y_0/h_0,\ A_{low}^2 = r\,dx2\,dy2,\ r = \eta_h/\eta_y,

from the measured :math:`(h_0, y_0)`; small initial gains (rich) reach the data-set distance
:math:`\sqrt{r}\,\|dx\|\|dy^*\|`, large gains (lazy) keep :math:`h_\infty \approx h_0`.
Because the fit's starting ratio uses the final h, the final-distance agreement is a
consistency check of the fit, not an out-of-sample prediction.

Every architecture (same shapes) trains all its runs and seeds in one vmapped program
(:func:`learndyn.alignment.simulate.train_pairs`), and all runs are fitted together
(:func:`~learndyn.alignment.simulate.fit_pairs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import xarray as xr

from ..alignment import data, observables, plots
from ..alignment.fit import r_squared
from ..alignment.simulate import SETTINGS, Setting, fit_pairs, train_pairs
from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study

__all__ = ["BATCH_FIELDS", "STUDY", "SETTINGS", "AlignmentNetworksConfig", "Setting", "checks",
           "figures", "run", "run_batch", "train_pairs"]

_DX = (1.0, 0.5, 1.5, 1.0, 1.0, 1.5)  # six pairs that converge within 3000 epochs
_DY = (math.sqrt(0.5), 1.0, 1.0, 0.5, 1.0, 0.5)


@dataclass(frozen=True)
class AlignmentNetworksConfig(Config):
    settings: tuple[str, ...] = param(("shallow",), "rows of the settings table (SETTINGS)",
                                      choices=tuple(SETTINGS))
    dx: tuple[float, ...] = param(_DX, "input distances |dx| of the pairs", gt=0)
    dy: tuple[float, ...] = param(_DY, "target distances |dy*| of the pairs (same length as dx)",
                                  gt=0)
    lazy_setting: str = param("shallow", "architecture of the lazy contrast",
                              choices=tuple(SETTINGS))
    lazy_gain: float = param(2.0, "init gain of the lazy contrast (0: none)", ge=0)
    lazy_lr: float = param(0.002, "learning rate of the lazy contrast", gt=0)
    epochs: int = param(0, "training epochs (0: each setting's own)", ge=0)
    fit_every: int = param(10, "fit (and store) every this many epochs", ge=1)
    convention: str = param("half_mse", "training loss: 1/2 MSE (reference) or 1/2 sum over "
                                        "the points", choices=("half_mse", "half_sum"))
    dtype: str = param("float32", "training precision", choices=("float32", "float64"))
    converged: float = param(0.99, "a run counts as converged when y_final/dy2 >= this",
                             gt=0, le=1)

    def validate(self) -> None:
        if len(self.dx) != len(self.dy):
            raise ConfigError("config fields 'dx' and 'dy' must have the same length")
        if len({self.epochs or SETTINGS[s].epochs
                for s in (*self.settings, self.lazy_setting)}) > 1:
            raise ConfigError("config field 'epochs': the settings train for different numbers "
                              "of epochs; set one")

    @property
    def runs(self) -> list[Run]:
        """Every (setting, pair) of the table, then the lazy contrast on the first pair."""
        runs = [Run(name, "table", dx**2, dy**2, SETTINGS[name].gain, SETTINGS[name].lr)
                for name in self.settings for dx, dy in zip(self.dx, self.dy)]
        if self.lazy_gain > 0:
            runs.append(Run(self.lazy_setting, "lazy", self.dx[0] ** 2, self.dy[0] ** 2,
                            self.lazy_gain, self.lazy_lr))
        return runs

    def architecture(self, run: Run) -> Setting:
        """The run's network and training length (its gain and learning rate are data)."""
        return SETTINGS[run.setting]._replace(
            gain=0.0, lr=0.0, epochs=self.epochs or SETTINGS[run.setting].epochs)


class Run(NamedTuple):
    setting: str
    regime: str
    dx2: float
    dy2: float
    gain: float
    lr: float


#: fields that keep every array shape: a sweep over them trains in the same programs
BATCH_FIELDS = ("dx", "dy", "lazy_lr", "converged")


def run(config: AlignmentNetworksConfig, *, seeds, progress: Progress | None = None
        ) -> xr.Dataset:
    """Train every (setting, pair) and the lazy contrast; fit the rates of each run."""
    return run_batch([config], seeds=seeds, progress=progress)[0]


def run_batch(configs, *, seeds, progress: Progress | None = None) -> list[xr.Dataset]:
    """:func:`run` for configs differing only in :data:`BATCH_FIELDS` (pairs of the same count,
    lazy rates): every architecture trains all configs' runs in one program, fitted together."""
    config = configs[0]
    if any(c.replace(**{f: getattr(config, f) for f in BATCH_FIELDS}) != config
           or len(c.dx) != len(config.dx) for c in configs):
        raise ConfigError("run_batch: configs may differ only in " + ", ".join(BATCH_FIELDS)
                          + " (with as many pairs)")
    runs = [r for c in configs for r in c.runs]
    groups: dict[Setting, list[int]] = {}
    for k, r in enumerate(runs):
        groups.setdefault(config.architecture(r), []).append(k)
    out: dict[str, np.ndarray] = {}
    for gi, (setting, members) in enumerate(groups.items()):
        values, steps = train_pairs(
            setting, [data.two_points(runs[k].dx2, runs[k].dy2) for k in members],
            [runs[k].gain for k in members], [runs[k].lr for k in members],
            epochs=setting.epochs, seeds=seeds, fit_every=config.fit_every,
            convention=config.convention, dtype=config.dtype, progress=progress,
            label=f"architecture {gi + 1}/{len(groups)}")
        for name, arr in values.items():
            out.setdefault(name, np.full((len(runs), len(seeds)) + arr.shape[2:], np.nan))
            out[name][members] = arr
    dx2 = np.array([r.dx2 for r in runs])[:, None]
    dy2 = np.array([r.dy2 for r in runs])[:, None]
    theory = fit_pairs(steps.astype(float), out, dx2=dx2, dy2=dy2, convention=config.convention)
    n = len(config.runs)
    return [_dataset(c, runs[i * n:(i + 1) * n], seeds, steps,
                     {k: v[i * n:(i + 1) * n] for k, v in {**out, **theory}.items()})
            for i, c in enumerate(configs)]


def _dataset(config, runs: list[Run], seeds, steps, v: dict) -> xr.Dataset:
    rs, rst = ("run", "seed"), ("run", "seed", "time")
    curves = {f"{q}_sim": (rst, v[q]) for q in ("h", "y", "w", "loss")}
    curves.update({f"{q}_theory": (rst, v[f"{q}_fit"]) for q in ("h", "y", "w", "loss")})
    scalars = ("eta_h", "eta_y", "eta_mean", "fit_loss", "r2_h", "r2_y", "r2_w", "r2_loss",
               "h_final_theory", "h_rich_limit", "C_scale")
    ds = xr.Dataset(
        {**curves, "C_sim": (rst, v["C_sim"]), "C_theory": (rst, v["C_theory"]),
         **{k: (rs, v[k]) for k in scalars},
         "h0_sim": (rs, v["h"][..., 0]), "h_final_sim": (rs, v["h"][..., -1]),
         "converged": (rs, v["y"][..., -1] / np.array([r.dy2 for r in runs])[:, None]
                       >= config.converged)},
        coords={"run": np.arange(len(runs)), "seed": list(seeds), "time": steps.astype(float),
                **{k: ("run", [getattr(r, k) for r in runs])
                   for k in ("setting", "regime", "dx2", "dy2", "gain", "lr")}})
    return observables.describe(ds, observables.NETWORK_ATTRS)


# ---- checks -------------------------------------------------------------------------------
def _sel(ds: xr.Dataset, regime: str) -> xr.Dataset:
    return ds.isel(run=np.flatnonzero(ds.regime.values == regime))


def _worst(values: xr.DataArray, mask: xr.DataArray, how: str) -> float:
    v = values.values[mask.values]
    if v.size == 0 or not np.all(np.isfinite(v)):
        return float("nan")
    return float(v.min() if how == "min" else v.max())


def checks(ds: xr.Dataset, config: AlignmentNetworksConfig) -> list[Check]:
    """The claims on trained networks, with tolerances (ours, not the paper's) and why.

    Fit checks cover the converged runs (y_final/dy2 >= ``converged``) of the settings table
    ("table" runs): ``converged`` (at least half, so the others have data), ``fit_h``,
    ``fit_y`` (R^2 >= 0.95) and ``fit_w`` (>= 0.7: w is small and noisier; 0.78-0.99 in spot
    checks), ``final_h`` (the fixed point from the fitted rates and the measured (h0, y0)
    within 10% of the measured final h; a consistency check, since the fit's ratio guess uses
    the final h), ``conserved_network`` (C drifts by <= 10% of its h-term along the measured
    curves: the closure is approximate for networks) and ``conserved_fit`` (1e-6, solver
    accuracy). Rich vs lazy: the table runs of the lazy contrast's architecture are the rich
    side, ``rich_growth`` (h grows >= 10-fold) and ``rich_limit`` (h_final within 10% of the
    rich limit with the fitted ratio); ``lazy_frozen``: |h_final/h0 - 1| <= 0.1.
    ``universality`` (settings with >= 4 converged pairs): R^2 of predicted vs measured final h
    across pairs >= 0.9 for every setting."""
    table, lazy = _sel(ds, "table"), _sel(ds, "lazy")
    conv = table.converged
    contrast = config.lazy_setting
    rich = table.isel(run=np.flatnonzero(table.setting.values == contrast))
    out = [
        Check.at_least("converged",
                       f"runs converged (y_final/dy2 >= {config.converged:g}): fraction",
                       float(conv.mean()) if conv.size else float("nan"), 0.5,
                       "most runs converge, so the fit checks below have data"),
        Check.at_least("fit_h", "fit R^2 of h (min over converged runs)",
                       _worst(table.r2_h, conv, "min"), 0.95,
                       "the fitted ODE follows the measured representational distance"),
        Check.at_least("fit_y", "fit R^2 of y (min over converged runs)",
                       _worst(table.r2_y, conv, "min"), 0.95,
                       "the fitted ODE follows the measured output distance"),
        Check.at_least("fit_w", "fit R^2 of w (min over converged runs)",
                       _worst(table.r2_w, conv, "min"), 0.7,
                       "the fitted ODE follows the output misfit w (small, noisier)"),
        Check.at_most("final_h",
                      "final h: |fixed point / measured - 1| (max over converged runs)",
                      _worst(abs(table.h_final_theory / table.h_final_sim - 1), conv, "max"),
                      0.1, "the fixed point with fitted rates gives the final distance"),
        Check.at_most("conserved_network",
                      "conserved C of the measured curves: drift / |h-term| (max, converged)",
                      _worst(abs(table.C_sim.isel(time=-1) - table.C_sim.isel(time=0))
                             / table.C_scale, conv, "max"), 0.1,
                      "C = h/(eta_h dx2) - y/(eta_y h) is nearly conserved by the network"),
        Check.at_most("conserved_fit",
                      "conserved C along the fitted ODE: max relative drift",
                      float(np.nanmax(np.abs(ds.C_theory - ds.C_theory.isel(time=0))
                                      / ds.C_scale)), 1e-6,
                      "the theory curves conserve C (solver accuracy)"),
    ]
    if rich.sizes["run"]:  # the rich side of rich vs lazy (if that architecture ran)
        out += [
            Check.at_least("rich_growth",
                           f"rich ({contrast}): h_final/h0 (min)",
                           _worst(rich.h_final_sim / rich.h0_sim, rich.converged, "min"), 10.0,
                           "small initial weights: the representation distance grows many-fold"),
            Check.at_most("rich_limit",
                          f"rich ({contrast}): |h_final / rich limit - 1| (max)",
                          _worst(abs(rich.h_final_sim / rich.h_rich_limit - 1), rich.converged,
                                 "max"), 0.1,
                          "rich regime: h_final = sqrt(eta_h/eta_y) |dx| |dy*| (data-determined)"),
        ]
    if lazy.sizes["run"]:
        out.append(Check.at_most(
            "lazy_frozen", "lazy: |h_final/h0 - 1| (max)",
            _worst(abs(lazy.h_final_sim / lazy.h0_sim - 1), xr.ones_like(lazy.converged),
                   "max"),
            0.1, "large initial weights: the representation keeps its initial distance"))
    settings = sorted(set(table.setting.values))
    if any(int((table.setting == s).sum()) >= 4 for s in settings):
        r2 = []
        for s in settings:
            sub = table.isel(run=np.flatnonzero(table.setting.values == s))
            ok = sub.converged.values
            if ok.sum() >= 4:
                r2.append(r_squared(sub.h_final_sim.values[ok],
                                        sub.h_final_theory.values[ok], axis=0))
        out.append(Check.at_least(
            "universality",
            "universality: R^2 of predicted vs measured final h (min over settings)",
            float(np.min(r2)) if r2 else float("nan"), 0.9,
            "the fixed point predicts the final distance across pairs for every architecture"))
    return out


# ---- figures ------------------------------------------------------------------------------
def figures(ds: xr.Dataset, config: AlignmentNetworksConfig) -> dict:
    """Fitted ODE (lines) over the measured curves (markers); final h predicted vs measured;
    rich vs lazy."""
    return {"alignment_networks_fits": plots.fits(ds, config),
            "alignment_networks_final": plots.final(ds, config)}


def _headline(ds: xr.Dataset) -> float:
    rich = _sel(ds, "table")
    return float(np.nanmax(np.abs(rich.h_final_theory / rich.h_final_sim - 1)))


STUDY = Study(
    name="alignment_networks",
    claim="With fitted effective learning rates the two-point ODE follows the representational "
          "distance of trained networks and its fixed point gives their final distance; small "
          "initial gains are rich (distance set by the data), large gains lazy.",
    paper="van Rossem & Saxe, When Representations Align: Universality in Representation "
          "Learning Dynamics, ICML 2024 (Figs. 2-4)",
    config=AlignmentNetworksConfig,
    presets={
        "quick": Preset(seeds=1, doc="shallow leaky-ReLU MLP (width 500, 2 hidden layers), "
                                     "six pairs, gain 0.35, plus the gain-2.0 lazy contrast"),
        "paper": Preset(
            seeds=1,
            values=dict(settings=tuple(SETTINGS),
                        dx=tuple(float(a) for a in np.repeat([0.5, 0.75, 1.0, 1.25, 1.5], 4)),
                        dy=tuple(float(b) for b in np.tile([0.25, 0.5, 0.75, 1.0], 5))),
            doc="every MLP/ResNet/Adam row of the reference's settings table on a 5 x 4 grid "
                "of (dx, dy), plus the lazy contrast (CNN and dropout rows not included)",
            cost="days on a CPU (7 h per architecture group under load, 10 groups); GPU"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_batch,
    headline=lambda ds, config: _headline(ds),
    headline_label="max relative error of the predicted final h (table runs)",
)
