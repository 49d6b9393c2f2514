"""Theory of the gated network: population flow, its exact reduction, conservation, switching.

**Population gradient flow.** With E = W*^{m(t)} - sum_q c^q W^q and <A, B> = tr(A^T B)::

    tau_w dW^p/dt = c^p E,        tau_c dc^p/dt = <W^p, E> - dR/dc^p

(:func:`learndyn.task_abstraction.model.population_grads`). A path's weight update is
proportional to its own gate, so a path whose gate is off is protected.

**Exact reduction** (orthogonal teachers with <W*^m, W*^n> = S delta_mn, targets in their
span with coordinates t). Write W^p = sum_m w^p_m W*^m + W^p_perp and G_pq = <W^p_perp,
W^q_perp>; with eps = t - sum_q c^q w^q::

    tau_w dw^p/dt = c^p eps
    tau_c dc^p/dt = S w^p . eps - sum_q c^q G_pq - dR/dc^p
    tau_w dG_pq/dt = -c^p (G c)_q - c^q (G c)_p
    L = S/2 ||eps||^2 + 1/2 c^T G c

The explicit Euler map with the same dt is closed too (:func:`reduced_map`): the w and c
updates are the Euler steps above and G gains the term h^2 c^p c^q (c^T G c), h = dt/tau_w.
So the reduced map reproduces a population-mode simulation to rounding error, and
:func:`reduced_flow` (fixed-step RK4: the hinge and |.| are not smooth, adaptive solvers
stall) is its dt -> 0 limit.

**Conservation law.** Q_p = tau_w ||W^p||^2 - tau_c (c^p)^2 obeys dQ_p/dt = 2 c^p dR/dc^p
(constant for lam = 0). Summed over paths it is the exact **within-block relation** between
the weights' norm (their specialisation) and the gates (:func:`within_block_norm`). With two
paths, gate sum s = c^1 + c^2, gate difference cbar = c^1 - c^2 and the norm-based
specialisation wbar_eff^2 = sum_p ||W^p||^2 / S - 1, it reads::

    wbar_eff^2(t) - wbar_eff^2(t0) = tau_c/(2 S tau_w) [(s^2 + cbar^2)(t) - (s^2 + cbar^2)(t0)]
                                     + (work(t) - work(t0)) / (S tau_w)

with work = int 2 sum_p c^p dR/dc^p dt. For a symmetric switch from full specialisation
(wbar = 1, cbar = +-1, s = 1, no regulariser work) it gives :func:`symmetric_wbar`:
wbar^2 = 1 - tau_c/(2 S tau_w) (1 - cbar^2), so fast gates keep the modules intact.

**Gate-switching law** (:func:`switch_time`). Once W^p = W*^p and the gates are one-hot on
the old task o, a switch to task m (regulariser ignored) gives c^m = 1 - e^{-St/tau_c},
c^o = e^{-St/tau_c} and loss(t) = S e^{-2St/tau_c}, so the loss falls below theta after
t_theta = tau_c/(2S) ln(S/theta). Moving weights delay the switch a little.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .model import regulariser_grad
from .observables import first_crossing

__all__ = [
    "project",
    "project_gram",
    "reduced_flow",
    "reduced_loss",
    "reduced_map",
    "reduced_map_batch",
    "reduced_runs",
    "switch_loss",
    "switch_time",
    "symmetric_wbar",
    "within_block_curve",
    "within_block_norm",
]


def switch_time(tau_c, overlap, theta):
    """t_theta = tau_c/(2S) ln(S/theta): time for the loss to fall below theta after a switch
    carried by the gates alone (modules in place, gates one-hot, regulariser ignored)."""
    return np.asarray(tau_c) / (2.0 * overlap) * np.log(overlap / np.asarray(theta))


def switch_loss(t, tau_c, overlap):
    """Loss after a gate-carried switch: S exp(-2 S t / tau_c)."""
    return overlap * np.exp(-2.0 * overlap * np.asarray(t) / tau_c)


def symmetric_wbar(cbar, tau_c, tau_w, overlap=1.0):
    """Specialisation during a symmetric switch from full specialisation:
    wbar = sqrt(1 - tau_c/(2 S tau_w) (1 - cbar^2)); its minimum (cbar = 0) is
    sqrt(1 - tau_c/(2 S tau_w))."""
    return np.sqrt(1.0 - tau_c / (2.0 * overlap * tau_w) * (1.0 - np.asarray(cbar) ** 2))


def within_block_norm(norm0, gates0, gates, work0, work, tau_w, tau_c):
    """sum_p ||W^p||^2 predicted from the gates by the conservation law (path axis last):

    norm0 + tau_c/tau_w (sum_p c_p^2 - sum_p c0_p^2) + (sum_p work_p - sum_p work0_p)/tau_w.
    Exact for gradient flow; Euler steps add O(dt) (and SGD noise O(dt/B)).
    """
    gates, gates0 = np.asarray(gates), np.asarray(gates0)
    sq = np.sum(gates**2, axis=-1) - np.sum(gates0**2, axis=-1)
    w = np.sum(np.asarray(work), axis=-1) - np.sum(np.asarray(work0), axis=-1)
    return np.asarray(norm0) + tau_c / tau_w * sq + w / tau_w


def within_block_curve(norm_sq, gates, work, steps, n_block: int, n_blocks: int, tau_w: float,
                       tau_c: float) -> np.ndarray:
    """sum_p ||W^p||^2 (seed, time) predicted from the gates by :func:`within_block_norm`,
    restarted at every block start from the simulated value ``norm_sq`` (seed, time);
    ``gates`` and ``work`` are (seed, time, path) at the recorded step counts ``steps``."""
    out = np.empty_like(norm_sq)
    block = np.minimum(np.asarray(steps) // n_block, n_blocks - 1)
    for k in np.unique(block):
        idx = np.flatnonzero(block == k)
        i0 = idx[0]
        out[:, idx] = within_block_norm(norm_sq[:, i0, None], gates[:, i0, None], gates[:, idx],
                                        work[:, i0, None], work[:, idx], tau_w, tau_c)
    return out


def project(W: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reduced coordinates of weights W (P, d_out, d_in): w (P, M) and G (P, P)."""
    overlap = float(np.sum(base[0] ** 2))
    w = np.einsum("mij,pij->pm", base, W) / overlap
    gram = np.einsum("pij,qij->pq", W, W)
    return w, gram - overlap * w @ w.T


def project_gram(w: np.ndarray, gram: np.ndarray, overlap: float) -> np.ndarray:
    """G from recorded span coordinates w (..., P, M) and Gram matrices (..., P, P)."""
    return gram - overlap * np.einsum("...pm,...qm->...pq", w, w)


def reduced_loss(w, c, G, target, overlap):
    """L = S/2 ||eps||^2 + 1/2 c^T G c, eps = target - sum_q c^q w^q."""
    eps = target - jnp.einsum("p,pm->m", c, w)
    return 0.5 * overlap * jnp.sum(eps**2) + 0.5 * c @ G @ c


def _drift(w, c, G, target, p):
    """Time derivatives (dw, dc, dG) of the reduced flow (without the Euler G correction)."""
    eps = target - jnp.einsum("p,pm->m", c, w)
    Gc = G @ c
    rg = regulariser_grad(c, p["lam_nonneg"], p["lam_l1"], p["lam_l2"])
    dw = c[:, None] * eps[None, :] / p["tau_w"]
    dc = (p["overlap"] * w @ eps - Gc - rg) / p["tau_c"]
    dG = -(c[:, None] * Gc[None, :] + Gc[:, None] * c[None, :]) / p["tau_w"]
    return dw, dc, dG


def _targets(p):
    """Target coordinates of step count t: coords[plan[block(t)]]."""
    def at(t):
        k = jnp.minimum(t // p["n_block"], p["plan"].shape[0] - 1)
        return p["coords"][p["plan"][k]]
    return at


@partial(jax.jit, static_argnames=("num_steps",))
def _map(w0, c0, G0, p, num_steps):
    at = _targets(p)
    h = p["dt"] / p["tau_w"]

    def body(carry, t):
        w, c, G = carry
        target = at(t)
        loss = reduced_loss(w, c, G, target, p["overlap"])
        dw, dc, dG = _drift(w, c, G, target, p)
        corr = h**2 * jnp.outer(c, c) * (c @ G @ c)
        new = (w + p["dt"] * dw, c + p["dt"] * dc, G + p["dt"] * dG + corr)
        return new, (w, c, G, loss)

    final, (ws, cs, Gs, losses) = jax.lax.scan(body, (w0, c0, G0), jnp.arange(num_steps))
    w, c, G = final
    last = reduced_loss(w, c, G, at(jnp.int32(num_steps)), p["overlap"])
    cat = lambda a, b: jnp.concatenate([a, b[None]])  # noqa: E731
    return cat(ws, w), cat(cs, c), cat(Gs, G), cat(losses, last)


def _params(overlap, tau_w, tau_c, dt, lam, coords, plan, n_block):
    lam_nonneg, lam_l1, lam_l2 = lam
    f = lambda x: jnp.asarray(x, jnp.float64)  # noqa: E731
    return {"overlap": f(overlap), "tau_w": f(tau_w), "tau_c": f(tau_c), "dt": f(dt),
            "lam_nonneg": f(lam_nonneg), "lam_l1": f(lam_l1), "lam_l2": f(lam_l2),
            "coords": f(coords), "plan": jnp.asarray(plan, jnp.int32),
            "n_block": jnp.int32(n_block)}


def reduced_map(w0, c0, G0, *, overlap, tau_w, tau_c, dt, lam=(0.0, 0.0, 0.0), coords, plan,
                n_block, num_steps, record_at=None):
    """The Euler map of the reduced dynamics, float64 (see the module docstring).

    Args:
        w0 (P, M), c0 (P,), G0 (P, P): initial reduced coordinates (:func:`project`).
        overlap: S. tau_w, tau_c, dt: timescales and step. lam: (nonneg, l1, l2) coefficients.
        coords (K, M): target coordinates of every task; plan (n_blocks,): task per block;
        n_block: steps per block; num_steps: steps to run.
        record_at: step counts to return (default: every step 0..num_steps).

    Returns:
        dict of ``w`` (T, P, M), ``c`` (T, P), ``G`` (T, P, P), ``loss`` (T,) at ``record_at``.
    """
    p = _params(overlap, tau_w, tau_c, dt, lam, coords, plan, n_block)
    f = lambda x: jnp.asarray(x, jnp.float64)  # noqa: E731
    ws, cs, Gs, losses = _map(f(w0), f(c0), f(G0), p, int(num_steps))
    idx = np.arange(num_steps + 1) if record_at is None else np.asarray(record_at)
    return {"w": np.asarray(ws)[idx], "c": np.asarray(cs)[idx], "G": np.asarray(Gs)[idx],
            "loss": np.asarray(losses)[idx]}


@partial(jax.jit, static_argnames=("num_steps", "substeps"))
def _rk4(w0, c0, G0, p, num_steps, substeps):
    at = _targets(p)
    h = p["dt"] / substeps

    def rhs(y, target):
        return _drift(*y, target, p)

    def add(y, k, a):
        return tuple(yi + a * ki for yi, ki in zip(y, k))

    def body(y, t):
        target = at(t)  # the target is constant within a step of the map's grid

        def sub(y, _):
            k1 = rhs(y, target)
            k2 = rhs(add(y, k1, h / 2), target)
            k3 = rhs(add(y, k2, h / 2), target)
            k4 = rhs(add(y, k3, h), target)
            return tuple(yi + h / 6 * (a + 2 * b + 2 * c + d)
                         for yi, a, b, c, d in zip(y, k1, k2, k3, k4)), None

        loss = reduced_loss(*y, target, p["overlap"])
        new, _ = jax.lax.scan(sub, y, None, length=substeps)
        return new, (*y, loss)

    final, (ws, cs, Gs, losses) = jax.lax.scan(body, (w0, c0, G0), jnp.arange(num_steps))
    last = reduced_loss(*final, at(jnp.int32(num_steps)), p["overlap"])
    cat = lambda a, b: jnp.concatenate([a, b[None]])  # noqa: E731
    return cat(ws, final[0]), cat(cs, final[1]), cat(Gs, final[2]), cat(losses, last)


def reduced_flow(w0, c0, G0, *, overlap, tau_w, tau_c, dt, lam=(0.0, 0.0, 0.0), coords, plan,
                 n_block, num_steps, substeps=4, record_at=None):
    """The reduced gradient flow (the dt -> 0 limit of :func:`reduced_map`), integrated with
    fixed-step RK4 at ``substeps`` steps per map step dt, reported on the map's time grid
    (t = step dt; the block plan is the same). Arguments as for :func:`reduced_map`."""
    p = _params(overlap, tau_w, tau_c, dt, lam, coords, plan, n_block)
    f = lambda x: jnp.asarray(x, jnp.float64)  # noqa: E731
    ws, cs, Gs, losses = _rk4(f(w0), f(c0), f(G0), p, int(num_steps), int(substeps))
    idx = np.arange(num_steps + 1) if record_at is None else np.asarray(record_at)
    return {"w": np.asarray(ws)[idx], "c": np.asarray(cs)[idx], "G": np.asarray(Gs)[idx],
            "loss": np.asarray(losses)[idx]}


def reduced_map_batch(w0, c0, G0, *, overlap, tau_w, tau_c, dt, lam, coords, plan, n_block,
                      num_steps, record_at):
    """:func:`reduced_map` for a batch of initial conditions (leading axis), sharing the rest."""
    p = _params(overlap, tau_w, tau_c, dt, lam, coords, plan, n_block)
    f = lambda x: jnp.asarray(x, jnp.float64)  # noqa: E731
    run = jax.vmap(lambda w, c, G: _map(w, c, G, p, int(num_steps)))
    ws, cs, Gs, losses = run(f(w0), f(c0), f(G0))
    idx = np.asarray(record_at)
    return {"w": np.asarray(ws)[:, idx], "c": np.asarray(cs)[:, idx],
            "G": np.asarray(Gs)[:, idx], "loss": np.asarray(losses)[:, idx]}


def reduced_runs(tasks, plan: np.ndarray, specs, values: dict, num_steps: int,
                 record_at: np.ndarray, theta: float | tuple[float, ...]) -> dict:
    """The reduced map (float64, same dt) beside simulated runs, from each (spec, seed)'s own
    recorded initial condition.

    Args:
        tasks: the :class:`~learndyn.task_abstraction.data.Tasks` trained on; plan: task per
            block. specs: the runs' dynamics (``tau_w``, ``tau_c``, ``lam``, ``n_block``,
            ``dt``; :class:`~learndyn.task_abstraction.simulate.RunSpec`).
        values: the simulation's records (spec, seed, time, ...) of ``w``, ``gates``, ``gram``.
        num_steps: steps run; record_at: step counts to return; theta: loss threshold(s).

    Returns:
        ``loss`` (spec, seed, record), ``c`` (spec, seed, record, P), ``w`` (..., P, M) and
        ``ttt`` (spec, seed, block): per block, the time to the first loss < theta (-1: never;
        with a tuple of thresholds a last axis over them).
    """
    thetas = theta if isinstance(theta, tuple) else (theta,)
    out: dict[str, list] = {"loss": [], "c": [], "w": [], "ttt": []}
    every = np.arange(num_steps + 1)
    for i, spec in enumerate(specs):
        w0 = values["w"][i, :, 0]
        c0 = values["gates"][i, :, 0]
        G0 = project_gram(w0, values["gram"][i, :, 0], tasks.overlap)
        res = reduced_map_batch(
            w0, c0, G0, overlap=tasks.overlap, tau_w=spec.tau_w, tau_c=spec.tau_c, dt=spec.dt,
            lam=spec.lam, coords=tasks.coords, plan=plan, n_block=spec.n_block,
            num_steps=num_steps, record_at=every)
        ttt = np.stack([first_crossing(res["loss"], spec.n_block, len(plan), th, spec.dt)
                        for th in thetas], axis=-1)
        out["ttt"].append(ttt if isinstance(theta, tuple) else ttt[..., 0])
        for k in ("loss", "c", "w"):
            out[k].append(res[k][:, record_at])
    return {k: np.stack(v) for k, v in out.items()}
