"""Study ``alignment``: the two-point effective theory of representation learning.

van Rossem & Saxe, *When Representations Align: Universality in Representation Learning
Dynamics*, ICML 2024 (arXiv:2402.09142). The theory (:mod:`.theory`) reduces the learning of two
nearby points by a flexible encoder/decoder to an ODE for the squared representation distance h,
output distance y and misfit w, with a conserved quantity C and the final distance
h_inf = A_high/2 + sqrt(A_high^2/4 + A_low^2): the geometric mean sqrt(eta_h/eta_y)||dx|| ||dy*||
from small initialisation (rich), the initial distance from large (lazy).

The study computes, in float64 and one vmapped solve: the ODE started from the linearised
micro-model's own initial state next to the micro-model's exact gradient flow (:mod:`.micro`;
both loss conventions, several seeds and rate pairs); a sweep of the initial scale h0 from rich
to lazy; and the scalar chain next to deep_linear's lambda-balanced mode solution.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from matplotlib.lines import Line2D

from ..alignment import micro, theory
from ..core import plotting
from ..core.config import Config, ConfigError, param
from ..core.study import Check, Preset, Progress, Study
from ..deep_linear import theory as dl_theory

__all__ = ["STUDY", "AlignmentConfig", "checks", "figures", "run"]

CONVERGED = 0.99  # a micro-model run has converged when y(T) >= 0.99 dy2
MAX_SEEDS_SHOWN = 4  # micro-model seeds drawn in the trajectory figure
KAPPA = {"half_sum": 1.0, "half_mse": 0.5}  # loss = kappa * 1/2 sum_i ||y^_i - y_i||^2


@dataclass(frozen=True)
class AlignmentConfig(Config):
    dx2: float = param(1.0, "input distance ||dx||^2", gt=0)
    dy2: float = param(0.5, "target distance ||dy*||^2", gt=0)
    eta_h: tuple[float, ...] = param((1.0, 0.5), "encoder rates eta_h, one per rate pair", gt=0)
    eta_y: tuple[float, ...] = param((1.0, 2.0), "decoder rates eta_y, paired with eta_h", gt=0)
    h0: tuple[float, ...] = param((1e-4, 0.02, 0.5, 3.0, 25.0),
                                  "init-scale sweep: initial h = ||dh||^2 (increasing)", gt=0)
    y0: float = param(1e-8, "init-scale sweep: initial y = ||dy^||^2 (y0 << h0^2 for rich)",
                      ge=0)
    w0: float = param(1e-8, "init-scale sweep: initial w")
    T: float = param(400.0, "init-scale sweep: integration time", gt=0)
    records: int = param(161, "records per trajectory (sweep: 0 then log-spaced)", ge=3)
    n_x: int = param(2, "micro-model: input dimension", gt=0)
    n_h: int = param(4, "micro-model: hidden dimension", gt=0)
    n_y: int = param(2, "micro-model: output dimension", gt=0)
    sigma_h: float = param(0.1, "micro-model: std of the entries of D_h(0)", gt=0)
    sigma_y: float = param(0.05, "micro-model: std of dy^(0) = c (D_y = c dh^T/||dh||^2)", gt=0)
    eta_mean: float = param(1.0, "micro-model: mean-mode rate eta_ybar", gt=0)
    micro_T: float = param(30.0, "micro-model: integration time", gt=0)
    chain_eta: float = param(1.0, "scalar chain: common rate eta_h = eta_y", gt=0)
    chain_lam: tuple[float, ...] = param((-1.0, 0.0, 1.0), "scalar chain: lambda values")
    chain_a0: float = param(0.01, "scalar chain: initial product a0 = w1 w2", gt=0)
    chain_T: float = param(30.0, "scalar chain: integration time", gt=0)
    rtol: float = param(1e-12, "ODE relative tolerance", gt=0, lt=1)
    atol: float = param(1e-14, "ODE absolute tolerance", gt=0, lt=1)

    def validate(self) -> None:
        if len(self.eta_h) != len(self.eta_y) or not self.eta_h:
            raise ConfigError("config fields 'eta_h', 'eta_y': need the same, non-zero length "
                              f"(got {len(self.eta_h)} and {len(self.eta_y)})")
        if not self.h0 or np.any(np.diff(self.h0) <= 0):
            raise ConfigError("config field 'h0': needs increasing values")
        if not self.chain_lam:
            raise ConfigError("config field 'chain_lam': needs at least one value")
        if (self.y0 - self.w0) ** 2 > self.y0 * self.dy2:
            raise ConfigError("config fields 'y0', 'w0': need (y0 - w0)^2 <= y0 dy2 "
                              "(y0 - w0 = <dy*, dy^> must obey Cauchy-Schwarz)")


def _sweep_times(T: float, n: int) -> np.ndarray:
    return np.concatenate([[0.0], np.geomspace(T * 1e-4, T, n - 1)])


def _flat(*arrays):
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    return [np.broadcast_to(np.asarray(a, np.float64), shape).reshape(-1) for a in arrays], shape


@partial(jax.jit, static_argnames=("n_x", "n_h", "n_y"))
def _micro_runs(seeds, eta_h, eta_y, kappa, times, *, n_x: int, n_h: int, n_y: int, dx2, dy2,
                sigma_h, sigma_y, eta_mean) -> dict:
    """Micro-model trajectories for flat batches of (seed, rates, kappa), one compiled program."""

    def one(seed, eh, ey, k):
        params, task = micro.init(jax.random.PRNGKey(seed), n_x=n_x, n_h=n_h, n_y=n_y, dx2=dx2,
                                  dy2=dy2, sigma_h=sigma_h, sigma_y=sigma_y)
        return micro.trajectory(params, task, (eta_mean, eh, ey), times, kappa=k)

    return jax.vmap(one)(seeds, eta_h, eta_y, kappa)


def _micro(config: AlignmentConfig, seeds, eta_h, eta_y, kappa, times) -> dict:
    out = _micro_runs(jnp.asarray(seeds), *(jnp.asarray(x, jnp.float64)
                                            for x in (eta_h, eta_y, kappa, times)),
                      n_x=config.n_x, n_h=config.n_h, n_y=config.n_y, dx2=config.dx2,
                      dy2=config.dy2, sigma_h=config.sigma_h, sigma_y=config.sigma_y,
                      eta_mean=config.eta_mean)
    return {k: np.asarray(v) for k, v in out.items()}


def run(config: AlignmentConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """ODE vs micro-model, the init-scale sweep and the scalar-chain link in one dataset."""
    seeds = list(seeds)
    pairs = [f"{a:g}/{b:g}" for a, b in zip(config.eta_h, config.eta_y)]
    conventions = list(theory.CONVENTIONS)
    eta_h = np.asarray(config.eta_h)
    eta_y = np.asarray(config.eta_y)
    kappa = np.array([KAPPA[c] for c in conventions])
    n = config.records
    t_sweep = _sweep_times(config.T, n)
    t_micro = np.linspace(0.0, config.micro_T, n)
    t_chain = np.linspace(0.0, config.chain_T, n)
    report = progress or (lambda *a, **k: None)

    # micro-model: (pair, convention, seed)
    report(0, 3, "micro-model gradient flow")
    (m_eh, m_ey, m_k, m_seed), mshape = _flat(eta_h[:, None, None], eta_y[:, None, None],
                                              kappa[None, :, None], np.asarray(seeds)[None, None])
    sim = _micro(config, m_seed.astype(np.int64), m_eh, m_ey, m_k, t_micro)
    ode_eh, ode_ey = m_eh * m_k, m_ey * m_k  # half_mse halves the rates (theory.ode_rates)

    # chain: lambda-balanced 1-1-1 network, s = +sqrt(dy2/dx2)
    s = float(np.sqrt(config.dy2 / config.dx2))
    lam = np.asarray(config.chain_lam, np.float64)
    chain = theory.scalar_chain(s, config.chain_a0, lam, t_chain, eta=config.chain_eta,
                                dx2=config.dx2)
    chain = {k: np.asarray(v) for k, v in chain.items()}

    # every ODE problem in one vmapped solve: sweep (pair, h0), micro starts, chain starts
    report(1, 3, "effective ODE")
    (s_h0, s_eh, s_ey), sshape = _flat(np.asarray(config.h0)[None], eta_h[:, None],
                                       eta_y[:, None])
    n_s, n_m, n_c = s_h0.size, m_eh.size, lam.size
    h0 = np.concatenate([s_h0, sim["h"][:, 0], chain["h"][0]])
    y0 = np.concatenate([np.full(n_s, config.y0), sim["y"][:, 0], chain["y"][0]])
    w0 = np.concatenate([np.full(n_s, config.w0), sim["w"][:, 0], chain["w"][0]])
    e_h = np.concatenate([s_eh, ode_eh, np.full(n_c, config.chain_eta)])
    e_y = np.concatenate([s_ey, ode_ey, np.full(n_c, config.chain_eta)])
    times = np.concatenate([np.broadcast_to(t, (k, n)) for t, k in
                            ((t_sweep, n_s), (t_micro, n_m), (t_chain, n_c))])
    solve = jax.vmap(lambda *a: theory.solve_hyw(*a, rtol=config.rtol, atol=config.atol))
    hyw = [np.asarray(v) for v in solve(h0, y0, w0, jnp.full(h0.size, config.dx2),
                                        jnp.full(h0.size, config.dy2), e_h, e_y, times)]
    part = {"sweep": slice(0, n_s), "micro": slice(n_s, n_s + n_m),
            "chain": slice(n_s + n_m, None)}
    ode = {k: {v: x[sl] for v, x in zip("hyw", hyw)} for k, sl in part.items()}
    report(2, 3, "observables")

    # micro: theory loss and conserved quantity
    by_convention = {c: np.asarray(theory.loss(
        ode["micro"]["y"].T, ode["micro"]["w"].T, dy2=config.dy2, times=t_micro,
        eta_mean=config.eta_mean, mean_gap0=sim["mean_gap"][:, 0], convention=c)).T
        for c in conventions}
    loss_th = np.where((m_k == KAPPA["half_sum"])[:, None], by_convention["half_sum"],
                       by_convention["half_mse"])

    def cons(h, y, eh, ey):
        return np.asarray(theory.conserved(h, y, dx2=config.dx2, eta_h=eh[:, None],
                                           eta_y=ey[:, None]))

    mdims = ("pair", "convention", "seed", "time_micro")

    def m(x):
        return (mdims, np.asarray(x).reshape(mshape + (n,)))

    sdims = ("pair", "h0", "time")

    def sw(x):
        return (sdims, np.asarray(x).reshape(sshape + (n,)))

    h_final = np.asarray(theory.final_distance(s_h0, config.y0, dx2=config.dx2, dy2=config.dy2,
                                               eta_h=s_eh, eta_y=s_ey)).reshape(sshape)
    rich = np.asarray(theory.rich_limit(dx2=config.dx2, dy2=config.dy2, eta_h=eta_h,
                                        eta_y=eta_y))
    h_final_micro = np.asarray(theory.final_distance(
        sim["h"][:, 0], sim["y"][:, 0], dx2=config.dx2, dy2=config.dy2, eta_h=m_eh,
        eta_y=m_ey)).reshape(mshape)
    converged = (sim["y"][:, -1] >= CONVERGED * config.dy2).reshape(mshape)
    b6 = np.array([dl_theory.final_representations(np.array([[s]]), l)["W1tW1"][0, 0]
                   for l in lam]) * config.dx2
    cdims = ("lam", "time_chain")
    ds = xr.Dataset(
        {
            "h_sim": m(sim["h"]), "y_sim": m(sim["y"]), "w_sim": m(sim["w"]),
            "loss_sim": m(sim["loss"]), "closure_sim": m(sim["closure"]),
            "C_sim": m(cons(sim["h"], sim["y"], ode_eh, ode_ey)),
            "h_theory": m(ode["micro"]["h"]), "y_theory": m(ode["micro"]["y"]),
            "w_theory": m(ode["micro"]["w"]), "loss_theory": m(loss_th),
            "C_theory": m(cons(ode["micro"]["h"], ode["micro"]["y"], ode_eh, ode_ey)),
            "h_final_sim": (mdims[:-1], sim["h"][:, -1].reshape(mshape)),
            "h_final_theory": (mdims[:-1], h_final_micro),
            "converged": (mdims[:-1], converged.astype(np.int8)),
            "sweep_h_theory": sw(ode["sweep"]["h"]), "sweep_y_theory": sw(ode["sweep"]["y"]),
            "sweep_w_theory": sw(ode["sweep"]["w"]),
            "sweep_C_theory": sw(cons(ode["sweep"]["h"], ode["sweep"]["y"], s_eh, s_ey)),
            "sweep_h_final_theory": (("pair", "h0"), h_final),
            "sweep_h_final_ode": (("pair", "h0"), ode["sweep"]["h"][:, -1].reshape(sshape)),
            "h_rich_limit": (("pair",), rich),
            "chain_h_theory": (cdims, ode["chain"]["h"]),
            "chain_y_theory": (cdims, ode["chain"]["y"]),
            "chain_w_theory": (cdims, ode["chain"]["w"]),
            "chain_C_theory": (cdims, cons(ode["chain"]["h"], ode["chain"]["y"],
                                           np.full(n_c, config.chain_eta),
                                           np.full(n_c, config.chain_eta))),
            "chain_h_deep_linear": (cdims, chain["h"].T),
            "chain_y_deep_linear": (cdims, chain["y"].T),
            "chain_w_deep_linear": (cdims, chain["w"].T),
            "chain_C_deep_linear": (("lam",), chain["C"]),
            "chain_h_final_theory": (("lam",), np.asarray(theory.final_distance(
                chain["h"][0], chain["y"][0], dx2=config.dx2, dy2=config.dy2,
                eta_h=config.chain_eta, eta_y=config.chain_eta))),
            "chain_h_final_deep_linear": (("lam",), b6),
        },
        coords={
            "pair": pairs, "eta_h": ("pair", eta_h), "eta_y": ("pair", eta_y),
            "convention": conventions, "kappa": ("convention", kappa), "seed": seeds,
            "time_micro": t_micro, "h0": list(config.h0), "time": t_sweep,
            "lam": lam, "time_chain": t_chain,
        },
        attrs={"dx2": config.dx2, "dy2": config.dy2, "y0": config.y0, "w0": config.w0,
               "eta_mean": config.eta_mean, "chain_eta": config.chain_eta, "chain_s": s},
    )
    report(3, 3, "done")
    return ds


# ---- checks -------------------------------------------------------------------------------
def _max(x) -> float:
    """max |x|; NaN if x is empty or holds a NaN (so a failed solve fails its check)."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    return float(x.max()) if x.size and not np.isnan(x).any() else float("nan")


def checks(ds: xr.Dataset, config) -> list[Check]:
    """Spec checks 1-6 with their tolerances (docs/alignment.md gives the reasons)."""
    dy2 = float(ds.attrs["dy2"])
    out: list[Check] = []
    diff = max(_max(ds[f"{v}_sim"] - ds[f"{v}_theory"]) for v in "hyw")
    out.append(Check.at_most(
        'micro_model_ode_max_h', "micro-model vs ODE: max |h, y, w difference|", diff, 1e-9,
        "the micro-model's exact gradient flow follows the (h, y, w) ODE (float64, rtol 1e-12; "
        "both loss conventions, all seeds and rate pairs)"))
    out.append(Check.at_most(
        'micro_model_max_closure_residual',
        "micro-model: max closure residual ||D_y - dy^ dh^T/h|| / ||D_y||",
        _max(ds.closure_sim), 1e-9, "gradient flow keeps D_y along dh (the closure)"))

    def drift(c, axis):
        c0 = c.isel({axis: 0})
        return _max((c - c0) / np.maximum(1.0, np.abs(c0)))

    out.append(Check.at_most(
        'conservation_ode_max_c_t', "conservation: ODE max |C(t) - C(0)| / max(1, |C(0)|)",
        max(drift(ds.C_theory, "time_micro"), drift(ds.sweep_C_theory, "time")), 1e-9,
        "C = h/(eta_h dx2) - y/(eta_y h) is constant along the ODE"))
    out.append(Check.at_most(
        'conservation_micro_model_max_c',
        "conservation: micro-model max |C(t) - C(0)| / max(1, |C(0)|)",
        drift(ds.C_sim, "time_micro"), 1e-9, "and along the micro-model's gradient flow"))

    h_end = ds.sweep_h_theory.isel(time=-1)
    out.append(Check.at_most(
        'fixed_point_max_h_t', "fixed point: max |h(T) / h_inf - 1| over h0 and rate pairs",
        _max(h_end / ds.sweep_h_final_theory - 1), 1e-6,
        "h(T) equals A_high/2 + sqrt(A_high^2/4 + A_low^2)"))
    out.append(Check.at_most(
        'fixed_point_max_y_t', "fixed point: max |y(T) - dy2|, |w(T)|",
        max(_max(ds.sweep_y_theory.isel(time=-1) - dy2), _max(ds.sweep_w_theory.isel(time=-1))),
        1e-8, "the output distance reaches the target (y = dy2) and the misfit w = 0"))

    done = ds.converged.values.astype(bool)
    out.append(Check.at_most(
        'micro_model_converged_runs_max', "micro-model: converged runs, max |h(T) / h_inf - 1|",
        _max((ds.h_final_sim / ds.h_final_theory - 1).values[done]), 0.01,
        f"micro-model runs with y(T) >= {CONVERGED} dy2 end at the fixed-point formula "
        "(the rest of the gap is the unfinished approach, measured up to 1.4e-3 in quick)"))
    h_small, h_large = ds.h0.values[0], ds.h0.values[-1]
    out.append(Check.at_most(
        f"rich_limit_max_h_{h_small:g}",
        f"rich limit: max |h_inf / sqrt(eta_h/eta_y)||dx|| ||dy*|| - 1| at h0 = {h_small:g}",
        _max(h_end.sel(h0=h_small) / ds.h_rich_limit - 1), 0.01,
        "small init: the final distance is the rate-scaled geometric mean of the data distances"))
    out.append(Check.at_most(
        f"lazy_limit_max_h_{h_large:g}", f"lazy limit: max |h_inf / h0 - 1| at h0 = {h_large:g}",
        _max(h_end.sel(h0=h_large) / h_large - 1), 0.01,
        "large init: the representation keeps its initial distance"))
    steps = np.diff(h_end.transpose("pair", "h0").values, axis=1)
    out.append(Check.at_most(
        'h_inf_h0_non_increasing', "h_inf(h0) non-increasing steps (count)",
        float(np.sum(~(steps > 0))) if steps.size else float("nan"), 0,
        "the final distance increases monotonically with the initial scale"))

    chain = max(_max(ds[f"chain_{v}_theory"] - ds[f"chain_{v}_deep_linear"]) for v in "hyw")
    out.append(Check.at_most(
        'scalar_chain_max_ode_deep',
        "scalar chain: max |ODE - deep_linear lambda-balanced mode| (h, y, w)", chain, 1e-9,
        "the ODE is the 1-1-1 lambda-balanced network (tau = 2/(eta dx2))"))
    out.append(Check.at_most(
        'scalar_chain_max_c_t', "scalar chain: max |C(t) + lambda/eta|",
        _max(ds.chain_C_theory - ds.chain_C_deep_linear), 1e-9, "C = -lambda/eta"))
    out.append(Check.at_most(
        'scalar_chain_max_relative_h',
        "scalar chain: max relative |h_inf - deep_linear W1^T W1(inf) dx2|",
        _max(ds.chain_h_final_theory / ds.chain_h_final_deep_linear - 1), 1e-12,
        "the fixed point is deep_linear's final representation (Lambda - lambda/2) dx2"))

    for conv in ds.convention.values:
        sel = ds.sel(convention=conv)
        out.append(Check.at_most(
            f"loss_{conv}_max_l_theory_l",
            f"loss ({conv}): max |L_theory - L_micro|", _max(sel.loss_theory - sel.loss_sim),
            1e-9, "the loss formula from (y, w) and the mean mode equals the micro-model's loss"))
    return out


# ---- figures ------------------------------------------------------------------------------
def figures(ds: xr.Dataset, config) -> dict:
    """(a) ODE vs micro-model, (b) rich-to-lazy sweep, (c) the scalar-chain overlay."""
    return {"trajectories": _trajectories(ds), "rich_lazy": _rich_lazy(ds),
            "scalar_chain": _chain(ds)}


def _markers(ax, t, y, color, every: int) -> None:
    ax.plot(t[::every], y[::every], "o", mfc="none", ms=4, mew=1.0, color=color)


def _trajectories(ds: xr.Dataset):
    sel = ds.sel(convention="half_sum")
    pairs = list(ds.pair.values)
    names = [("h", "h = ||dh||^2"), ("y", "y = ||dy^||^2"), ("w", "w"), ("loss", "loss")]
    fig, axes = plotting.figure(len(names), len(pairs), width=3.3, height=2.7)
    seeds = ds.seed.values[:MAX_SEEDS_SHOWN]
    colors = plotting.colors(len(seeds))
    t = ds.time_micro.values
    every = max(1, len(t) // 25)
    for row, pair in enumerate(pairs):
        for col, (v, label) in enumerate(names):
            ax = axes[row, col]
            for seed, color in zip(seeds, colors):
                plotting.theory_line(ax, t, sel[f"{v}_theory"].sel(pair=pair, seed=seed),
                                     color=color)
                _markers(ax, t, sel[f"{v}_sim"].sel(pair=pair, seed=seed).values, color, every)
            if v == "y":
                ax.axhline(float(ds.attrs["dy2"]), color="0.5", lw=0.8, ls=":")
            ax.set(xlabel="time", ylabel=label)
            if v == "loss":  # below ~1e-13 of the start the loss is round-off
                top = float(sel.loss_sim.sel(pair=pair).max())
                ax.set(yscale="log", ylim=(1e-13 * top, 3 * top))
        axes[row, 0].set_title(f"eta_h/eta_y = {pair}", loc="left", fontsize=9)
    plotting.legend_theory_sim(axes[0, -1], [(f"seed {s}", c) for s, c in zip(seeds, colors)],
                               fontsize=7)
    fig.suptitle("ODE (lines) vs the micro-model's exact gradient flow (markers), 1/2 sum loss")
    return fig


def _rich_lazy(ds: xr.Dataset):
    fig, axes = plotting.figure(2, 1, width=4.4, height=3.6)
    ax = axes[0, 0]
    colors = plotting.colors(ds.sizes["pair"])
    h0 = ds.h0.values
    dense = np.geomspace(h0.min() / 3, h0.max() * 3, 200)
    for pair, color in zip(ds.pair.values, colors):
        sel = ds.sel(pair=pair)
        curve = theory.final_distance(dense, ds.attrs["y0"], dx2=ds.attrs["dx2"],
                                      dy2=ds.attrs["dy2"], eta_h=float(sel.eta_h),
                                      eta_y=float(sel.eta_y))
        plotting.theory_line(ax, dense, np.asarray(curve), color=color,
                             label=f"eta_h/eta_y = {pair}")
        ax.plot(h0, sel.sweep_h_final_ode.values, "o", mfc="none", ms=6, color=color)
        ax.axhline(float(sel.h_rich_limit), color=color, ls="--", lw=0.9)
    ax.plot(dense, dense, ":", color="0.4", lw=1.0, label="lazy: h_inf = h0")
    ax.set(xscale="log", yscale="log", xlabel="initial h0 = ||dh(0)||^2",
           ylabel="final h_inf = ||dh(inf)||^2", title="rich (dashed: rich limit) to lazy")
    ax.plot([], [], "o", mfc="none", color="0.3", label=f"ODE h(T = {ds.time.values[-1]:g})")
    ax.legend(fontsize=7)

    ax = axes[0, 1]
    pair = ds.pair.values[0]
    sel = ds.sel(pair=pair)
    t = ds.time.values[1:]
    shown = h0[np.unique(np.linspace(0, len(h0) - 1, min(len(h0), 6)).round().astype(int))]
    hues = plotting.colors(len(shown))
    for h, color in zip(shown, hues):
        plotting.theory_line(ax, t, sel.sweep_h_theory.sel(h0=h).values[1:], color=color,
                             label=f"h0 = {h:.3g}")
        ax.axhline(float(sel.sweep_h_final_theory.sel(h0=h)), color=color, ls=":", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="time", ylabel="h(t)")
    ax.set_title(f"h(t), eta_h/eta_y = {pair} (dotted: h_inf formula)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def _chain(ds: xr.Dataset):
    names = [("h", "h = w1^2 dx2"), ("y", "y = a^2 dx2"), ("w", "w = (a^2 - s a) dx2")]
    fig, axes = plotting.figure(len(names), width=3.6, height=3.0)
    colors = plotting.colors(ds.sizes["lam"])
    t = ds.time_chain.values
    every = max(1, len(t) // 30)
    for ax, (v, label) in zip(axes[0], names):
        for lam, color in zip(ds.lam.values, colors):
            plotting.theory_line(ax, t, ds[f"chain_{v}_theory"].sel(lam=lam), color=color)
            _markers(ax, t, ds[f"chain_{v}_deep_linear"].sel(lam=lam).values, color, every)
        ax.set(xlabel="time", ylabel=label)
    handles = [Line2D([], [], color="0.3", lw=1.6, label="effective ODE"),
               Line2D([], [], color="0.3", marker="o", mfc="none", ls="none",
                      label="deep_linear mode_trajectory")]
    handles += [Line2D([], [], color=c, lw=3, label=f"lambda = {lam:g}")
                for lam, c in zip(ds.lam.values, colors)]
    axes[0, -1].legend(handles=handles, fontsize=7)
    fig.suptitle("scalar chain: ODE (lines) vs deep_linear lambda-balanced mode solution "
                 f"(markers), eta = {ds.attrs['chain_eta']:g}")
    return fig


STUDY = Study(
    name="alignment",
    claim="Two nearby points learned by a flexible encoder/decoder follow a closed (h, y, w) ODE "
          "with a conserved quantity; the final representation distance is "
          "A_high/2 + sqrt(A_high^2/4 + A_low^2): the rate-scaled geometric mean of input and "
          "output distances from small init (rich), the initial distance from large (lazy).",
    paper="van Rossem & Saxe, When Representations Align: Universality in Representation "
          "Learning Dynamics, ICML 2024",
    config=AlignmentConfig,
    presets={
        "quick": Preset(seeds=4, doc="dx2 = 1, dy2 = 0.5; rate pairs (1, 1), (0.5, 2); "
                                     "h0 from 1e-4 to 25; micro-model seeds 0-3"),
        "paper": Preset(
            seeds=16,
            values=dict(eta_h=(1.0, 0.5, 2.0), eta_y=(1.0, 2.0, 0.5),
                        h0=tuple(float(x) for x in np.geomspace(1e-4, 25.0, 25)),
                        T=1000.0, records=401, micro_T=50.0,
                        chain_lam=(-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0), chain_T=40.0),
            doc="three rate pairs, 25 initial scales, 16 micro-model seeds, longer runs"),
    },
    run=run,
    figures=figures,
    checks=checks,
)
