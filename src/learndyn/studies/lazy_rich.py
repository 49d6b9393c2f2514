"""Study ``lazy_rich``: exact learning dynamics of lambda-balanced two-layer linear networks.

Dominé, Anguita, Proca, Braun, Kunin, Mediano & Saxe, *From Lazy to Rich: Exact Learning
Dynamics in Deep Linear Networks*, ICLR 2025. A two-layer linear network whose layers start
lambda-balanced (W2^T W2 - W1 W1^T = lambda I) has closed-form network function W2 W1 and
representations W1^T W1, W2 W2^T for all time (:mod:`learndyn.deep_linear.balanced`); the
relative scale lambda moves learning from rich (lambda = 0, small weights: sigmoidal loss, moving
kernel, task-specific representations) to lazy (|lambda| large: exponential loss, frozen NTK, a
large task-agnostic layer).

The study trains, for every seed (vmapped) and every lambda (vmapped inside the state), by
full-batch gradient descent from the same initial weights that start the closed forms:
- the sweep: N_i = N_h = N_o = ``n``, Haar-random rotations, product singular values ``a0``;
- unequal dimensions (N_i, N_h, N_o) = ``unequal_dims`` (factor propagation B3);
- reversal: a 1-1-1 net trained to a = s whose target flips to -s (closed form B4).
A float64 gradient-flow integration (``flow_check``) is the numerical reference.
Figures and checks: :mod:`learndyn.deep_linear.lazy_rich_report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core.config import Config, ConfigError, param
from ..core.engine import record_steps, simulate
from ..core.study import Preset, Progress, Study
from ..deep_linear import balanced, data, model, observables
from ..deep_linear.lazy_rich_report import checks, figures

__all__ = ["STUDY", "LazyRichConfig", "run"]


@dataclass(frozen=True)
class LazyRichConfig(Config):
    n: int = param(4, "sweep: N_i = N_h = N_o", gt=0)
    singular_values: tuple[float, ...] = param(
        (3.0, 2.0, 1.0, 0.5), "sweep: task singular values s_alpha (positive, decreasing)", gt=0)
    data_seed: int = param(0, "seed of the tasks (Haar-random singular vectors)", ge=0)
    a0: float = param(0.01, "initial product singular value of every mode", gt=0)
    lams: tuple[float, ...] = param((-10.0, -2.0, -0.5, 0.0, 0.5, 2.0, 10.0),
                                    "sweep: lambda values (W2^T W2 - W1 W1^T = lambda I)")
    aligned: bool = param(False, "U0, V0 = the task's singular vectors (else Haar-random)")
    lr: float = param(1e-3, "learning rate eta; time t = step * eta (tau = 1)", gt=0)
    t_max: float = param(15.0, "training time (units of tau)", gt=0)
    num_records: int = param(151, "number of recorded times (linearly spaced)", ge=2)
    dtype: Literal["float32", "float64"] = param("float64", "simulation precision")
    t_limit: float = param(60.0, "time at which the closed form is compared with its t -> inf "
                                 "limit", gt=0)
    flow_check: bool = param(True, "integrate float64 gradient flow as a reference")
    unequal_dims: tuple[int, ...] = param((3, 4, 5), "(N_i, N_h, N_o) of the unequal sweep", gt=0)
    unequal_singular_values: tuple[float, ...] = param((3.0, 2.0, 1.0),
                                                       "unequal sweep: task singular values", gt=0)
    unequal_lams: tuple[float, ...] = param((0.5, 2.0), "unequal sweep: lambdas (empty: none)",
                                    empty_ok=True)
    reversal_s: float = param(1.0, "reversal: mode strength s (trained to s, target flips)", gt=0)
    reversal_lams: tuple[float, ...] = param((0.0, 0.5, 1.0, 2.0),
                                             "reversal: lambdas (empty: none)", empty_ok=True)
    store_matrices: bool = param(True, "store the matrices over time (else errors and scalars)")

    def validate(self) -> None:
        for name in ("lams", "unequal_lams", "reversal_lams"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ConfigError(f"config field '{name}': values must be distinct")
        if not self.lams:
            raise ConfigError("config field 'lams': give at least one lambda")
        if len(self.singular_values) > self.n:
            raise ConfigError(f"config field 'singular_values': {len(self.singular_values)} modes "
                              f"do not fit in N = {self.n}")
        if self.unequal_lams:
            if len(self.unequal_dims) != 3:
                raise ConfigError("config field 'unequal_dims': give (N_i, N_h, N_o)")
            n_i, n_h, n_o = self.unequal_dims
            if len(self.unequal_singular_values) > min(n_i, n_o):
                raise ConfigError("config field 'unequal_singular_values': more modes than "
                                  f"min(N_i, N_o) = {min(n_i, n_o)}")
            for lam in self.unequal_lams:
                try:
                    model.check_lambda_dims(n_i, n_h, n_o, lam)
                except ConfigError as err:
                    raise ConfigError(f"config field 'unequal_lams': {err}") from None
        steps = self.num_steps
        if steps < 1:
            raise ConfigError("config field 't_max': shorter than one step of size lr")
        if self.num_records > steps + 1:
            raise ConfigError(f"config field 'num_records': at most {steps + 1} "
                              f"(= t_max/lr + 1), got {self.num_records}")

    @property
    def num_steps(self) -> int:
        return int(round(self.t_max / self.lr))


def make_tasks(config: LazyRichConfig) -> dict[str, data.Task]:
    """The sweep's task (and the unequal sweep's), toy tasks with X = I, c = 1."""
    tasks = {"main": data.toy_task(config.n, config.n, config.singular_values,
                                   seed=config.data_seed)}
    if config.unequal_lams:
        n_i, _, n_o = config.unequal_dims
        tasks["unequal"] = data.toy_task(n_i, n_o, config.unequal_singular_values,
                                         seed=config.data_seed + 1)
    return tasks


# ---- simulation ---------------------------------------------------------------------------
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
def _trainer(groups: tuple, dtype: str, aligned: bool):
    """(init, step, observe) for the groups ((name, dims), ...); cached for re-use."""
    dt = jnp.dtype(dtype)

    def init(key, args):
        w0 = {}
        for (name, dims), k in zip(groups, jax.random.split(key, len(groups))):
            g = args[name]
            if name == "reversal":  # trained to a = s: U0 = V0 = R = 1
                w0[name] = jax.vmap(partial(_unit_init, k, dims, g["a"]))(g["lams"])
            else:
                w0[name] = _group_init(k, dims, g, aligned=aligned, saddle_free=name == "main")
        return {"w": jax.tree.map(lambda x: x.astype(dt), w0), "w0": w0}

    def step(state, key, t, args):
        lr = args["lr"].astype(dt)
        new = {}
        for name, _ in groups:
            batch = {k: args[name][k] for k in ("X", "Y", "c")}

            def gd(w, batch=batch):
                grads = jax.grad(model.loss)(w, batch)
                return jax.tree.map(lambda p, q: p - lr * q, w, grads)

            new[name] = jax.vmap(gd)(state["w"][name])
        return {"w": new, "w0": state["w0"]}

    def observe(state, args):
        out = {}
        for name, _ in groups:
            W1, W2 = state["w"][name]
            out[f"{name}/W1"], out[f"{name}/W2"] = W1.astype(jnp.float64), W2.astype(jnp.float64)
            batch = {k: args[name][k] for k in ("X", "Y", "c")}
            out[f"{name}/loss"] = jax.vmap(model.loss, in_axes=(0, None))((W1, W2), batch)
        return out

    return init, step, observe


def _groups(config: LazyRichConfig, tasks) -> tuple[tuple, dict]:
    """Static group specs and their args (data, lambdas, product singular values)."""
    specs, args = [], {"lr": jnp.asarray(config.lr)}
    for name, task in tasks.items():
        dims = ((config.n,) * 3 if name == "main" else tuple(config.unequal_dims))
        lams = config.lams if name == "main" else config.unequal_lams
        U, _, Vt = np.linalg.svd(task.sigma_yx)
        specs.append((name, dims))
        args[name] = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in dict(
            X=task.X, Y=task.Y, c=task.c, sigma=task.sigma_yx, U=U, V=Vt.T, lams=lams,
            a=config.a0).items()}
    if config.reversal_lams:
        s = config.reversal_s
        specs.append(("reversal", (1, 1, 1)))
        args["reversal"] = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in dict(
            X=[[1.0]], Y=[[-s]], c=1.0, lams=config.reversal_lams, a=s).items()}
    return tuple(specs), args


# ---- theory -------------------------------------------------------------------------------
def _closed_form(W1, W2, sigma, times):
    """B3 for every network; B2 where it applies (equal dims, cond(B) <= 1e12), NaN elsewhere.

    Returns (theory, b2_minus_b3): the theory uses B2 where available, else B3.
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


def _blocks_of(W1, W2):
    return {k: np.asarray(v) for k, v in balanced.representations(W1, W2).items()}


def _group_dataset(name, task, rec, w0, times, config, lam_dim, flow=None) -> dict:
    """Variables of one sweep group: sim, theory, errors (dims seed, lam, time, ...)."""
    W1_0, W2_0 = (np.asarray(w) for w in w0)
    sim = _blocks_of(rec[f"{name}/W1"], rec[f"{name}/W2"])  # (seed, time, lam, ...)
    sim = {k: np.moveaxis(v, 1, 2) for k, v in sim.items()}  # (seed, lam, time, ...)
    theory, b2_b3 = _closed_form(W1_0, W2_0, task.sigma_yx, times)
    lams = np.asarray(config.lams if name == "main" else config.unequal_lams)
    pre = "" if name == "main" else "unequal_"
    dims_t = ("seed", lam_dim, "time")
    mat = {"W2W1": ("out", "in"), "W1tW1": ("in", "in2"), "W2W2t": ("out", "out2")}
    if name != "main":
        mat = {k: tuple(f"{d}_u" for d in v) for k, v in mat.items()}
    short = {"W2W1": "function", "W1tW1": "rep_in", "W2W2t": "rep_out"}
    out = {}
    for key, label in short.items():
        if config.store_matrices:
            out[f"{pre}{label}_sim"] = (dims_t + mat[key], sim[key])
            out[f"{pre}{label}_theory"] = (dims_t + mat[key], theory[key])
        out[f"{pre}{label}_error"] = (dims_t, _max_abs(sim[key] - theory[key]))
    loss_th = 0.5 * np.sum((theory["W2W1"] - task.sigma_yx) ** 2, axis=(-2, -1)) + task.loss_offset
    out[f"{pre}loss_sim"] = (dims_t, np.moveaxis(rec[f"{name}/loss"], 1, 2).astype(np.float64))
    out[f"{pre}loss_theory"] = (dims_t, loss_th)
    W1s, W2s = (np.moveaxis(rec[f"{name}/{k}"], 1, 2) for k in ("W1", "W2"))
    n_h = W1s.shape[-2]
    imbalance = np.swapaxes(W2s, -1, -2) @ W2s - W1s @ np.swapaxes(W1s, -1, -2)
    out[f"{pre}balance_error_sim"] = (dims_t, _max_abs(
        imbalance - lams[None, :, None, None, None] * np.eye(n_h)))
    if b2_b3 is not None:
        out["b2_b3_error"] = (("seed", lam_dim), np.max(
            [_max_abs(v, (-3, -2, -1)) for v in b2_b3.values()], axis=0))
    if flow is not None:
        ref = _blocks_of(*flow)
        out[f"{pre}theory_flow_error"] = (dims_t, np.max(
            [_max_abs(theory[k] - ref[k]) for k in theory], axis=0))
        f1, f2 = flow
        imbalance = np.swapaxes(f2, -1, -2) @ f2 - f1 @ np.swapaxes(f1, -1, -2)
        out[f"{pre}balance_error_flow"] = (dims_t, _max_abs(
            imbalance - lams[None, :, None, None, None] * np.eye(n_h)))
    if name == "main":
        out.update(_main_observables(task, sim, theory, W1_0, W2_0, config))
    return out


def _main_observables(task, sim, theory, W1_0, W2_0, config) -> dict:
    """Mode strengths, NTK movement, representation change; closed form at t_limit vs B6."""
    dims_t = ("seed", "lam", "time")
    out = {}
    for src, blocks in (("sim", sim), ("theory", theory)):
        u = np.einsum("or,...oi,ir->...r", task.U, blocks["W2W1"], task.V)
        out[f"mode_strength_{src}"] = (dims_t + ("mode",), u)
        r_in, r_out = blocks["W1tW1"], blocks["W2W2t"]
        out[f"ntk_distance_{src}"] = (dims_t, observables.ntk_distance(
            r_in[:, :, :1], r_out[:, :, :1], r_in, r_out, task.X))
        out[f"rep_in_change_{src}"] = (dims_t, observables.relative_change(r_in, r_in[:, :, :1]))
        out[f"rep_out_change_{src}"] = (dims_t, observables.relative_change(
            r_out, r_out[:, :, :1]))
    late = balanced.qqt_trajectory(W1_0, W2_0, task.sigma_yx, [config.t_limit])
    err = []
    for lam_i, lam in enumerate(config.lams):
        limit = balanced.final_representations(task.sigma_yx, lam)
        err.append(np.max([_max_abs(late[k][:, lam_i, 0] - limit[k]) for k in limit], axis=0))
    out["limit_error"] = (("seed", "lam"), np.stack(err, axis=1))
    eig = {k: np.linalg.eigvalsh(sim[k][:, :, -1])[..., ::-1] for k in ("W1tW1", "W2W2t")}
    out["rep_in_eig_sim"] = (("seed", "lam", "mode"), eig["W1tW1"][..., : len(task.s)])
    out["rep_out_eig_sim"] = (("seed", "lam", "mode"), eig["W2W2t"][..., : len(task.s)])
    minus, plus = model.split_squares(task.s[None, :] ** 2,
                                         np.asarray(config.lams)[:, None])
    out["rep_in_eig_limit"] = (("lam", "mode"), np.asarray(minus))
    out["rep_out_eig_limit"] = (("lam", "mode"), np.asarray(plus))
    return out


def _reversal(config, rec, final_w0, times) -> dict:
    """Reversal: closed form B4, factor propagation B3 and gradient descent (first seed)."""
    s, lams = config.reversal_s, np.asarray(config.reversal_lams)
    theory = np.asarray(balanced.mode_trajectory(-s, s, times, lams)).T  # (lam, time)
    W1_0, W2_0 = (np.asarray(w)[0] for w in final_w0)
    factor = balanced.qqt_propagate(W1_0, W2_0, [[-s]], times)["W2W1"][..., 0, 0]
    W1, W2 = rec["reversal/W1"][0], rec["reversal/W2"][0]  # (time, lam, 1, 1)
    sim = (W2 @ W1)[..., 0, 0].T
    dims = ("lam_reversal", "time")
    return {"reversal_theory": (dims, theory), "reversal_factor": (dims, factor),
            "reversal_sim": (dims, sim)}


def run(config: LazyRichConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Simulate every group for all seeds and evaluate the closed forms from the same weights."""
    tasks = make_tasks(config)
    steps = record_steps(config.num_steps, config.num_records, spacing="linear")
    times = steps * config.lr
    specs, args = _groups(config, tasks)
    init, step, observe = _trainer(specs, config.dtype, config.aligned)
    rec = simulate(init, step, observe, seeds=seeds, record_at=steps, args=args,
                   progress=progress, label="gradient descent, all lambdas")
    w0 = {name: tuple(np.asarray(w) for w in rec.final["w0"][name]) for name, _ in specs}
    values = rec.values
    flows = {}
    if config.flow_check:
        names = list(tasks)
        nets = [(*w0[n], tasks[n].sigma_yx) for n in names]
        flows = dict(zip(names, balanced.gradient_flow_many(nets, times)))
    variables = _group_dataset("main", tasks["main"], values, w0["main"], times, config, "lam",
                               flows.get("main"))
    if "unequal" in tasks:
        variables.update(_group_dataset("unequal", tasks["unequal"], values, w0["unequal"],
                                        times, config, "lam_unequal", flows.get("unequal")))
    if config.reversal_lams:
        variables.update(_reversal(config, values, w0["reversal"], times))
    main = tasks["main"]
    coords = {
        "seed": list(seeds),
        "lam": list(config.lams),
        "time": times,
        "step": ("time", steps),
        "mode": np.arange(1, len(main.s) + 1),
        "s": ("mode", main.s),
    }
    if "unequal" in tasks:
        coords["lam_unequal"] = list(config.unequal_lams)
    if config.reversal_lams:
        coords["lam_reversal"] = list(config.reversal_lams)
    ds = xr.Dataset(variables, coords=coords)
    ds["time"].attrs["units"] = "tau"
    ds.attrs["s1"] = float(main.s[0])
    ds.attrs["sim_dtype"] = config.dtype
    if "unequal" in tasks:
        ds.attrs["s1_unequal"] = float(tasks["unequal"].s[0])
    return ds


def _paper_lams() -> tuple[float, ...]:
    k = np.linspace(-2.0, np.log10(50.0), 20)
    values = np.concatenate([-(10.0**k)[::-1], [0.0], 10.0**k])
    return tuple(float(f"{v:.6g}") for v in values)


STUDY = Study(
    name="lazy_rich",
    claim="lambda-balanced two-layer linear nets follow exact closed forms for their function, "
          "representations and NTK; growing |lambda| turns sigmoidal, feature-learning (rich) "
          "dynamics into exponential, kernel-like (lazy) ones.",
    paper="Domine, Anguita, Proca, Braun, Kunin, Mediano & Saxe, From Lazy to Rich: Exact "
          "Learning Dynamics in Deep Linear Networks, ICLR 2025",
    config=LazyRichConfig,
    presets={
        "quick": Preset(seeds=2, doc="N = 4, s = (3, 2, 1, 0.5), 7 lambdas in [-10, 10]; "
                                     "(3, 4, 5) unequal dims; 1-1-1 reversal"),
        "paper": Preset(
            seeds=8,
            values=dict(n=8, singular_values=(4.0, 3.0, 2.5, 2.0, 1.5, 1.0, 0.75, 0.5),
                        lams=_paper_lams(), lr=1e-4, t_max=20.0, num_records=201,
                        store_matrices=False),
            doc="N = 8, lambda in {0} U {+-10^k, k in [-2, log10 50]} (41 values), eta = 1e-4",
        ),
    },
    run=run,
    figures=figures,
    checks=checks,
)
