r"""Compiled gradient-descent programs for deep linear networks (shared by the studies).

Full-batch gradient descent :math:`W_l \leftarrow W_l - \eta\,\partial L/\partial W_l` on
:math:`L = \tfrac{c}{2}\|Y - W_D\cdots W_1 X\|_F^2` through
:func:`learndyn.core.engine.simulate` (seeds vmapped, one compiled program per shape):

- :func:`train_modes`: aligned balanced or small random initial weights of any depth, recording
  the mode strengths :math:`u_\alpha = \tilde u_\alpha^\top W_D\cdots W_1 \tilde v_\alpha`
  (Saxe, McClelland & Ganguli, ICLR 2014), and :func:`modes_dataset`, those runs beside the
  theory;
- :func:`train_balanced`: groups of lambda-balanced two-layer networks (Dominé et al., ICLR
  2025), every lambda of a group vmapped inside the state and started from the same rotations,
  recording the weights themselves;
- :func:`compare_balanced`: those weights beside the closed form :func:`closed_form` started
  from the same float64 initial weights (sim, theory, their errors, the lambda-balance), and
  :func:`balanced_dataset`, the same with what it shows (mode projections, NTK movement,
  representation change) as a labelled ``xarray.Dataset``; :func:`sweep_dataset` assembles the
  groups of a lambda sweep (equal widths, unequal widths, reversal) into one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from ..core.engine import TrainState, gradient_step, simulate
from . import balanced, model, observables, theory
from .data import Task

__all__ = [
    "balanced_dataset",
    "balanced_group",
    "closed_form",
    "compare_balanced",
    "limits",
    "long_name",
    "modes_dataset",
    "reversal",
    "reversal_group",
    "sweep_dataset",
    "sweep_groups",
    "train_balanced",
    "train_modes",
]

_SGD = optax.inject_hyperparams(optax.sgd)(learning_rate=0.0)  # the rate lives in the state
_STEP = gradient_step(model.loss, _SGD)


# ---- Saxe modes: aligned or random init, any depth ------------------------------------------
@cache
def _mode_programs(kind: str, depth: int, n_hidden: int, dtype: str):
    """(init, observe) for one network shape; cached so repeated runs re-use compiled code."""
    dt = jnp.dtype(dtype)

    def init(key, args):
        if kind == "aligned":
            weights = model.init_aligned(key, args["U"], args["V"], n_hidden=n_hidden,
                                         depth=depth, u0=args["u0"], dtype=dt)
        else:
            dims = (args["X"].shape[0],) + (n_hidden,) * (depth - 1) + (args["Y"].shape[0],)
            weights = model.init_random(key, dims, scale=args["init_scale"], dtype=dt)
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=args["lr"].astype(dt))
        return TrainState(weights, opt.init(weights))

    def observe(state, args):
        weights = state.params
        out = {"mode_strength": observables.mode_strengths(weights, args["U"], args["V"]),
               "loss": model.loss(weights, args)}
        if depth == 2:
            out["u0_eff"] = observables.symmetric_strength(weights, args["U"], args["V"])
        if depth == 2 and kind == "random":
            out["u0_free"] = observables.symmetric_strength(weights, args["U"], args["V"],
                                                            orthogonalise=True)
        return out

    return init, observe


def train_modes(task: Task, *, kind: str, depth: int, n_hidden: int, lr: float,
                u0: Sequence[float], init_scale: Sequence[float], record_at: np.ndarray,
                seeds: Sequence[int], dtype: str = "float32", progress=None,
                label: str = "") -> dict[str, np.ndarray]:
    """Train depth-``depth`` networks on ``task`` from ``kind`` init ("aligned" or "random").

    ``u0`` (aligned init: every mode's initial product strength) and ``init_scale`` (random
    init: std of the weight entries) give one value per batch entry B; all B x seeds runs are
    one vmapped program. Returns float64 arrays ``mode_strength`` (B, seed, record, mode),
    ``loss`` (B, seed, record) and, for D = 2, ``u0_eff`` (B, seed, record, mode): the
    effective strength ||W1 v + W2^T u||^2/4 (:func:`.observables.symmetric_strength`), and
    for random init ``u0_free``, its part orthogonal to the stronger modes' hidden vectors.
    """
    u0, init_scale = np.asarray(u0, np.float64), np.asarray(init_scale, np.float64)
    shared = dict(X=task.X, Y=task.Y, c=task.c, U=task.U, V=task.V, lr=lr)
    args = {k: jnp.asarray(np.stack([v] * len(u0)), dtype=jnp.float64) for k, v in shared.items()}
    args.update(u0=jnp.asarray(u0), init_scale=jnp.asarray(init_scale))
    init, observe = _mode_programs(kind, depth, n_hidden, dtype)
    rec = simulate(init, _STEP, observe, seeds=seeds, record_at=record_at, args=args,
                   progress=progress, label=label, batched=True)
    return {k: np.asarray(v).astype(np.float64) for k, v in rec.values.items()}


def modes_dataset(task: Task, times: np.ndarray, steps: np.ndarray, seeds: Sequence[int],
                  per_run: Sequence[tuple]) -> xr.Dataset:
    """Runs of :func:`train_modes` beside the theory (:func:`.theory.mode_deep`, half times)
    started from each seed's initial strengths, as a labelled Dataset with dims (run, seed,
    time, mode); ``per_run`` = [(kind, depth, u, loss, u0, free)] with u (seed, time, mode),
    loss (seed, time), u0 the theory's initial strengths and free the free fraction (seed,
    mode)."""
    th_u, th_half = [], []
    for _, depth, _, _, u0, _ in per_run:
        th_u.append(np.moveaxis(np.asarray(theory.mode_deep(task.s, u0, times, depth=depth)),
                                0, 1))
        th_half.append([[theory.half_time(s, a, depth=depth) for s, a in zip(task.s, row)]
                        for row in u0])
    sims_a, th_a = np.stack([p[2] for p in per_run]), np.stack(th_u)
    dims_u = ("run", "seed", "time", "mode")
    ds = xr.Dataset(
        {
            "mode_strength_sim": (dims_u, sims_a),
            "mode_strength_theory": (dims_u, th_a),
            "loss_sim": (("run", "seed", "time"), np.stack([p[3] for p in per_run])),
            "loss_theory": (("run", "seed", "time"),
                            np.asarray(theory.mode_loss(th_a, task.s, task.loss_offset))),
            "t_half_sim": (("run", "seed", "mode"), observables.half_times(times, sims_a, task.s)),
            "t_half_theory": (("run", "seed", "mode"), np.array(th_half)),
            "u0_eff": (("run", "seed", "mode"), np.stack([p[4] for p in per_run])),
            "free_fraction": (("run", "seed", "mode"), np.stack([p[5] for p in per_run])),
        },
        coords={
            "run": [f"{kind}_D{depth}" for kind, depth, *_ in per_run],
            "depth": ("run", [depth for _, depth, *_ in per_run]),
            "init": ("run", [kind for kind, *_ in per_run]),
            "seed": list(seeds),
            "time": times,
            "step": ("time", steps),
            "mode": np.arange(1, len(task.s) + 1),
            "s": ("mode", task.s),
        },
    )
    return observables.label(ds)


# ---- lambda-balanced two-layer networks -----------------------------------------------------
def balanced_group(task: Task, dims: Sequence[int], lams: Sequence[float], a: float, *,
                   saddle_free: bool = False) -> dict:
    """One group: ``task``, widths (N_i, N_h, N_o), its lambdas, and the product singular value
    ``a`` of every mode at t = 0; ``saddle_free`` (N_i = N_o) keeps U0 off the saddle
    (:func:`.model.saddle_free`)."""
    U, _, Vt = np.linalg.svd(task.sigma_yx)
    init = "saddle_free" if saddle_free else "haar"
    return {"dims": tuple(int(d) for d in dims), "init": init, **{
        k: jnp.asarray(v, dtype=jnp.float64) for k, v in dict(
            X=task.X, Y=task.Y, c=task.c, sigma=task.sigma_yx, U=U, V=Vt.T, lams=lams,
            a=a).items()}}


def reversal_group(s: float, lams: Sequence[float]) -> dict:
    """A 1-1-1 network already trained to a = s (w1 = w2, U0 = V0 = R = 1) whose target is -s."""
    values = dict(X=[[1.0]], Y=[[-s]], c=1.0, lams=lams, a=s)
    return {"dims": (1, 1, 1), "init": "unit",
            **{k: jnp.asarray(v, dtype=jnp.float64) for k, v in values.items()}}


def sweep_groups(tasks: Mapping[str, Task], dims: Sequence[int], lams: Sequence[float], a: float,
                 *, unequal_dims: Sequence[int] = (), unequal_lams: Sequence[float] = (),
                 reversal_s: float = 1.0, reversal_lams: Sequence[float] = ()) -> dict:
    """The groups of one lambda sweep for :func:`train_balanced`: ``main`` (widths ``dims``,
    saddle-free start), ``unequal`` (widths ``unequal_dims``) if in ``tasks``, and ``reversal``
    (:func:`reversal_group`) if ``reversal_lams``."""
    groups = {"main": balanced_group(tasks["main"], dims, lams, a, saddle_free=True)}
    if "unequal" in tasks:
        groups["unequal"] = balanced_group(tasks["unequal"], unequal_dims, unequal_lams, a)
    if reversal_lams:
        groups["reversal"] = reversal_group(reversal_s, reversal_lams)
    return groups


def _group_init(key, dims, g, *, aligned: bool, saddle_free: bool):
    """lambda-balanced weights for every lambda of a group, sharing rotations and a."""
    n_i, n_h, n_o = dims
    # one Gaussian draw for all three rotations (each random draw compiles separately)
    gauss = jax.random.normal(key, (n_o * n_o + n_i * n_i + n_h * n_h,), dtype=jnp.float64)
    cut = np.cumsum([n_o * n_o, n_i * n_i])
    U0, V0, R = (model.orthogonal_factor(x.reshape(n, n))
                 for x, n in zip(jnp.split(gauss, cut), (n_o, n_i, n_h)))
    if aligned:
        U0, V0 = g["U"], g["V"]
    elif saddle_free:
        U0 = model.saddle_free(U0, V0, g["sigma"])
    return jax.vmap(lambda lam: model.lambda_balanced_init(
        key, dims, lam, a=g["a"], U0=U0, V0=V0, R=R))(g["lams"])


def _unit_init(key, dims, a, lam):
    one = jnp.ones((1, 1))
    return model.lambda_balanced_init(key, dims, lam, a=a, U0=one, V0=one, R=one)


@cache
def _balanced_programs(groups: tuple, dtype: str, aligned: bool):
    """(init, step, observe) for the groups ((name, dims, init), ...); cached for re-use."""
    dt = jnp.dtype(dtype)

    def init(key, args):
        w0 = {}
        for (name, dims, kind), k in zip(groups, jax.random.split(key, len(groups))):
            g = args[name]
            if kind == "unit":  # reversal: trained to a = s
                w0[name] = jax.vmap(partial(_unit_init, k, dims, g["a"]))(g["lams"])
            else:
                w0[name] = _group_init(k, dims, g, aligned=aligned,
                                       saddle_free=kind == "saddle_free")
        return {"w": jax.tree.map(lambda x: x.astype(dt), w0), "w0": w0}

    def step(state, key, t, args):
        lr = args["lr"].astype(dt)
        new = {}
        for name, *_ in groups:
            batch = {k: args[name][k] for k in ("X", "Y", "c")}

            def gd(w, batch=batch):
                grads = jax.grad(model.loss)(w, batch)
                return jax.tree.map(lambda p, q: p - lr * q, w, grads)

            new[name] = jax.vmap(gd)(state["w"][name])
        return {"w": new, "w0": state["w0"]}

    def observe(state, args):
        out = {}
        for name, *_ in groups:
            W1, W2 = state["w"][name]
            out[f"{name}/W1"], out[f"{name}/W2"] = W1.astype(jnp.float64), W2.astype(jnp.float64)
            batch = {k: args[name][k] for k in ("X", "Y", "c")}
            out[f"{name}/loss"] = jax.vmap(model.loss, in_axes=(0, None))((W1, W2), batch)
        return out

    return init, step, observe


def train_balanced(groups: Sequence[Mapping[str, dict]], *, lr: float, record_at: np.ndarray,
                   seeds: Sequence[int], dtype: str = "float64", aligned: bool = False,
                   progress=None, label: str = "") -> list[tuple[dict, dict]]:
    """Gradient descent on named groups (:func:`balanced_group`, :func:`reversal_group`).

    ``groups`` is a list of B entries ``{name: group}`` with the same names and shapes (e.g. a
    sweep over the init scale); B > 1 runs as one vmapped program. Every seed draws Haar
    rotations U0, V0, R per group (``aligned``: U0, V0 = the task's singular vectors) shared
    by the group's lambdas; one compiled program runs all groups and seeds.

    Returns:
        per entry (records, w0): ``records[f"{name}/W1"]``, ``/W2`` (seed, record, lam, ...)
        and ``/loss`` (seed, record, lam); ``w0[name]`` = float64 (W1, W2) at t = 0 (seed,
        lam, ...), the weights that start the closed forms.
    """
    specs = tuple((name, g["dims"], g["init"]) for name, g in groups[0].items())
    entries = [{"lr": jnp.asarray(lr), **{name: {k: v for k, v in g.items()
                                                 if k not in ("dims", "init")}
                                          for name, g in entry.items()}} for entry in groups]
    batched = len(entries) > 1
    args = jax.tree.map(lambda *x: jnp.stack(x), *entries) if batched else entries[0]
    init, step, observe = _balanced_programs(specs, dtype, aligned)
    rec = simulate(init, step, observe, seeds=seeds, record_at=record_at, args=args,
                   progress=progress, label=label, batched=batched)
    out = []
    for b in range(len(entries)):
        pick = (lambda x, b=b: np.asarray(x)[b]) if batched else np.asarray
        values = {k: pick(v) for k, v in rec.values.items()}
        w0 = {name: tuple(pick(w) for w in rec.final["w0"][name]) for name, *_ in specs}
        out.append((values, w0))
    return out


def closed_form(W1, W2, sigma, times) -> tuple[dict, dict | None]:
    """The exact QQ^T blocks from initial weights (batch axes allowed), and B2 - B3.

    B3 (:func:`.balanced.qqt_propagate`) for every network; B2 (:func:`.balanced.qqt_diagonal`)
    replaces it where it applies (N_i = N_h = N_o, cond(B) <= 1e12). Returns (theory, diff):
    ``diff`` = B2 - B3 per block (NaN where B2 does not apply), None for unequal dims.
    """
    b3 = balanced.qqt_propagate(W1, W2, sigma, times)
    n_i, n_h, n_o = W1.shape[-1], W1.shape[-2], W2.shape[-2]
    if not n_i == n_h == n_o:
        return b3, None
    lam = balanced.lambda_of(W1, W2)
    ok = balanced.b_condition(W1, W2, sigma, lam) <= balanced.COND_MAX
    theory, diff = {}, {}
    b2 = balanced.qqt_diagonal(W1[ok], W2[ok], sigma, times, lam=lam[ok]) if ok.any() else None
    for key, value in b3.items():
        theory[key] = value.copy()
        diff[key] = np.full(value.shape, np.nan)
        if b2 is not None:
            theory[key][ok] = b2[key]
            diff[key][ok] = b2[key] - value[ok]
    return theory, diff


def _max_abs(a, axes=(-2, -1)):
    return np.max(np.abs(a), axis=axes)


def _imbalance(W1, W2, lams):
    """max |W2^T W2 - W1 W1^T - lambda I| for weights (seed, lam, time, ...)."""
    gap = np.swapaxes(W2, -1, -2) @ W2 - W1 @ np.swapaxes(W1, -1, -2)
    return _max_abs(gap - np.asarray(lams)[None, :, None, None, None] * np.eye(W1.shape[-2]))


BLOCKS = {"W2W1": "function", "W1tW1": "rep_in", "W2W2t": "rep_out"}


def compare_balanced(task: Task, records: Mapping, name: str, w0, lams, times,
                     flow=None) -> dict[str, np.ndarray]:
    """One group's simulation beside its closed form, all arrays (seed, lam, time, ...).

    Returns ``{block}_sim``, ``{block}_theory`` and ``{block}_error`` (max abs over entries)
    for the blocks function = W2 W1, rep_in = W1^T W1, rep_out = W2 W2^T; ``loss_sim`` and
    ``loss_theory``; ``balance_error_sim``; with N_i = N_h = N_o, ``b2_b3_error`` (seed,
    lam); with ``flow`` = float64 gradient-flow weights (seed, lam, time, ...),
    ``theory_flow_error`` and ``balance_error_flow``.
    """
    W1_0, W2_0 = (np.asarray(w) for w in w0)
    sim = {k: np.moveaxis(np.asarray(v), 1, 2) for k, v in  # (seed, lam, time, ...)
           balanced.representations(records[f"{name}/W1"], records[f"{name}/W2"]).items()}
    theory, b2_b3 = closed_form(W1_0, W2_0, task.sigma_yx, times)
    out = {}
    for key, label in BLOCKS.items():
        out[f"{label}_sim"], out[f"{label}_theory"] = sim[key], theory[key]
        out[f"{label}_error"] = _max_abs(sim[key] - theory[key])
    out["loss_sim"] = np.moveaxis(records[f"{name}/loss"], 1, 2).astype(np.float64)
    out["loss_theory"] = (0.5 * np.sum((theory["W2W1"] - task.sigma_yx) ** 2, axis=(-2, -1))
                          + task.loss_offset)
    W1s, W2s = (np.moveaxis(records[f"{name}/{k}"], 1, 2) for k in ("W1", "W2"))
    out["balance_error_sim"] = _imbalance(W1s, W2s, lams)
    if b2_b3 is not None:
        out["b2_b3_error"] = np.max([_max_abs(v, (-3, -2, -1)) for v in b2_b3.values()], axis=0)
    if flow is not None:
        ref = {k: np.asarray(v) for k, v in balanced.representations(*flow).items()}
        out["theory_flow_error"] = np.max([_max_abs(theory[k] - ref[k]) for k in theory],
                                          axis=0)
        out["balance_error_flow"] = _imbalance(*flow, lams)
    return out


MATRIX_DIMS = {"function": ("out", "in"), "rep_in": ("in", "in2"), "rep_out": ("out", "out2")}
LONG_NAMES = {
    "function": "network function W₂W₁", "rep_in": "input-side representation W₁ᵀW₁",
    "rep_out": "output-side representation W₂W₂ᵀ", "loss": "loss ½‖W₂W₁ − Σ_yx‖²_F + const",
    "mode_strength": "mode strength ũ_αᵀW₂W₁ṽ_α", "rep_in_mode": "ṽ_αᵀW₁ᵀW₁ṽ_α",
    "rep_out_mode": "ũ_αᵀW₂W₂ᵀũ_α", "ntk_distance": "NTK kernel distance S(t) to t = 0",
    "rep_in_change": "relative change ‖R(t) − R(0)‖_F/‖R(0)‖_F of W₁ᵀW₁",
    "rep_out_change": "relative change ‖R(t) − R(0)‖_F/‖R(0)‖_F of W₂W₂ᵀ",
    "balance_error": "max |W₂ᵀW₂ − W₁W₁ᵀ − λI|",
    "theory_flow_error": "max |closed form − float64 gradient flow| over all blocks",
    "b2_b3_error": "max |diagonal form B2 − factor propagation B3| over t and blocks",
}
SOURCES = {"sim": "gradient descent", "theory": "closed form", "flow": "float64 gradient flow",
           "error": "max |gradient descent − closed form| over entries"}


def long_name(name: str, names: Mapping[str, str] = LONG_NAMES) -> str:
    """The long_name of a variable ``quantity`` or ``quantity_source`` (sim, theory, ...)."""
    stem, _, src = name.rpartition("_")
    return names.get(name) or f"{names[stem]} ({SOURCES[src]})"


def balanced_dataset(task: Task, records: Mapping, name: str, w0, lams, times, *, flow=None,
                     lam_dim: str = "lam", suffix: str = "", store_matrices: bool = True,
                     t_limit: float | None = None) -> xr.Dataset:
    """:func:`compare_balanced` and :func:`.observables.trajectory_summary` (of both sim and
    theory) as a Dataset with dims (seed, ``lam_dim``, time, mode or matrix indices + suffix)
    and a long_name on every variable; matrices only if ``store_matrices``; with ``t_limit``,
    also :func:`limits`."""
    out = compare_balanced(task, records, name, w0, lams, times, flow)
    extra = {} if t_limit is None else limits(task, w0, lams, t_limit,
                                             out["rep_in_sim"][:, :, -1],
                                             out["rep_out_sim"][:, :, -1])
    for src in ("sim", "theory"):
        blocks = {k: out[f"{label}_{src}"] for k, label in BLOCKS.items()}
        summary = observables.trajectory_summary(blocks, task.U, task.V, task.X)
        out.update({f"{k}_{src}": v for k, v in summary.items()})
    variables = {}
    for key, value in out.items():
        block, _, src = key.rpartition("_")
        dims = ("seed", lam_dim) + (("time",) if key != "b2_b3_error" else ())
        if block in MATRIX_DIMS and src != "error":
            if not store_matrices:
                continue
            dims += tuple(d + suffix for d in MATRIX_DIMS[block])
        elif np.ndim(value) == 4:
            dims += ("mode",)
        variables[key] = xr.Variable(dims, value, {"long_name": long_name(key)})
    return xr.Dataset({**variables, **extra}, coords={lam_dim: list(lams)})


def limits(task: Task, w0, lams, t_limit: float, rep_in_end, rep_out_end) -> dict:
    """The closed form at ``t_limit`` against its t -> infinity limit (B6), and the final
    representations' eigenvalues (seed, lam, ...) against Lambda -+ lambda/2.

    Returns xarray Variables ``limit_error`` (seed, lam), ``rep_in_eig_sim``,
    ``rep_out_eig_sim`` (seed, lam, mode) and ``rep_in_eig_limit``, ``rep_out_eig_limit``
    (lam, mode), each with its long_name.
    """
    late = theory.qqt_trajectory(*w0, task.sigma_yx, [t_limit])
    err = []
    for i, lam in enumerate(lams):
        limit = theory.final_representations(task.sigma_yx, lam)
        err.append(np.max([_max_abs(late[k][:, i, 0] - limit[k]) for k in limit], axis=0))
    out = {"limit_error": xr.Variable(("seed", "lam"), np.stack(err, axis=1), {
        "long_name": "max |closed form at t_limit − its t → ∞ limit|"})}
    r = len(task.s)
    minus, plus = model.split_squares(task.s[None, :] ** 2, np.asarray(lams)[:, None])
    for key, end, limit, what, sign in (("rep_in", rep_in_end, minus, "W₁ᵀW₁", "−"),
                                        ("rep_out", rep_out_end, plus, "W₂W₂ᵀ", "+")):
        eig = np.linalg.eigvalsh(end)[..., ::-1]
        out[f"{key}_eig_sim"] = xr.Variable(("seed", "lam", "mode"), eig[..., :r], {
            "long_name": f"eigenvalues of {what} at the end (gradient descent)"})
        out[f"{key}_eig_limit"] = xr.Variable(("lam", "mode"), np.asarray(limit), {
            "long_name": f"eigenvalues of {what} as t → ∞: Λ {sign} λ/2"})
    return out


def reversal(s: float, lams, records: Mapping, w0, times) -> xr.Dataset:
    """Reversal (:func:`reversal_group`): closed form B4, factor propagation B3 and gradient
    descent (first seed) of a(t) after the target flips from s to -s, dims (lam_reversal,
    time)."""
    W1_0, W2_0 = (np.asarray(w)[0] for w in w0)
    values = {"theory": np.asarray(theory.mode_trajectory(-s, s, times, np.asarray(lams))).T,
              "factor": theory.qqt_propagate(W1_0, W2_0, [[-s]], times)["W2W1"][..., 0, 0],
              "sim": (records["reversal/W2"][0] @ records["reversal/W1"][0])[..., 0, 0].T}
    what = {"theory": "closed form B4", "factor": "factor propagation B3",
            "sim": "gradient descent, first seed"}
    return xr.Dataset({f"reversal_{k}": xr.Variable(("lam_reversal", "time"), v, {
        "long_name": f"mode strength a(t) after the target flips from s to −s ({what[k]})"})
        for k, v in values.items()}, coords={"lam_reversal": list(lams)})


def sweep_dataset(tasks: Mapping[str, Task], records: Mapping, w0: Mapping, times, steps, seeds,
                  *, lams, unequal_lams=(), reversal_s: float = 1.0, reversal_lams=(),
                  flow_check: bool = True, store_matrices: bool = True,
                  t_limit: float | None = None) -> xr.Dataset:
    """One lambda sweep's Dataset from :func:`train_balanced`'s records and initial weights:
    the group ``main`` (:func:`balanced_dataset`, dims lam and mode), ``unequal`` if in
    ``tasks`` (variables ``unequal_*``, dim lam_unequal) and ``reversal`` if ``reversal_lams``
    (:func:`reversal`); with ``flow_check``, float64 gradient flow from the same weights."""
    flows = {}
    if flow_check:
        nets = [(*w0[n], tasks[n].sigma_yx) for n in tasks]
        flows = dict(zip(tasks, theory.gradient_flow_many(nets, times)))
    ds = balanced_dataset(tasks["main"], records, "main", w0["main"], lams, times,
                          flow=flows.get("main"), store_matrices=store_matrices,
                          t_limit=t_limit)
    if "unequal" in tasks:
        unequal = balanced_dataset(
            tasks["unequal"], records, "unequal", w0["unequal"], unequal_lams, times,
            flow=flows.get("unequal"), lam_dim="lam_unequal", suffix="_u",
            store_matrices=store_matrices).drop_dims("mode")
        for name in unequal.data_vars:
            unequal[name].attrs["long_name"] = "unequal widths: " + unequal[name].attrs["long_name"]
        ds = ds.merge(unequal.rename({v: f"unequal_{v}" for v in unequal.data_vars}))
    if reversal_lams:
        ds = ds.merge(reversal(reversal_s, reversal_lams, records, w0["reversal"], times))
    ds = ds.assign_coords(seed=list(seeds), time=times, step=("time", steps),
                          mode=np.arange(1, len(tasks["main"].s) + 1), s=("mode", tasks["main"].s))
    return observables.label(ds)
