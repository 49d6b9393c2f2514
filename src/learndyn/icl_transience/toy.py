r"""The coopetition toy model of ICL emergence and transience, simulated and reduced exactly.

Singh, Moskovitz, Dragutinović, Hill, Chan & Saxe, *Strategy Coopetition Explains the
Emergence and Transience of In-Context Learning*, ICML 2025 (arXiv:2503.05631), Sec. 5.

Four vectors :math:`a, b, c \in R^{n_a}, R^{n_b}, R^{n_c}`, :math:`d \in R^{n_d}` (paper:
20, 20, 20, 160) are trained towards targets :math:`a^*, b^*, c^*, d^*` by plain gradient
descent on

.. math::

    L_{xyz} = \tfrac12\,\mathrm{mean}\big((x^*\otimes y^*\otimes z^* - x\otimes y\otimes z)^2\big),
    \qquad
    L = (L_{abc} + \mu_1)(L_{dbc} + \mu_2) + \tfrac{\alpha}{2}\,\mathrm{mean}((a\otimes d)^2).

Mechanism 1 (a, b, c) plays in-context learning (ICL), mechanism 2 (d, b, c) the
context-constrained in-weights strategy (CIWL); b and c are shared (cooperation), the
:math:`\alpha` term makes a and d compete. :func:`simulate` differentiates these tensor losses
with autodiff (the target tensors are formed once; nothing uses the reduction below).

**Exact overlap map** (:func:`theory`). With overlaps :math:`m_v = v\cdot v^*`, squared norms
:math:`N_v = |v|^2`, target norms :math:`T_v = |v^*|^2` and sizes :math:`n_1 = n_a n_b n_c`,
:math:`n_2 = n_d n_b n_c`, :math:`n_{ad} = n_a n_d`:

.. math::

    L_{abc} = \frac{T_aT_bT_c - 2m_am_bm_c + N_aN_bN_c}{2n_1},\quad
    L_{dbc} = \frac{T_dT_bT_c - 2m_dm_bm_c + N_dN_bN_c}{2n_2},

and every gradient is :math:`\nabla_v L = p_v v - q_v v^*` with, writing
:math:`w_1 = (L_{dbc}+\mu_2)/n_1`, :math:`w_2 = (L_{abc}+\mu_1)/n_2`, :math:`k = \alpha/n_{ad}`,

.. math::

    p_a = w_1N_bN_c + kN_d,\ q_a = w_1m_bm_c;\qquad p_d = w_2N_bN_c + kN_a,\ q_d = w_2m_bm_c;

    p_b = (w_1N_a + w_2N_d)N_c,\ q_b = (w_1m_a + w_2m_d)m_c;\qquad
    p_c = (w_1N_a + w_2N_d)N_b,\ q_c = (w_1m_a + w_2m_d)m_b.

One step :math:`v \leftarrow v - \eta(p_v v - q_v v^*)` maps
:math:`m_v \to (1-\eta p_v)m_v + \eta q_vT_v` and
:math:`N_v \to (1-\eta p_v)^2N_v + 2(1-\eta p_v)\eta q_v m_v + \eta^2q_v^2T_v`: the discrete
dynamics is an exact map on the eight numbers :math:`(m_a, m_b, m_c, m_d, N_a, N_b, N_c, N_d)`.

**Labels per run** (:func:`labels`): with the "no-mechanism" losses
:math:`L_{abc}(a=0) = T_aT_bT_c/2n_1` and :math:`L_{dbc}(d=0) = T_dT_bT_c/2n_2`, ICL has
*emerged* if :math:`\min_t L_{abc} < 0.1\,L_{abc}(a=0)` (at :math:`t_{icl}`, the argmin), CIWL
has *completed* if :math:`L_{dbc} < 0.02\,L_{dbc}(d=0)` at some step (the first is
:math:`t_{ciwl}`), and the run is *transient* if ICL emerged, CIWL is complete at some step
after :math:`t_{icl}`, and the final :math:`L_{abc} \ge 0.8\,L_{abc}(a=0)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import ConfigError
from ..core.engine import simulate as engine_simulate
from ..core.precision import float64

__all__ = [
    "DIMS",
    "OBSERVABLES",
    "VECTORS",
    "draw",
    "labels",
    "loss",
    "no_mechanism_losses",
    "overlap_map",
    "simulate",
    "simulate_seeds",
    "tensor_losses",
    "theory",
    "theory_from_overlaps",
]

DIMS = {"a": 20, "b": 20, "c": 20, "d": 160}
VECTORS = ("a", "b", "c", "d")
#: what :func:`simulate` and :func:`theory` return, each of shape ([run,] record)
OBSERVABLES = ("loss_icl", "loss_ciwl", "cost", "loss",
               *(f"{q}_{v}" for q in ("overlap", "sqnorm", "sqnorm_orth") for v in VECTORS))


def draw(seed: int, dims: Mapping[str, int] = DIMS) -> tuple[dict, dict]:
    """Initial vectors and targets, every entry i.i.d. N(0, 1) (NumPy float64 from ``seed``;
    :func:`simulate_seeds` draws its own from each seed's JAX key instead)."""
    rng = np.random.default_rng(seed)
    init = {v: rng.standard_normal(dims[v]) for v in VECTORS}
    targets = {v: rng.standard_normal(dims[v]) for v in VECTORS}
    return init, targets


# ---- the tensor losses (simulation) --------------------------------------------------------
def _outer3(x, y, z):
    """x (x) y (x) z as a matrix [len(x), len(y) len(z)], built from matrix products (so that
    its transpose under autodiff is a matrix-vector product)."""
    yz = (y[:, None] @ z[None, :]).reshape(1, -1)
    return x[:, None] @ yz


def tensor_losses(params: Mapping[str, jax.Array], target_tensors: Mapping[str, jax.Array]
                  ) -> dict[str, jax.Array]:
    """``loss_icl`` = L_abc, ``loss_ciwl`` = L_dbc and ``cost`` = mean((a (x) d)^2) / 2 from the
    full tensors (``target_tensors['abc']`` [n_a, n_b n_c], ``['dbc']`` [n_d, n_b n_c])."""
    a, b, c, d = (params[v] for v in VECTORS)
    e1 = target_tensors["abc"] - _outer3(a, b, c)
    e2 = target_tensors["dbc"] - _outer3(d, b, c)
    ad = a[:, None] @ d[None, :]
    return {"loss_icl": 0.5 * jnp.mean(e1 * e1), "loss_ciwl": 0.5 * jnp.mean(e2 * e2),
            "cost": 0.5 * jnp.mean(ad * ad)}


def loss(params: Mapping[str, jax.Array], target_tensors: Mapping[str, jax.Array], *,
         mu1: Any, mu2: Any, alpha: Any) -> jax.Array:
    """The coopetition loss L = (L_abc + mu1)(L_dbc + mu2) + alpha mean((a (x) d)^2) / 2."""
    parts = tensor_losses(params, target_tensors)
    return (parts["loss_icl"] + mu1) * (parts["loss_ciwl"] + mu2) + alpha * parts["cost"]


def _targets_state(params, targets):
    """The simulation state: parameters, target vectors and the target tensors (formed once)."""
    b, c = targets["b"], targets["c"]
    tensors = {f"{x}bc": _outer3(targets[x], b, c) for x in "ad"}
    return {"params": params, "targets": targets, "tensors": tensors}


def _given_init(key, args):
    return _targets_state(args["init"], args["targets"])


@cache
def _drawn_init(sizes: tuple[int, int, int, int], dtype: str):
    """init(key, args) drawing a, b, c, d and their targets i.i.d. N(0, 1) from the key."""
    def init(key, args):
        k_init, k_target = jax.random.split(key)
        def vectors(k):
            x = jax.random.normal(k, (sum(sizes),), jnp.dtype(dtype))
            return dict(zip(VECTORS, jnp.split(x, np.cumsum(sizes)[:-1])))
        return _targets_state(vectors(k_init), vectors(k_target))

    return init


def _sim_step(state, key, t, args):
    grads = jax.grad(loss)(state["params"], state["tensors"], mu1=args["mu1"],
                           mu2=args["mu2"], alpha=args["alpha"])
    params = jax.tree.map(lambda p, g: p - args["lr"] * g, state["params"], grads)
    return {**state, "params": params}


def _sim_observe(state, args):
    params, targets = state["params"], state["targets"]
    out = tensor_losses(params, state["tensors"])
    out["loss"] = ((out["loss_icl"] + args["mu1"]) * (out["loss_ciwl"] + args["mu2"])
                   + args["alpha"] * out["cost"])
    for v in VECTORS:
        x, x_star = params[v], targets[v]
        out[f"overlap_{v}"] = jnp.dot(x, x_star)
        out[f"sqnorm_{v}"] = jnp.dot(x, x)
        orth = x - jnp.dot(x, x_star) / jnp.dot(x_star, x_star) * x_star
        out[f"sqnorm_orth_{v}"] = jnp.dot(orth, orth)
    return out


def _hyper(runs: int | None, dtype, **hyper) -> dict[str, np.ndarray]:
    """Hyper-parameters as arrays of one value per run (``runs`` None: as given, 1-D)."""
    out = {k: np.atleast_1d(np.asarray(x, dtype)) for k, x in hyper.items()}
    n = runs or max(len(x) for x in out.values())
    try:
        out = {k: np.broadcast_to(x, (n,)) for k, x in out.items()}
    except ValueError:
        raise ConfigError(f"mu1, mu2, alpha, lr: scalars or {n} values each") from None
    if np.any(out["lr"] <= 0):
        raise ConfigError(f"lr must be positive, got {out['lr']}")
    if np.any(out["alpha"] < 0) or np.any(out["mu1"] < 0) or np.any(out["mu2"] < 0):
        raise ConfigError("mu1, mu2 and alpha must be >= 0")
    return out


def _records(steps: int, record_every: int) -> np.ndarray:
    if steps < 1 or record_every < 1 or steps % record_every:
        raise ConfigError(f"steps ({steps}) must be a positive multiple of record_every "
                          f"({record_every})")
    return np.arange(0, steps + 1, record_every)


def _vectors(init, targets, dtype):
    """init and targets as arrays with a leading run axis (and whether the caller gave one)."""
    missing = [v for v in VECTORS if v not in init or v not in targets]
    if missing:
        raise ConfigError(f"init and targets need vectors a, b, c, d; missing '{missing[0]}'")
    batched = np.ndim(init["a"]) == 2
    runs = np.shape(init["a"])[0] if batched else 1
    out = []
    for name, tree in (("init", init), ("targets", targets)):
        arrays = {}
        for v in VECTORS:
            x = np.asarray(tree[v], dtype)
            x = x if batched else x[None]
            size = np.shape(init[v])[-1]
            if x.ndim != 2 or x.shape != (runs, size):
                want = f"({runs}, {size})" if batched else f"({size},)"
                raise ConfigError(f"{name}['{v}']: expected shape {want} (as init['a'] and "
                                  f"init['{v}']), got {np.shape(tree[v])}")
            arrays[v] = x
        out.append(arrays)
    return out[0], out[1], batched


@float64
def _engine_run(init_fn, args, *, seeds, record_at, dtype, progress, vmap_seeds=True):
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        args = jax.tree.map(lambda x: jnp.asarray(x, dtype), args)
        rec = engine_simulate(init_fn, _sim_step, _sim_observe, seeds=seeds,
                              record_at=record_at, args=args, batched=True, progress=progress,
                              label="coopetition toy", vmap_seeds=vmap_seeds)
    values = {k: np.asarray(v, np.float64) for k, v in rec.values.items()}
    return values, jax.tree.map(np.asarray, rec.final["targets"])


def simulate(init: Mapping[str, Any], targets: Mapping[str, Any], *, mu1: Any = 0.1,
             mu2: Any = 0.0, alpha: Any = 0.1, lr: Any = 1.0, steps: int = 16000,
             record_every: int = 50, dtype: str = "float64", progress=None
             ) -> dict[str, np.ndarray]:
    """Gradient descent on the tensor losses (autodiff), through the engine.

    Args:
        init, targets: vectors ``a, b, c, d`` (shape ``[n]``, or ``[runs, n]`` for many runs
            vmapped into one program).
        mu1, mu2, alpha, lr: scalars or one value per run.
        steps, record_every: records at steps 0, record_every, ..., steps, each before that
            step's update (``steps`` a multiple of ``record_every``).
        dtype: ``"float64"`` (default) or ``"float32"``.

    Returns:
        ``{name: array}`` for every name in :data:`OBSERVABLES`, shape
        ``(steps // record_every + 1,)`` (or ``(runs, ...)``).
    """
    record_at = _records(steps, record_every)
    init, targets, batched = _vectors(init, targets, np.dtype(dtype))
    hyper = _hyper(len(init["a"]), dtype, mu1=mu1, mu2=mu2, alpha=alpha, lr=lr)
    values, _ = _engine_run(_given_init, {"init": init, "targets": targets, **hyper}, seeds=[0],
                            record_at=record_at, dtype=dtype, progress=progress)
    out = {k: v[:, 0] for k, v in values.items()}
    return out if batched else {k: v[0] for k, v in out.items()}


def simulate_seeds(seeds, *, sizes: tuple[int, int, int, int] = tuple(DIMS.values()),
                   mu1: Any = 0.1, mu2: Any = 0.0, alpha: Any = 0.1, lr: Any = 1.0,
                   steps: int = 16000, record_every: int = 50, dtype: str = "float64",
                   progress=None, vmap_seeds: bool = True
                   ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """:func:`simulate` from vectors and targets drawn i.i.d. N(0, 1) from each seed's key,
    for one or several settings (hyper-parameters given as 1-D arrays, one value per
    setting, all on the same seeds).

    ``vmap_seeds=False`` runs each seed as its own program, the seeds in threads (faster on a
    CPU, where one seed's tensors stay in cache).

    Returns:
        ``{name: [setting, seed, record]}`` and the target squared norms ``[seed, 4]``
        (a, b, c, d), from which :func:`theory_from_overlaps` continues.
    """
    record_at = _records(steps, record_every)
    hyper = _hyper(None, dtype, mu1=mu1, mu2=mu2, alpha=alpha, lr=lr)
    init_fn = _drawn_init(tuple(int(x) for x in sizes), str(np.dtype(dtype)))
    values, targets = _engine_run(init_fn, hyper, seeds=list(seeds), record_at=record_at,
                                  dtype=dtype, progress=progress, vmap_seeds=vmap_seeds)
    target_sq = np.stack([np.sum(np.asarray(targets[v][0], np.float64) ** 2, -1)
                          for v in VECTORS], -1)
    return values, target_sq


# ---- the overlap map (theory) --------------------------------------------------------------
def _excess(x, p):
    """prod(x_v + p_v) - prod(x_v) over three factors, as a sum of non-negative terms."""
    (xa, xb, xc), (pa, pb, pc) = x, p
    return pa * (xb + pb) * (xc + pc) + xa * pb * (xc + pc) + xa * xb * pc


def overlap_map(state: jax.Array, target_sq: jax.Array, sizes: tuple[int, int, int, int], *,
                mu1, mu2, alpha, lr) -> tuple[jax.Array, dict[str, jax.Array]]:
    """One gradient step of the exact reduction; returns the new state and the observables
    *before* the step.

    ``state = (s_a, s_b, s_c, s_d, P_a, P_b, P_c, P_d)`` with ``s_v = m_v / T_v`` (the
    component along the target) and ``P_v = N_v - m_v^2 / T_v`` (the squared norm orthogonal
    to it): the same eight numbers as (m_v, N_v), better conditioned. A step maps
    ``s_v -> (1 - lr p_v) s_v + lr q_v`` (``q_v`` per unit target) and ``P_v -> (1 - lr p_v)^2
    P_v``, and the losses are sums of non-negative terms, e.g.
    ``2 n_1 L_abc / (T_a T_b T_c) = (1 - s_a s_b s_c)^2 + prod(s_v^2 + P_v/T_v) - prod(s_v^2)``,
    so they stay accurate when they approach zero (the drive on d is L_abc + mu1).
    """
    s, perp = state[:4], state[4:]
    sa, sb, sc, sd = (s[i] for i in range(4))
    ta, tb, tc, td = (target_sq[i] for i in range(4))
    x, p_rel = s * s, perp / target_sq
    sq = x * target_sq + perp
    na, nb, nc, nd = (sq[i] for i in range(4))
    da, db, dc, dd = sizes
    n1, n2, nad = da * db * dc, dd * db * dc, da * dd
    l1 = ta * tb * tc * ((1 - sa * sb * sc) ** 2
                         + _excess((x[0], x[1], x[2]), (p_rel[0], p_rel[1], p_rel[2]))) / (2 * n1)
    l2 = td * tb * tc * ((1 - sd * sb * sc) ** 2
                         + _excess((x[3], x[1], x[2]), (p_rel[3], p_rel[1], p_rel[2]))) / (2 * n2)
    cost = na * nd / (2 * nad)
    w1, w2, k = (l2 + mu2) / n1, (l1 + mu1) / n2, alpha / nad
    shared = w1 * na + w2 * nd
    p = jnp.stack([w1 * nb * nc + k * nd, shared * nc, shared * nb, w2 * nb * nc + k * na])
    # q_v: the coefficient of v* in -grad_v L, here per unit of v* (m_b m_c = s_b s_c T_b T_c)
    q = jnp.stack([w1 * sb * sc * tb * tc, (w1 * sa * ta + w2 * sd * td) * sc * tc,
                   (w1 * sa * ta + w2 * sd * td) * sb * tb, w2 * sb * sc * tb * tc])
    shrink = 1.0 - lr * p
    new = jnp.concatenate([shrink * s + lr * q, shrink**2 * perp])
    obs = {"loss_icl": l1, "loss_ciwl": l2, "cost": cost,
           "loss": (l1 + mu1) * (l2 + mu2) + alpha * cost}
    obs.update({f"overlap_{v}": s[i] * target_sq[i] for i, v in enumerate(VECTORS)})
    obs.update({f"sqnorm_{v}": sq[i] for i, v in enumerate(VECTORS)})
    obs.update({f"sqnorm_orth_{v}": perp[i] for i, v in enumerate(VECTORS)})
    return new, obs


def _theory_one(state, target_sq, hyper, sizes, steps, record_every):
    def inner(_, s):
        return overlap_map(s, target_sq, sizes, **hyper)[0]

    def record(s, _):
        obs = overlap_map(s, target_sq, sizes, **hyper)[1]
        return jax.lax.fori_loop(0, record_every, inner, s), obs

    final, obs = jax.lax.scan(record, state, None, length=steps // record_every)
    last = overlap_map(final, target_sq, sizes, **hyper)[1]
    return jax.tree.map(lambda x, y: jnp.concatenate([x, y[None]]), obs, last)


_theory_runs = jax.jit(jax.vmap(_theory_one, in_axes=(0, 0, 0, None, None, None)),
                       static_argnums=(3, 4, 5))


@float64
def theory_from_overlaps(overlaps: Any, sqnorms_orth: Any, target_sq: Any, *,
                         sizes: tuple[int, int, int, int] = tuple(DIMS.values()), mu1: Any = 0.1,
                         mu2: Any = 0.0, alpha: Any = 0.1, lr: Any = 1.0, steps: int = 16000,
                         record_every: int = 50) -> dict[str, np.ndarray]:
    """The overlap map iterated in float64 from overlaps ``m_v = v . v*``, squared norms
    orthogonal to the targets ``P_v = |v|^2 - m_v^2 / |v*|^2`` and target squared norms
    ``T_v`` (each ``[..., 4]`` in the order a, b, c, d; leading axes broadcast, one run per
    index), for vectors of the given sizes. Hyper-parameters: scalars or arrays broadcasting
    against the leading axes. Returns ``{name: [..., record]}``.
    """
    m, p, t = (np.asarray(x, np.float64) for x in (overlaps, sqnorms_orth, target_sq))
    lead = np.broadcast_shapes(m.shape, p.shape, t.shape)[:-1]
    m, p, t = (np.broadcast_to(x, (*lead, 4)).reshape(-1, 4) for x in (m, p, t))
    hyper = {k: jnp.asarray(np.broadcast_to(np.asarray(v, np.float64), lead).reshape(-1))
             for k, v in dict(mu1=mu1, mu2=mu2, alpha=alpha, lr=lr).items()}
    state = jnp.asarray(np.concatenate([m / t, p], -1))
    out = _theory_runs(state, jnp.asarray(t), hyper, tuple(int(x) for x in sizes), steps,
                       record_every)
    return {k: np.asarray(v).reshape(*lead, -1) for k, v in out.items()}


def theory(init: Mapping[str, Any], targets: Mapping[str, Any], *, mu1: Any = 0.1,
           mu2: Any = 0.0, alpha: Any = 0.1, lr: Any = 1.0, steps: int = 16000,
           record_every: int = 50) -> dict[str, np.ndarray]:
    """The exact overlap map iterated in float64 from the overlaps and norms of ``init``;
    same arguments and returns as :func:`simulate`."""
    _records(steps, record_every)
    init, targets, batched = _vectors(init, targets, np.float64)
    hyper = _hyper(len(init["a"]), np.float64, mu1=mu1, mu2=mu2, alpha=alpha, lr=lr)
    t = np.stack([np.sum(targets[v] ** 2, -1) for v in VECTORS], -1)
    m = np.stack([np.sum(init[v] * targets[v], -1) for v in VECTORS], -1)
    perp = np.stack([np.sum((init[v] - (m[:, i] / t[:, i])[:, None] * targets[v]) ** 2, -1)
                     for i, v in enumerate(VECTORS)], -1)
    sizes = tuple(int(init[v].shape[-1]) for v in VECTORS)
    out = theory_from_overlaps(m, perp, t, sizes=sizes, steps=steps, record_every=record_every,
                               **hyper)
    return out if batched else {k: v[0] for k, v in out.items()}


def no_mechanism_losses(target_sq: Any, sizes: tuple[int, int, int, int] = tuple(DIMS.values())
                        ) -> tuple[np.ndarray, np.ndarray]:
    """L_abc(a = 0) and L_dbc(d = 0), the losses without ICL / without CIWL, from the target
    squared norms ``[..., 4]`` (a, b, c, d) and the vector sizes."""
    t = np.asarray(target_sq, np.float64)
    na, nb, nc, nd = sizes
    common = t[..., 1] * t[..., 2]
    return t[..., 0] * common / (2 * na * nb * nc), t[..., 3] * common / (2 * nd * nb * nc)


def labels(steps: np.ndarray, loss_icl: np.ndarray, loss_ciwl: np.ndarray,
           icl_none: np.ndarray, ciwl_none: np.ndarray) -> dict[str, np.ndarray]:
    """Per-run summaries of recorded curves ``[..., record]`` (module docstring):
    ``t_icl``, ``t_ciwl`` (NaN if never), ``icl_rebound`` = final L_abc / L_abc(a=0), and the
    booleans ``icl_emerged``, ``ciwl_completed``, ``transient``."""
    steps = np.asarray(steps)
    l1 = np.asarray(loss_icl) / np.asarray(icl_none)[..., None]
    l2 = np.asarray(loss_ciwl) / np.asarray(ciwl_none)[..., None]
    i_icl = np.argmin(l1, axis=-1)
    done = l2 < 0.02
    completed = done.any(-1)
    t_ciwl = np.where(completed, steps[np.argmax(done, axis=-1)], np.nan)
    after = done & (np.arange(len(steps)) > i_icl[..., None])
    emerged = l1.min(-1) < 0.1
    rebound = l1[..., -1]
    return {"t_icl": steps[i_icl].astype(np.float64), "t_ciwl": t_ciwl,
            "icl_rebound": rebound, "icl_emerged": emerged, "ciwl_completed": completed,
            "transient": emerged & after.any(-1) & (rebound >= 0.8)}
