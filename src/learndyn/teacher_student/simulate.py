"""Online SGD of teacher-student settings and the order-parameter ODE beside it (Goldt et al.,
NeurIPS 2019, arXiv:1906.08632).

A :class:`Setting` is one online-SGD problem (activation, sizes, rates, noise, initialisation).
:func:`simulate` trains a list of settings that share their static shapes (activation, N, M,
trained layers, dtype; widths K may differ) for every seed as ONE vmapped program of the engine
(:mod:`.online`), records Q, R, T, v at the given steps and evaluates eps_g exactly from them;
narrower students ride in the widest one's program with inert units (w = v = 0, see
:func:`learndyn.teacher_student.model.init`). The ODE runs beside it from each seed's own
initial overlaps, all seeds (and settings) in one compiled adaptive solve
(:func:`integrate_lanes`): :func:`ode_from_simulation` returns eps_g, :func:`theory_beside`
also the overlaps, the trajectory from the exactly symmetric start (R = 0, Q = T = I, kept in
the unspecialised subspace by a projection), the plateau fixed point it tends to, and the noise
floor near the end of each seed's trajectory (a fixed point of :func:`.theory.fixed_point`;
for ReLU, whose I4 quadrature has no usable Jacobian there, the ODE's value at the end).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core import ode
from ..core.precision import float64
from ..core.study import Progress
from . import observables, online, theory

__all__ = ["Setting", "integrate_lanes", "ode_from_simulation", "simulate", "theory_beside"]


class Setting(NamedTuple):
    """One online-SGD problem; build it with :meth:`make` (which resolves the defaults)."""

    activation: str
    N: int
    M: int
    K: int
    lr: float
    lr_v: float
    sigma: float
    weight_decay: float
    train_v: bool
    w_std: float
    v_init: float
    v_std: float
    vstar: float
    vstar_random: bool
    dtype: str

    @classmethod
    def make(cls, activation: str = "erf", *, N: int, M: int, K: int, lr: float,
             lr_v: float | None = None, sigma: float = 0.0, weight_decay: float = 0.0,
             train_v: bool = False, init_std: float | None = None, v_init: float = 1.0,
             v_init_std: float | None = None, vstar: float = 1.0, vstar_random: bool = False,
             dtype: str = "float32") -> Setting:
        """Defaults: ``lr_v = lr``; student w ~ N(0, 1) for erf and N(0, 1e-6) ("small init",
        the paper's reference code) for relu and linear; when v is trained, v ~ N(0, 1) for
        erf, N(0, init_std^2) otherwise; first layer only, v = ``v_init`` fixed."""
        w_std = init_std if init_std is not None else (1.0 if activation == "erf" else 1e-3)
        v_std = 0.0 if not train_v else v_init_std if v_init_std is not None else (
            1.0 if activation == "erf" else w_std)
        return cls(activation, N, M, K, lr, lr if lr_v is None else lr_v, sigma, weight_decay,
                   bool(train_v), w_std, v_init, v_std, vstar, bool(vstar_random), dtype)

    @property
    def params(self) -> tuple[float, float, float, float]:
        """(lr, lr_v, sigma, weight_decay), the ``params`` of :func:`.theory.rhs`."""
        return (self.lr, self.lr_v, self.sigma, self.weight_decay)

    @property
    def has_symmetric_point(self) -> bool:
        """erf, K = M, first layer only, v* constant: the symmetric plateau exists."""
        return (self.activation == "erf" and self.K == self.M and not self.train_v
                and not self.vstar_random)


def _shared(settings: Sequence[Setting], *, activation: bool = True) -> Setting:
    first = settings[0]
    keys = ("N", "M", "train_v", "dtype") + (("activation",) if activation else ())
    for s in settings[1:]:
        if any(getattr(s, k) != getattr(first, k) for k in keys):
            raise ValueError("settings run together must share " + ", ".join(keys))
    return first


def simulate(settings: Sequence[Setting], seeds, *, record_at: np.ndarray,
             progress: Progress | None = None, label: str = "SGD",
             eg_mc_samples: int = 0) -> list[xr.Dataset]:
    """Online SGD of every setting for every seed, one vmapped program; one Dataset each.
    The settings share N, M, trained layers and dtype; widths and activations may differ.

    Each Dataset holds ``Q_sim`` (seed, time, student, student2), ``R_sim`` (seed, time,
    student, teacher), ``v_sim`` (seed, time, student), ``eg_sim`` (seed, time: exact eps_g of
    the recorded overlaps), ``T`` and ``vstar`` (per seed) and, if ``eg_mc_samples``, the
    final Monte-Carlo estimate ``eg_mc_sim`` (seed). Its records at ``time = 0`` are every
    seed's initial order parameters. The numbers of a seed depend only on the seed, the setting
    and the step: not on the seeds or settings beside it, nor on where records fall.
    """
    base = _shared(settings, activation=False)
    width = max(s.K for s in settings)
    steps = np.asarray(record_at, dtype=np.int64)
    f = partial(np.asarray, dtype=base.dtype)
    hyper = {"lr": f([s.lr for s in settings]), "lr2": f([s.lr_v for s in settings]),
             "sigma": f([s.sigma for s in settings]),
             "weight_decay": f([s.weight_decay for s in settings])}
    init = {"init_std": [s.w_std for s in settings], "v_init": [s.v_init for s in settings],
            "v_init_std": [s.v_std for s in settings], "vstar_value": [s.vstar for s in settings],
            "vstar_random": [s.vstar_random for s in settings],
            "active": [np.arange(width) < s.K for s in settings]}
    rec = online.run(g=[s.activation for s in settings], N=base.N, K=width, M=base.M,
                     train_v=base.train_v, dtype=base.dtype, seeds=seeds, record_at=steps,
                     hyper=hyper,
                     init_args={k: jnp.asarray(np.asarray(v)) for k, v in init.items()},
                     progress=progress, label=label, batched=True)
    out = []
    for b, s in enumerate(settings):
        val = {k: v[b] for k, v in rec.values.items()}
        K = s.K
        Q, R, v = val["Q"][..., :K, :K], val["R"][..., :K, :], val["v"][..., :K]
        eg = np.asarray(theory.generalisation_error(Q, R, val["T"], v, val["vstar"],
                                                    s.activation))
        ds = xr.Dataset(
            {"eg_sim": (("seed", "time"), eg),
             "Q_sim": (("seed", "time", "student", "student2"), Q),
             "R_sim": (("seed", "time", "student", "teacher"), R),
             "v_sim": (("seed", "time", "student"), v),
             "T": (("seed", "teacher", "teacher2"), val["T"][:, 0]),
             "vstar": (("seed", "teacher"), val["vstar"][:, 0])},
            coords={"seed": list(seeds), "time": steps / s.N, "step": ("time", steps),
                    "student": np.arange(K), "student2": np.arange(K),
                    "teacher": np.arange(s.M), "teacher2": np.arange(s.M)})
        if eg_mc_samples:
            nets = jax.tree.map(lambda x, b=b: x[b], rec.final.nets)
            ds["eg_mc_sim"] = ("seed", np.array([float(observables.eg_monte_carlo(
                jax.random.fold_in(jax.random.key(int(seed)), 2**31 - 1), nets.w[i, :K],
                nets.v[i, :K], nets.wstar[i], nets.vstar[i], g=s.activation,
                n_samples=eg_mc_samples)) for i, seed in enumerate(seeds)]))
        out.append(observables.describe(ds))
    return out


# ---- the ODE beside the simulation ------------------------------------------------------------
def _symmetrise(state: theory.OrderParameters) -> theory.OrderParameters:
    """Project onto the unspecialised subspace: all R_in equal, equal Q_ii, equal Q_{i!=k}, v.

    This subspace (students interchangeable, no student prefers a teacher unit) is invariant
    under the ODEs when T = I and v = v* are constant; the projection stops rounding errors
    from seeding an escape that only finite-N asymmetry should cause.
    """
    Q = state.Q
    n = Q.shape[0]
    eye = jnp.eye(n)
    diag = jnp.trace(Q) / n
    off = (jnp.sum(Q) - jnp.trace(Q)) / max(n * n - n, 1)
    return theory.OrderParameters(diag * eye + off * (1.0 - eye),
                                  jnp.mean(state.R) * jnp.ones_like(state.R),
                                  jnp.mean(state.v) * jnp.ones_like(state.v))


def _rhs(t, y, args):
    rhs_args, symmetric = args
    project = partial(jax.tree.map, lambda s, a: symmetric * s + (1.0 - symmetric) * a)
    y = project(_symmetrise(y), y)
    dy = theory.rhs(t, y, rhs_args)
    return project(_symmetrise(dy), dy)


@partial(jax.jit, static_argnames=("activation", "train_v", "rtol", "max_steps"))
def integrate_lanes(Q0, R0, T, v0, vstar, params, times, symmetric, *, activation: str,
                    train_v: bool, rtol: float | None = None, max_steps: int | None = None):
    """The ODE for L lanes in one compiled adaptive solve (float64).

    Every argument has a leading lane axis: starts ``Q0`` (L, K, K), ``R0``, ``T``, ``v0``,
    ``vstar``; ``params`` (L, 4) = (lr, lr_v, sigma, weight_decay); ``times`` (L, n) from the
    start; ``symmetric`` (L,) 1.0 to keep a lane in the unspecialised subspace. Returns
    (:class:`.theory.OrderParameters` of (L, n, ...), eps_g (L, n)).

    Without ``max_steps`` the lanes are vmapped (they step together) and a failed solve raises.
    With ``max_steps`` the lanes are solved one after another, each with that step budget, and
    a lane that exhausts it (or turns non-finite) comes back NaN without holding up the others.
    """
    def one(Q0, R0, T, v0, vstar, params, times, symmetric):
        args = ((T, vstar, tuple(params), activation, train_v), symmetric)
        budget = {} if max_steps is None else {"max_steps": max_steps, "throw": False}
        ys = ode.solve(_rhs, theory.OrderParameters(Q0, R0, v0), times, args=args,
                       rtol=theory.RTOL[activation] if rtol is None else rtol, **budget)
        eg = jax.vmap(lambda Q, R, v: theory.eg(Q, R, T, v, vstar, activation))(ys.Q, ys.R, ys.v)
        return ys, eg

    lanes = (Q0, R0, T, v0, vstar, params, times, symmetric)
    if max_steps is None:
        return jax.vmap(one)(*lanes)
    return jax.lax.map(lambda lane: one(*lane), lanes)


def _starts(sim: xr.Dataset, width: int) -> tuple[np.ndarray, ...]:
    """Every seed's initial (Q, R, T, v, v*), checked to be a valid covariance, padded to
    ``width`` students with inert units (Q_jj = 1, R = 0, v = 0: no drift, no output)."""
    start = sim.isel(time=0)
    Q, R, v = start.Q_sim.values, start.R_sim.values, start.v_sim.values
    for Q0, R0, T in zip(Q, R, sim.T.values):
        theory.check_order_parameters(Q0, R0, T, name="simulation's initial overlaps")
    n, K = v.shape
    Qp = np.tile(np.eye(width), (n, 1, 1))
    Qp[:, :K, :K] = Q
    Rp = np.zeros((n, width, R.shape[-1]))
    Rp[:, :K] = R
    vp = np.zeros((n, width))
    vp[:, :K] = v
    return Qp, Rp, sim.T.values, vp, sim.vstar.values


def _lanes(settings, sims, width):
    parts = [_starts(sim, width) + (np.tile(s.params, (sim.sizes["seed"], 1)),
                                    np.tile(sim.time.values, (sim.sizes["seed"], 1)))
             for s, sim in zip(settings, sims)]
    return [np.concatenate(x) for x in zip(*parts)]


@float64
def ode_from_simulation(settings: Sequence[Setting], sims: Sequence[xr.Dataset], *,
                        rtol: float | None = None,
                        max_steps: int | None = None) -> list[np.ndarray]:
    """eps_g (seed, time) of the ODE from each seed's own initial overlaps, on each
    simulation's time grid: every setting and seed in one solve where students of different
    widths can share it (inert padding; not for ReLU with trained v, whose padded units
    would drift, nor with ``max_steps``, where the lanes go one by one and padding would only
    cost: those are solved per width). ``rtol`` and ``max_steps`` as in
    :func:`integrate_lanes` (with ``max_steps`` a seed whose solve fails is NaN). Linear
    students trained on the first layer without weight decay reduce exactly to one
    perceptron: their ODE is solved in closed form (:func:`.theory.linear_error`)."""
    base = _shared(settings)
    if base.activation == "linear" and not base.train_v and not any(
            s.weight_decay for s in settings):
        return [theory.linear_error(sim.eg_sim.values[:, 0], s.K, s.lr, s.sigma,
                                    sim.time.values, v=s.v_init) for s, sim in zip(settings, sims)]
    # padded units cost as much as real ones: once the lanes go one by one (max_steps), or
    # where padding would not be inert (ReLU with trained v), each width gets its own solve
    if len({s.K for s in settings}) > 1 and (max_steps is not None or (
            base.activation == "relu" and base.train_v)):
        return [ode_from_simulation([s], [sim], rtol=rtol, max_steps=max_steps)[0]
                for s, sim in zip(settings, sims)]
    Q0, R0, T, v0, vstar, params, times = _lanes(settings, sims, max(s.K for s in settings))
    _, eg = integrate_lanes(*(jnp.asarray(x) for x in (Q0, R0, T, v0, vstar, params, times)),
                            jnp.zeros(len(Q0)), activation=base.activation, train_v=base.train_v,
                            rtol=rtol, max_steps=max_steps)
    return np.split(np.asarray(eg), np.cumsum([sim.sizes["seed"] for sim in sims])[:-1])


@float64
def theory_beside(settings: Sequence[Setting], sims: Sequence[xr.Dataset], *,
                  t_sym: float = 1e4, newton_from: float = 50.0,
                  rtol: float | None = None) -> list[xr.Dataset]:
    """The ODE beside each simulation of :func:`simulate` (settings of one width).

    Returns per setting ``eg_theory``, ``Q_theory``, ``R_theory``, ``v_theory`` (from each
    seed's own start); where the symmetric point exists also ``eg_sym_theory`` over
    ``time_sym`` (from R = 0, Q = T = I up to ``t_sym``) and ``eg_plateau_theory`` (the
    symmetric fixed point, found by Newton from the symmetric trajectory at ``newton_from``,
    so that "eps_sym tends to eps_plateau" compares two independent results); with label
    noise (and K >= M) ``eg_floor_theory`` per seed. ``rtol`` as in :func:`integrate_lanes`.
    """
    base = _shared(settings)
    K, M = base.K, base.M
    lanes = _lanes(settings, sims, K)
    for s, sim in zip(settings, sims):
        if s.has_symmetric_point:
            times = sim.time.values
            t = np.concatenate([[0.0], np.geomspace(times[1], max(t_sym, times[-1]),
                                                    len(times) - 1)])
            start = (np.eye(K), np.zeros((K, M)), np.eye(M), np.full(K, s.v_init),
                     np.full(M, s.vstar), np.asarray(s.params), t)
            lanes = [np.concatenate([x, y[None]]) for x, y in zip(lanes, start)]
    n = len(lanes[0])
    symmetric = np.zeros(n)
    symmetric[sum(sim.sizes["seed"] for sim in sims):] = 1.0
    ys, eg = integrate_lanes(*(jnp.asarray(x) for x in lanes), jnp.asarray(symmetric),
                             activation=base.activation, train_v=base.train_v, rtol=rtol)
    ys, eg = jax.tree.map(np.asarray, ys), np.asarray(eg)
    Q0, R0, T, v0, vstar, params, times = lanes
    out, lo, sym = [], 0, sum(sim.sizes["seed"] for sim in sims)
    for s, sim in zip(settings, sims):
        hi = lo + sim.sizes["seed"]
        ds = xr.Dataset({
            "eg_theory": (("seed", "time"), eg[lo:hi]),
            "Q_theory": (("seed", "time", "student", "student2"), ys.Q[lo:hi]),
            "R_theory": (("seed", "time", "student", "teacher"), ys.R[lo:hi]),
            "v_theory": (("seed", "time", "student"), ys.v[lo:hi]),
        })
        if s.has_symmetric_point:
            t = times[sym]
            ds = ds.assign_coords(time_sym=t)
            ds["eg_sym_theory"] = ("time_sym", eg[sym])
            i = int(np.searchsorted(t, min(newton_from, t[-1] / 2)))
            fp = theory.fixed_point(ys.Q[sym, i], ys.R[sym, i], np.eye(M), ys.v[sym, i],
                                    vstar[sym], lr=s.lr, sigma=s.sigma, activation=s.activation,
                                    weight_decay=s.weight_decay,
                                    tol=max(1e-12, 1e-6 * s.lr**2 * s.sigma**2))
            ds["eg_plateau_theory"] = fp.eg if fp.converged else np.nan
            sym += 1
        if s.sigma > 0 and M <= K:
            ds["eg_floor_theory"] = ("seed", np.array([
                _floor(s, ys.Q[i, -1], ys.R[i, -1], T[i], ys.v[i, -1], vstar[i], eg[i, -1])
                for i in range(lo, hi)]))
        out.append(observables.describe(ds))
        lo = hi
    return out


def _floor(s: Setting, Q, R, T, v, vstar, eg_end: float) -> float:
    """The noise floor near where a seed's ODE ended: its fixed point (NaN if Newton fails);
    for activations without fixed points (ReLU), the ODE's own final value."""
    if s.activation not in theory.FIXED_POINTS:
        return float(eg_end)
    fp = theory.fixed_point(Q, R, T, v, vstar, lr=s.lr, sigma=s.sigma,
                            activation=s.activation, train_second_layer=s.train_v,
                            lr2=s.lr_v, weight_decay=s.weight_decay)
    return fp.eg if fp.converged else np.nan
