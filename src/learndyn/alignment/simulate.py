r"""Simulations of the alignment studies beside their theory (van Rossem & Saxe, ICML 2024).

- :func:`micro_beside_ode`: micro-model runs (:mod:`.micro`; random states drawn per seed, and
  states with given (h, y, w)) in one compiled program, each with its own rates, loss factor
  and time grid, and the (h, y, w) ODE of :mod:`.theory` beside every run from the same state,
  in one vmapped solve; :func:`micro_dataset`, :func:`sweep_dataset` and :func:`chain_dataset`
  put its runs from random starts, from the init-scale sweep and from the scalar chain in
  Datasets;
- :data:`SETTINGS` and :func:`train_pairs`: trained MLPs on pairs of points (the settings table
  of the paper's reference code), every run of one architecture in one vmapped program, the pair
  geometry (h, y, w) recorded for the fit of the effective rates.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core.precision import float64
from ..core.study import Progress
from . import fit, micro, model, theory

__all__ = ["SETTINGS", "Setting", "chain_dataset", "fit_pairs", "flat_broadcast",
           "micro_beside_ode", "micro_dataset", "sweep_dataset", "train_pairs"]


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


def train_pairs(setting: Setting, points: list[tuple[np.ndarray, np.ndarray]], gains, lrs,
                *, epochs: int, seeds, fit_every: int, convention: str, dtype: str,
                pair: tuple[int, int] = (0, 1), progress: Progress | None = None,
                label: str = "") -> tuple[dict, np.ndarray]:
    """Train one architecture on several data sets (one vmapped program) and record the
    geometry of the pair of points (i, j).

    Returns ``(values, steps)``: ``values`` holds ``h``, ``y``, ``w``, ``loss``, ``mean_err``
    of shape (run, seed, record) at epochs ``steps`` (every ``fit_every``, and the last).
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
    return values, steps


def fit_pairs(times: np.ndarray, curves: dict, *, dx2, dy2, convention: str) -> dict:
    """Fit the effective rates to measured pair curves and evaluate the theory with them.

    ``curves``: ``h``, ``y``, ``w``, ``loss`` (..., T) and ``mean_err`` (..., T) of
    :func:`train_pairs`; ``dx2``, ``dy2`` broadcast against the leading axes. Returns the
    :class:`.fit.Fit` fields, ``h_final_theory`` (the fixed point from the fitted ratio and the
    measured (h0, y0)), ``h_rich_limit``, the conserved quantity along the measured curves
    (``C_sim``) and the fitted ODE (``C_theory``), and ``C_scale`` (its h-term at the end)."""
    h, y = curves["h"], curves["y"]
    f = fit.fit_rates(times, h, y, curves["w"], dx2=dx2, dy2=dy2, loss=curves["loss"],
                      mean_gap0=curves["mean_err"][..., 0], convention=convention)
    rates = theory.ode_rates(f.eta_h, f.eta_y, convention)

    def conserved(hh, yy):
        return np.asarray(theory.conserved(hh, yy, dx2=dx2[..., None],
                                           eta_h=rates[0][..., None], eta_y=rates[1][..., None]))

    return {**f._asdict(),
            "h_final_theory": np.asarray(theory.final_distance(
                h[..., 0], y[..., 0], dx2=dx2, dy2=dy2, eta_h=f.eta_h, eta_y=f.eta_y)),
            "h_rich_limit": np.asarray(theory.rich_limit(dx2=dx2, dy2=dy2, eta_h=f.eta_h,
                                                         eta_y=f.eta_y)),
            "C_sim": conserved(h, y), "C_theory": conserved(f.h_fit, f.y_fit),
            "C_scale": np.abs(h[..., -1]) / (rates[0] * dx2)}


@partial(jax.jit, static_argnames=("n_x", "n_h", "n_y"))
def _states(seeds, h0, y0, w0, *, n_x: int, n_h: int, n_y: int, dx2, dy2, sigma_h, sigma_y):
    dims = dict(n_x=n_x, n_h=n_h, n_y=n_y)
    drawn = jax.vmap(lambda s: micro.init(jax.random.PRNGKey(s), dx2=dx2, dy2=dy2,
                                          sigma_h=sigma_h, sigma_y=sigma_y, **dims))(seeds)
    given = jax.vmap(lambda h, y, w: micro.from_distances(h, y, w, dx2=dx2, dy2=dy2, **dims))(
        h0, y0, w0)
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), drawn, given)


@float64
def micro_beside_ode(seeds, given, *, rates, kappa, times, dims: tuple[int, int, int], dx2,
                     dy2, sigma_h: float = 0.1, sigma_y: float = 0.05, rtol: float = 1e-12,
                     atol: float = 1e-14) -> tuple[dict, dict]:
    """Micro-model runs and their ODEs; lanes are the ``seeds`` (random states of
    :func:`micro.init`), then the states of ``given = (h0, y0, w0)`` (arrays).

    ``rates`` (L, 3) = (eta_ybar, eta_h, eta_y) and ``kappa`` (L,) (loss factor: 1 half_sum,
    1/2 half_mse) per lane, ``times`` (L, T). The ODE of a random lane starts from the
    micro-model's own (h, y, w) at t = 0, that of a given lane from the given values; its rates
    are kappa (eta_h, eta_y) (the ODE is written for the half_sum loss).

    Returns ``(sim, ode)``: :func:`micro.observe`'s values and the ODE's ``h``, ``y``, ``w``
    and ``loss`` (from the micro-model's mean mode), arrays (L, T), both with the conserved
    quantity ``C`` at the lane's ODE rates, and ``h_final`` (L,): the fixed-point formula from
    the start.
    """
    n_x, n_h, n_y = dims
    params, task = _states(jnp.asarray(np.asarray(seeds, np.int64)),
                           *(jnp.asarray(np.asarray(g, np.float64)) for g in given),
                           n_x=n_x, n_h=n_h, n_y=n_y, dx2=dx2, dy2=dy2, sigma_h=sigma_h,
                           sigma_y=sigma_y)
    rates, kappa = np.asarray(rates, np.float64), np.asarray(kappa, np.float64)
    sim = {k: np.asarray(v) for k, v in micro.trajectories(
        params, task, jnp.asarray(rates), jnp.asarray(times), jnp.asarray(kappa)).items()}
    n = len(seeds)
    starts = [np.concatenate([sim[v][:n, 0], np.asarray(g, np.float64)])
              for v, g in zip("hyw", given)]
    full = partial(np.full, len(kappa))
    solve = jax.vmap(lambda *a: theory.solve_hyw(*a, rtol=rtol, atol=atol))
    eta_h, eta_y = rates[:, 1] * kappa, rates[:, 2] * kappa
    hyw = solve(*(jnp.asarray(x) for x in (*starts, full(dx2), full(dy2), eta_h, eta_y, times)))
    ode = {v: np.asarray(x) for v, x in zip("hyw", hyw)}
    ode["loss"] = np.where((kappa == 1.0)[:, None], *(np.asarray(theory.loss(
        ode["y"], ode["w"], dy2=dy2, times=times, eta_mean=rates[:, :1],
        mean_gap0=sim["mean_gap"][:, :1], convention=c)) for c in ("half_sum", "half_mse")))
    for out in (sim, ode):
        out["C"] = np.asarray(theory.conserved(out["h"], out["y"], dx2=dx2, eta_h=eta_h[:, None],
                                               eta_y=eta_y[:, None]))
    ode["h_final"] = np.asarray(theory.final_distance(*starts[:2], dx2=dx2, dy2=dy2,
                                                      eta_h=eta_h, eta_y=eta_y))
    return sim, ode


def flat_broadcast(*arrays) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """``arrays`` broadcast together, as flat float64 arrays, and their common shape."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    return [np.broadcast_to(np.asarray(a, np.float64), shape).reshape(-1) for a in arrays], shape


def micro_dataset(sim: dict, ode: dict, t: np.ndarray, shape: tuple[int, ...], *, dy2: float,
                  converged: float) -> xr.Dataset:
    """Micro-model runs from random starts (:func:`micro_beside_ode`'s ``sim`` and ``ode``,
    flat over ``shape`` = (pair, convention, seed)) on times ``t``: (h, y, w, loss, C) of both,
    the closure residual, final h, and ``converged``: y(T) >= ``converged`` dy2."""
    dims = ("pair", "convention", "seed", "time_micro")

    def m(x):
        return (dims, np.asarray(x).reshape(shape + (len(t),)))

    return xr.Dataset({
        **{f"{v}_sim": m(sim[v]) for v in ("h", "y", "w", "loss", "closure", "C")},
        **{f"{v}_theory": m(ode[v]) for v in ("h", "y", "w", "loss", "C")},
        "h_final_sim": (dims[:-1], sim["h"][:, -1].reshape(shape)),
        "h_final_theory": (dims[:-1], ode["h_final"].reshape(shape)),
        "converged": (dims[:-1], (sim["y"][:, -1] >= converged * dy2).reshape(shape)),
    })


def sweep_dataset(sim: dict, ode: dict, shape: tuple[int, ...], *, dx2: float, dy2: float,
                  eta_h, eta_y) -> xr.Dataset:
    """The init-scale sweep's runs (flat over ``shape`` = (pair, h0)): ``sweep_{h,y,w}`` of
    both, C and h_inf of the ODE, and the rich limit of every rate pair (``eta_h``,
    ``eta_y``)."""
    dims = ("pair", "h0", "time")
    return xr.Dataset({
        **{f"sweep_{v}_sim": (dims, sim[v].reshape(shape + (-1,))) for v in "hyw"},
        **{f"sweep_{v}_theory": (dims, ode[v].reshape(shape + (-1,))) for v in "hywC"},
        "sweep_h_final_theory": (dims[:-1], ode["h_final"].reshape(shape)),
        "h_rich_limit": ("pair", np.asarray(theory.rich_limit(
            dx2=dx2, dy2=dy2, eta_h=np.asarray(eta_h), eta_y=np.asarray(eta_y)))),
    })


def chain_dataset(sim: dict, ode: dict, chain: dict) -> xr.Dataset:
    """The scalar chain's runs (one per lambda): micro-model and ODE beside deep_linear's
    lambda-balanced mode solution ``chain`` (:func:`.theory.scalar_chain`)."""
    dims = ("lam", "time_chain")
    return xr.Dataset({
        **{f"chain_{v}_sim": (dims, sim[v]) for v in "hyw"},
        **{f"chain_{v}_theory": (dims, ode[v]) for v in "hywC"},
        **{f"chain_{v}_deep_linear": (dims, chain[v].T) for v in "hyw"},
        "chain_C_deep_linear": ("lam", chain["C"]),
        "chain_h_final_theory": ("lam", ode["h_final"]),
        "chain_h_final_deep_linear": ("lam", chain["h_final"]),
    })
