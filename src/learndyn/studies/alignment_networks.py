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

Every architecture group (same shapes) trains all its runs and seeds in one vmapped program,
and all runs are fitted together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import xarray as xr
from matplotlib.ticker import NullFormatter

from ..alignment import data, fit, model, theory
from ..core import plotting
from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study

__all__ = ["STUDY", "AlignmentNetworksConfig", "SETTINGS", "Setting",
           "train_pairs"]


class Setting(NamedTuple):
    """One row of the reference's settings table (two points, d_in = d_out = 1)."""

    activation: str
    gain: float
    lr: float
    width: int
    depth: int
    epochs: int
    layer: int
    residual: bool = False
    optimizer: str = "sgd"


_DEEP = dict(width=500, depth=20, epochs=3000, layer=10)
SETTINGS: dict[str, Setting] = {
    "default": Setting("leaky_relu", 1.0, 0.01, **_DEEP),
    "shallow": Setting("leaky_relu", 0.35, 0.02, 500, 2, 3000, 1),
    "narrow": Setting("leaky_relu", 1.05, 0.01, 50, 20, 3000, 10),
    "linear": Setting("linear", 0.85, 0.0025, **_DEEP),
    "elu": Setting("elu", 0.95, 0.0009, **_DEEP),
    "tanh": Setting("tanh", 0.85, 0.0025, **_DEEP),
    "relu": Setting("relu", 1.0, 0.01, **_DEEP),
    "swish": Setting("silu", 1.7, 0.005, **_DEEP),
    "skip": Setting("leaky_relu", 0.1, 0.02, **_DEEP, residual=True),
    "gain_0.9": Setting("leaky_relu", 0.9, 0.03, **_DEEP),
    "gain_1.1": Setting("leaky_relu", 1.1, 0.005, **_DEEP),
    "gain_1.2": Setting("leaky_relu", 1.2, 0.0025, **_DEEP),
    "gain_1.3": Setting("leaky_relu", 1.3, 0.0015, **_DEEP),
    "gain_1.4": Setting("leaky_relu", 1.4, 0.0005, **_DEEP),
    "gain_1.6": Setting("leaky_relu", 1.6, 3e-6, **_DEEP),
    "adam": Setting("leaky_relu", 1.0, 1e-6, **_DEEP, optimizer="adam"),
}


@dataclass(frozen=True)
class AlignmentNetworksConfig(Config):
    settings: tuple[str, ...] = param(("shallow",), "rows of the settings table (SETTINGS)",
                                      choices=tuple(SETTINGS))
    dx: tuple[float, ...] = param((1.0, 0.5, 1.5), "input distances |dx| of the pairs", gt=0)
    dy: tuple[float, ...] = param((math.sqrt(0.5), 1.0, 1.0),
                                  "target distances |dy*| of the pairs (same length as dx)",
                                  gt=0)
    lazy_setting: str = param("shallow", "architecture of the lazy contrast",
                              choices=tuple(SETTINGS))
    lazy_gain: float = param(2.0, "init gain of the lazy contrast (0: none)", ge=0)
    lazy_lr: float = param(0.002, "learning rate of the lazy contrast", gt=0)
    epochs: int = param(0, "training epochs (0: each setting's own)", ge=0)
    fit_every: int = param(10, "fit (and store) every this many epochs", ge=1)
    convention: Literal["half_mse", "half_sum"] = param(
        "half_mse", "training loss: 1/2 MSE (reference) or 1/2 sum over the points")
    dtype: Literal["float32", "float64"] = param("float32", "training precision")
    converged: float = param(0.99, "a run counts as converged when y_final/dy2 >= this",
                             gt=0, le=1)

    def validate(self) -> None:
        if len(self.dx) != len(self.dy):
            raise ConfigError("config fields 'dx' and 'dy' must have the same length")


class Run(NamedTuple):
    setting: str
    regime: str
    dx2: float
    dy2: float
    gain: float
    lr: float


def _runs(config: AlignmentNetworksConfig) -> list[Run]:
    runs = [Run(name, "table", dx**2, dy**2, SETTINGS[name].gain, SETTINGS[name].lr)
            for name in config.settings for dx, dy in zip(config.dx, config.dy)]
    if config.lazy_gain > 0:
        runs.append(Run(config.lazy_setting, "lazy", config.dx[0] ** 2, config.dy[0] ** 2,
                        config.lazy_gain, config.lazy_lr))
    return runs


def train_pairs(setting: Setting, points: list[tuple[np.ndarray, np.ndarray]], gains, lrs,
                  *, epochs: int, seeds, fit_every: int, convention: str, dtype: str,
                  pair: tuple[int, int] = (0, 1), progress: Progress | None = None,
                  label: str = "") -> tuple[dict, np.ndarray]:
    """Train one architecture on several data sets (vmapped) and record the pair (i, j).

    Returns ``(values, steps)``: ``values`` holds ``h``, ``y``, ``w``, ``loss``, ``mean_err``
    of shape (run, seed, record) at epochs ``steps`` (every ``fit_every``), and the full
    ``(P, P)`` matrices ``h_matrix`` at the first and last epoch.
    """
    arch = model.Arch(d_in=points[0][0].shape[1], d_out=points[0][1].shape[1],
                      width=setting.width, depth=setting.depth, activation=setting.activation,
                      residual=setting.residual, layer=setting.layer)
    x = np.stack([p[0] for p in points])
    y = np.stack([p[1] for p in points])
    rec = model.train(arch, x, y, gains, lrs, epochs=epochs, seeds=seeds,
                      optimizer=setting.optimizer, convention=convention, dtype=dtype,
                      progress=progress, label=label)
    steps = np.unique(np.r_[np.arange(0, epochs + 1, fit_every), epochs])
    i, j = pair
    v = rec.values
    values = {k: np.asarray(v[k][:, :, steps, i, j], float) for k in ("h", "y", "w")}
    values.update({k: np.asarray(v[k][:, :, steps], float) for k in ("loss", "mean_err")})
    values["h_matrix"] = np.asarray(v["h"][:, :, [0, -1]], float)
    values["y_matrix"] = np.asarray(v["y"][:, :, [0, -1]], float)
    return values, steps


def run(config: AlignmentNetworksConfig, *, seeds, progress: Progress | None = None
        ) -> xr.Dataset:
    """Train every (setting, pair) and the lazy contrast; fit the rates of each run."""
    runs = _runs(config)
    groups: dict[tuple, list[int]] = {}
    for k, r in enumerate(runs):
        s = SETTINGS[r.setting]
        epochs = config.epochs or s.epochs
        groups.setdefault(s._replace(gain=0.0, lr=0.0, epochs=epochs), []).append(k)
    epochs_all = {g.epochs for g in groups}
    if len(epochs_all) != 1:
        raise ConfigError("all settings must train for the same number of epochs "
                          "(set 'epochs')")
    epochs = epochs_all.pop()
    n_seed = len(seeds)
    out: dict[str, np.ndarray] = {}
    for gi, (setting, members) in enumerate(groups.items()):
        points = [data.two_points(runs[k].dx2, runs[k].dy2) for k in members]
        values, steps = train_pairs(
            setting, points, [runs[k].gain for k in members], [runs[k].lr for k in members],
            epochs=epochs, seeds=seeds, fit_every=config.fit_every,
            convention=config.convention, dtype=config.dtype, progress=progress,
            label=f"group {gi + 1}/{len(groups)}")
        for name, arr in values.items():
            if name not in out:
                out[name] = np.full((len(runs), n_seed) + arr.shape[2:], np.nan)
            out[name][members] = arr
    times = steps.astype(float)
    dx2 = np.array([r.dx2 for r in runs])[:, None]
    dy2 = np.array([r.dy2 for r in runs])[:, None]
    f = fit.fit_rates(times, out["h"], out["y"], out["w"], dx2=dx2, dy2=dy2, loss=out["loss"],
                      mean_gap0=out["mean_err"][..., 0], convention=config.convention)
    h0, y0, h_end = out["h"][..., 0], out["y"][..., 0], out["h"][..., -1]
    h_final_theory = np.asarray(theory.final_distance(
        h0, y0, dx2=dx2, dy2=dy2, eta_h=f.eta_h, eta_y=f.eta_y))
    rich = np.asarray(theory.rich_limit(dx2=dx2, dy2=dy2, eta_h=f.eta_h, eta_y=f.eta_y))
    rates = theory.ode_rates(f.eta_h, f.eta_y, config.convention)
    c_sim = np.asarray(theory.conserved(out["h"], out["y"], dx2=dx2[..., None],
                                        eta_h=rates[0][..., None], eta_y=rates[1][..., None]))
    c_theory = np.asarray(theory.conserved(f.h_fit, f.y_fit, dx2=dx2[..., None],
                                           eta_h=rates[0][..., None],
                                           eta_y=rates[1][..., None]))
    c_scale = np.abs(h_end) / (rates[0] * dx2)  # size of the h-term of C at the end
    rs = ("run", "seed")
    rst = ("run", "seed", "time")
    ds = xr.Dataset(
        {
            "h_sim": (rst, out["h"]), "y_sim": (rst, out["y"]), "w_sim": (rst, out["w"]),
            "loss_sim": (rst, out["loss"]),
            "h_theory": (rst, f.h_fit), "y_theory": (rst, f.y_fit), "w_theory": (rst, f.w_fit),
            "loss_theory": (rst, f.loss_fit),
            "C_sim": (rst, c_sim), "C_theory": (rst, c_theory), "C_scale": (rs, c_scale),
            "eta_h": (rs, f.eta_h), "eta_y": (rs, f.eta_y), "eta_mean": (rs, f.eta_mean),
            "fit_loss": (rs, f.fit_loss), "r2_h": (rs, f.r2_h), "r2_y": (rs, f.r2_y),
            "r2_w": (rs, f.r2_w), "r2_loss": (rs, f.r2_loss),
            "h0_sim": (rs, h0), "h_final_sim": (rs, h_end),
            "h_final_theory": (rs, h_final_theory), "h_rich_limit": (rs, rich),
            "converged": (rs, out["y"][..., -1] / dy2 >= config.converged),
        },
        coords={
            "run": np.arange(len(runs)), "seed": list(seeds), "time": times,
            "setting": ("run", [r.setting for r in runs]),
            "regime": ("run", [r.regime for r in runs]),
            "dx2": ("run", dx2[:, 0]), "dy2": ("run", dy2[:, 0]),
            "gain": ("run", [r.gain for r in runs]), "lr": ("run", [r.lr for r in runs]),
        },
        attrs={"convention": config.convention, "time_unit": "epoch",
               "contrast_setting": config.lazy_setting,
               "rates": "per epoch, in the training loss convention"},
    )
    return ds


# ---- checks -------------------------------------------------------------------------------
def _sel(ds: xr.Dataset, regime: str) -> xr.Dataset:
    return ds.isel(run=np.flatnonzero(ds.regime.values == regime))


def _worst(values: xr.DataArray, mask: xr.DataArray, how: str) -> float:
    v = values.values[mask.values]
    if v.size == 0 or not np.all(np.isfinite(v)):
        return float("nan")
    return float(v.min() if how == "min" else v.max())


def checks(ds: xr.Dataset, config) -> list[Check]:
    """Spec checks 7 and 8 (thresholds ours), conservation, and universality across settings.

    Fit checks cover the converged runs of the settings table ("table" runs); the rich side of
    rich vs lazy is the table runs of the lazy contrast's architecture (gain 0.35 for
    "shallow")."""
    table, lazy = _sel(ds, "table"), _sel(ds, "lazy")
    conv = table.converged
    contrast = str(ds.attrs.get("contrast_setting", "shallow"))
    rich = table.isel(run=np.flatnonzero(table.setting.values == contrast))
    out = [
        Check.at_least('runs_converged_y_final_dy2',
                       "runs converged (y_final/dy2 >= 0.99): fraction",
                       float(conv.mean()) if conv.size else float("nan"), 0.5,
                       "most runs converge, so the fit checks below have data"),
        Check.at_least('fit_r_2_h_min', "fit R^2 of h (min over converged runs)",
                       _worst(table.r2_h, conv, "min"), 0.95,
                       "the fitted ODE follows the measured representational distance"),
        Check.at_least('fit_r_2_y_min', "fit R^2 of y (min over converged runs)",
                       _worst(table.r2_y, conv, "min"), 0.95,
                       "the fitted ODE follows the measured output distance"),
        Check.at_least('fit_r_2_w_min', "fit R^2 of w (min over converged runs)",
                       _worst(table.r2_w, conv, "min"), 0.7,
                       "the fitted ODE follows the output misfit w (small, noisier)"),
        Check.at_most('final_h_fixed_point_measured',
                      "final h: |fixed point / measured - 1| (max over converged runs)",
                      _worst(abs(table.h_final_theory / table.h_final_sim - 1), conv, "max"),
                      0.1, "the fixed point with fitted rates gives the final distance"),
        Check.at_most('conserved_c_measured_curves_drift',
                      "conserved C of the measured curves: drift / |h-term| (max, converged)",
                      _worst(abs(table.C_sim.isel(time=-1) - table.C_sim.isel(time=0))
                             / table.C_scale, conv, "max"), 0.1,
                      "C = h/(eta_h dx2) - y/(eta_y h) is nearly conserved by the network"),
        Check.at_most('conserved_c_along_fitted_ode',
                      "conserved C along the fitted ODE: max relative drift",
                      float(np.nanmax(np.abs(ds.C_theory - ds.C_theory.isel(time=0))
                                      / ds.C_scale)), 1e-6,
                      "the theory curves conserve C (solver accuracy)"),
    ]
    if rich.sizes["run"]:  # the rich side of rich vs lazy (if that architecture ran)
        out += [
            Check.at_least(f"rich_{contrast}_h_final_h0_min",
                           f"rich ({contrast}): h_final/h0 (min)",
                           _worst(rich.h_final_sim / rich.h0_sim, rich.converged, "min"), 10.0,
                           "small initial weights: the representation distance grows many-fold"),
            Check.at_most(f"rich_{contrast}_h_final_rich_limit",
                          f"rich ({contrast}): |h_final / rich limit - 1| (max)",
                          _worst(abs(rich.h_final_sim / rich.h_rich_limit - 1), rich.converged,
                                 "max"), 0.1,
                          "rich regime: h_final = sqrt(eta_h/eta_y) |dx| |dy*| (data-determined)"),
        ]
    if lazy.sizes["run"]:
        out.append(Check.at_most(
            'lazy_h_final_h0_1', "lazy: |h_final/h0 - 1| (max)",
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
                r2.append(fit.r_squared(sub.h_final_sim.values[ok],
                                        sub.h_final_theory.values[ok], axis=0))
        out.append(Check.at_least(
            'universality_r_2_predicted_measured',
            "universality: R^2 of predicted vs measured final h (min over settings)",
            float(np.min(r2)) if r2 else float("nan"), 0.9,
            "the fixed point predicts the final distance across pairs for every architecture"))
    return out


# ---- figures ------------------------------------------------------------------------------
def figures(ds: xr.Dataset, config) -> dict:
    """Fitted ODE (lines) over measured h, y, w and loss (markers); final h predicted vs
    measured; rich vs lazy."""
    first = str(ds.setting.values[0])
    rows = [(first, np.flatnonzero((ds.regime.values == "table")
                                   & (ds.setting.values == first))),
            ("lazy", np.flatnonzero(ds.regime.values == "lazy"))]
    rows = [(name, idx) for name, idx in rows if idx.size]
    fig, axes = plotting.figure(4, len(rows), width=3.4, height=2.8)
    t = ds.time.values
    for r, (name, idx) in enumerate(rows):
        cols = plotting.colors(len(idx))
        for c, k in zip(cols, idx):
            run = ds.isel(run=k)
            label = f"dx2={float(run.dx2):.3g}, dy2={float(run.dy2):.3g}, g={float(run.gain):g}"
            for a, var in enumerate(("h", "y", "w", "loss")):
                ax = axes[r, a]
                plotting.sim_band(ax, t, run[f"{var}_sim"].values, color=c)
                plotting.theory_line(ax, t, run[f"{var}_theory"].mean("seed").values, color=c,
                                     label=label if a == 0 else None)
        for a, var in enumerate(("h = |dh|^2", "y = |dy^|^2", "w", "loss")):
            axes[r, a].set(xlabel="epoch", title=f"{name}: {var}")
        axes[r, 3].set_yscale("log")
        axes[r, 0].legend(fontsize=6)
    fits = {"alignment_networks_fits": fig}

    fig, axes = plotting.figure(2, 1, width=3.8, height=3.4)
    ax = axes[0, 0]
    names = sorted(set(ds.setting.values))
    cols = plotting.colors(len(names))
    for name, c in zip(names, cols):
        for regime, marker in (("table", "o"), ("lazy", "s")):
            sel = (ds.setting.values == name) & (ds.regime.values == regime)
            if sel.any():
                sub = ds.isel(run=np.flatnonzero(sel))
                ax.plot(sub.h_final_sim.values.ravel(), sub.h_final_theory.values.ravel(),
                        marker, mfc="none", color=c,
                        label=f"{name}" + (" (lazy contrast)" if regime == "lazy" else ""))
    both = np.concatenate([ds.h_final_sim.values.ravel(), ds.h_final_theory.values.ravel()])
    both = both[np.isfinite(both) & (both > 0)]
    lim = [0.8 * both.min(), 1.25 * both.max()]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="measured final h",
           ylabel="fixed point from fitted rates", title="final representational distance")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=6)
    ax = axes[0, 1]
    contrast = str(ds.attrs.get("contrast_setting", "shallow"))
    for regime, ls in (("table", "-"), ("lazy", "--")):
        for k in np.flatnonzero((ds.regime.values == regime) & (ds.setting.values == contrast)):
            run = ds.isel(run=k)
            ax.plot(t, (run.h_sim / run.h0_sim).mean("seed"), ls,
                    label=f"g={float(run.gain):g}, dx2={float(run.dx2):.3g}, "
                          f"dy2={float(run.dy2):.3g}")
    ax.set(yscale="log", xlabel="epoch", ylabel="h / h0", title="rich vs lazy")
    ax.legend(fontsize=6)
    return {**fits, "alignment_networks_final": fig}


def _headline(ds: xr.Dataset) -> float:
    rich = _sel(ds, "table")
    return float(np.nanmax(np.abs(rich.h_final_theory / rich.h_final_sim - 1)))


_PAPER_SETTINGS = tuple(s for s in SETTINGS)

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
                                     "three pairs, gain 0.35, plus the gain-2.0 lazy contrast"),
        "paper": Preset(
            seeds=1,
            values=dict(settings=_PAPER_SETTINGS,
                        dx=tuple(float(a) for a in np.repeat([0.5, 0.75, 1.0, 1.25, 1.5], 4)),
                        dy=tuple(float(b) for b in np.tile([0.25, 0.5, 0.75, 1.0], 5))),
            doc="every MLP/ResNet/Adam row of the reference's settings table on a 5 x 4 grid "
                "of (dx, dy), plus the lazy contrast (CNN and dropout rows not included)"),
    },
    run=run,
    figures=figures,
    checks=checks,
    headline=lambda ds, config: _headline(ds),
    headline_label="max relative error of the predicted final h (table runs)",
)
