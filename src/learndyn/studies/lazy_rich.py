r"""Study ``lazy_rich``: exact learning dynamics of lambda-balanced two-layer linear networks.

Dominé, Anguita, Proca, Braun, Kunin, Mediano & Saxe, *From Lazy to Rich: Exact Learning
Dynamics in Deep Linear Networks*, ICLR 2025. A two-layer linear network whose layers start
lambda-balanced, :math:`W_2^\top W_2 - W_1 W_1^\top = \lambda I`, has a closed-form network
function :math:`W_2W_1` and representations :math:`W_1^\top W_1`, :math:`W_2W_2^\top` for all
time (:mod:`learndyn.deep_linear.balanced`); lambda moves learning from rich (lambda = 0, small
weights: sigmoidal loss, moving kernel, task-specific representations) to lazy (|lambda| large:
exponential loss, frozen NTK, a large task-agnostic layer).

Gradient descent (:func:`learndyn.deep_linear.simulate.train_balanced`; seeds and lambdas
vmapped) starts from the float64 weights that start the closed forms, in three groups: the
sweep (N_i = N_h = N_o = ``n``, Haar-random rotations, product singular values ``a0``), unequal
widths ``unequal_dims`` (factor propagation B3), and reversal (a 1-1-1 net trained to a = s
whose target flips to -s; closed form B4). Float64 gradient flow is the numerical reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from ..core.config import Config, ConfigError, param
from ..core.engine import record_steps
from ..core.study import Check, Preset, Progress, Study
from ..deep_linear import data, model, observables, plots, simulate

__all__ = ["STUDY", "LazyRichConfig", "checks", "figures", "run", "run_batch"]


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

    @property
    def s1(self) -> float:
        """Largest singular value of the sweep's task."""
        return float(max(self.singular_values))

    @property
    def s1_unequal(self) -> float:
        """Largest singular value of the unequal sweep's task."""
        return float(max(self.unequal_singular_values))

    @property
    def lazy_lam(self) -> float:
        """The lambda of largest |lambda| (the positive one on a tie): the lazy end."""
        return float(max(self.lams, key=lambda lam: (abs(lam), lam)))


def make_tasks(config: LazyRichConfig) -> dict[str, data.Task]:
    """The sweep's task (and the unequal sweep's), toy tasks with X = I, c = 1."""
    tasks = {"main": data.toy_task(config.n, config.n, config.singular_values,
                                   seed=config.data_seed)}
    if config.unequal_lams:
        n_i, _, n_o = config.unequal_dims
        tasks["unequal"] = data.toy_task(n_i, n_o, config.unequal_singular_values,
                                         seed=config.data_seed + 1)
    return tasks


# ---- run -----------------------------------------------------------------------------------
def run(config: LazyRichConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Simulate every group for all seeds and evaluate the closed forms from the same weights."""
    return run_batch([config], seeds=seeds, progress=progress)[0]


def run_batch(configs, *, seeds, progress: Progress | None = None) -> list[xr.Dataset]:
    """:func:`run` for configs differing only in ``a0`` and ``data_seed`` (one program)."""
    config = configs[0]
    steps = record_steps(config.num_steps, config.num_records, spacing="linear")
    times = steps * config.lr
    tasks = [make_tasks(c) for c in configs]
    groups = [simulate.sweep_groups(
        task, (c.n,) * 3, c.lams, c.a0, unequal_dims=c.unequal_dims, unequal_lams=c.unequal_lams,
        reversal_s=c.reversal_s, reversal_lams=c.reversal_lams) for c, task in zip(configs, tasks)]
    runs = simulate.train_balanced(groups, lr=config.lr, record_at=steps, seeds=seeds,
                                   dtype=config.dtype, aligned=config.aligned,
                                   progress=progress, label="gradient descent, all lambdas")
    return [simulate.sweep_dataset(
        task, rec, w0, times, steps, seeds, lams=c.lams, unequal_lams=c.unequal_lams,
        reversal_s=c.reversal_s, reversal_lams=c.reversal_lams, flow_check=c.flow_check,
        store_matrices=c.store_matrices, t_limit=c.t_limit)
        for c, task, (rec, w0) in zip(configs, tasks, runs)]


# ---- checks --------------------------------------------------------------------------------
def checks(ds: xr.Dataset, config: LazyRichConfig) -> list[Check]:
    """The paper's claims on this run, with their tolerances and why.

    Closed form vs float64 gradient flow (rtol 1e-11) <= 1e-8, the flow keeping the
    lambda-balance to 1e-9 (integration error only); B2 vs B3, two stable evaluations of one
    solution, <= 1e-9. Gradient descent vs closed form <= 2 eta s1 per block, balance drift
    <= 3 eta s1: GD is the Euler discretisation of the flow (an O(eta) error; it breaks the
    balance by eta^2 (W1 E^T E W1^T - W2^T E E^T W2) per step). Closed form at t_limit vs
    its t -> infinity limit <= 1e-8. +-lambda: loss and mode strengths equal to 1e-10
    (theory) and 1e-5 (float64 GD, whose balance drift breaks the symmetry at O(eta^2) per
    step), S(T) to 1e-8. The NTK distance S(T) falls strictly with |lambda| (theory and GD)
    and S(T; 0) >= 10 S(T; lazy end). At the lazy end (largest |lambda|) the large layer's
    representation changes by <= 10% and the small layer's by >= 90%; at lambda = 0 both by
    >= 90% (from O(a0) to O(s)). The rich loss accelerates >= 10x (a plateau, then drops),
    the lazy one <= 1.5x (exponential). Reversal: at lambda = 0 the closed form never crosses
    zero; for lambda != 0 it ends within 1e-8 of -s; B3 agrees with B4 to 1e-8 before
    round-off can leave the saddle (t <= 15/s); GD follows it within 2 eta s.
    """
    eta, s1, lams = config.lr, config.s1, np.asarray(config.lams)
    end = ds.isel(time=-1)
    out: list[Check] = []

    def add(test, id, name, value, threshold, claim):
        out.append((Check.at_most if test == "<=" else Check.at_least)(
            id, name, value, threshold, claim))

    if config.flow_check:
        add("<=", "closed_form_vs_flow", "closed form vs float64 gradient flow (max abs)",
            ds.theory_flow_error.max(), 1e-8, "W2W1, W1^T W1 and W2W2^T follow the exact solution")
        add("<=", "flow_balance", "gradient flow: lambda-balance error",
            ds.balance_error_flow.max(), 1e-9, "W2^T W2 - W1 W1^T = lambda I is conserved")
    if np.isfinite(ds.b2_b3_error.values).any():
        add("<=", "b2_vs_b3", "diagonal form B2 vs factor propagation B3",
            ds.b2_b3_error.max(), 1e-9, "the two stable evaluations of the solution agree")
    for name, label in (("function", "W2W1"), ("rep_in", "W1^T W1"), ("rep_out", "W2W2^T")):
        add("<=", f"gd_vs_closed_form_{name}", f"gradient descent vs closed form: {label} / "
            "(eta s1)", ds[f"{name}_error"].max() / (eta * s1), 2.0,
            "theory = simulation for the network function and both representations")
    add("<=", "gd_balance_drift", "gradient descent: lambda-balance drift / (eta s1)",
        ds.balance_error_sim.max() / (eta * s1), 3.0,
        "gradient descent keeps the lambda-balance up to its O(eta) discretisation")
    add("<=", "final_representations", "closed form at t_limit vs V(Lambda - lambda/2)V^T, "
        "U(Lambda + lambda/2)U^T", ds.limit_error.max(), 1e-8,
        "the final representations are the closed-form t -> infinity limits")
    if np.isin(-lams[lams > 0], lams).any():
        def mirror(*names, at=ds):
            return max(observables.mirror_difference(at[n].transpose("lam", ...).values, lams, 0)
                       for n in names)

        add("<=", "sign_symmetry_theory", "+-lambda: loss and mode strengths (theory)",
            mirror("loss_theory", "mode_strength_theory"), 1e-10,
            "the network function depends on lambda^2 only (equal dims)")
        if config.dtype == "float64":
            add("<=", "sign_symmetry_gd", "+-lambda: loss and mode strengths (float64 GD)",
                mirror("loss_sim", "mode_strength_sim"), 1e-5,
                "loss curves are identical for +lambda and -lambda")
        add("<=", "sign_symmetry_ntk", "+-lambda: NTK distance S(T) (theory)",
            mirror("ntk_distance_theory", at=end), 1e-8,
            "the NTK depends on lambda^2 only (equal dims)")
    lazy = config.lazy_lam
    for src in ("theory", "sim"):
        final = end[f"ntk_distance_{src}"].transpose("seed", "lam")
        if len(np.unique(np.abs(lams))) > 1:
            add("<=", f"ntk_falls_{src}", f"S(T): steps in |lambda| where it does not fall "
                f"({src})", observables.count_not_falling(final.values, lams), 0,
                "NTK movement falls monotonically as |lambda| grows")
        if 0.0 in lams and lazy != 0:
            ratio = final.sel(lam=0.0) / final.sel(lam=lams[np.abs(lams) == abs(lazy)]).max("lam")
            add(">=", f"ntk_rich_vs_lazy_{src}", f"S(T) at lambda = 0 / S(T) at |lambda| = "
                f"{abs(lazy):g} ({src})", ratio.min(), 10.0,
                "the kernel moves by orders of magnitude less when lazy")
    change = {k: end[f"{k}_change_sim"] for k in ("rep_in", "rep_out")}
    pos, neg = lams[lams > 0], lams[lams < 0]  # the lazy ends on either side
    for lam in ([pos.max()] if pos.size else []) + ([neg.min()] if neg.size else []):
        side, big, small = ("pos", "rep_out", "rep_in") if lam > 0 else ("neg", "rep_in",
                                                                          "rep_out")
        add("<=", f"lazy_{side}_{big}_frozen", f"lambda = {lam:g}: {big} relative change",
            change[big].sel(lam=lam).max(), 0.1,
            "lazy: the large layer's representation stays put (task-agnostic)")
        add(">=", f"lazy_{side}_{small}_learned", f"lambda = {lam:g}: {small} relative change",
            change[small].sel(lam=lam).min(), 0.9,
            "lazy: the small layer's representation still becomes task-specific")
    acc = observables.loss_acceleration(ds.time.values,
                                        ds.loss_sim.transpose("seed", "lam", "time").values)
    if 0.0 in lams:
        add(">=", "rich_reps_learned", "lambda = 0: smaller of the two representation changes",
            min(change["rep_in"].sel(lam=0.0).min(), change["rep_out"].sel(lam=0.0).min()), 0.9,
            "rich: both representations are learned from O(a0) to O(s)")
        add(">=", "rich_loss_sigmoidal", "lambda = 0: loss acceleration max(-dlnL/dt) / "
            "initial (least over seeds)", acc[:, lams == 0.0].min(), 10.0,
            "rich: sigmoidal loss, a plateau followed by fast drops")
    if lazy != 0:
        add("<=", "lazy_loss_exponential", f"|lambda| = {abs(lazy):g}: loss acceleration "
            "(largest over seeds)", acc[:, np.abs(lams) == abs(lazy)].max(), 1.5,
            "lazy: exponential loss, constant rate from the start")
    if config.unequal_lams:
        if config.flow_check:
            add("<=", "unequal_closed_form_vs_flow", "unequal dims: factor propagation B3 vs "
                "float64 gradient flow", ds.unequal_theory_flow_error.max(), 1e-8,
                "the closed form holds for unequal layer widths")
            add("<=", "unequal_flow_balance", "unequal dims: gradient flow lambda-balance error",
                ds.unequal_balance_error_flow.max(), 1e-9,
                "lambda-balance is conserved for unequal widths")
        err = max(float(ds[f"unequal_{k}_error"].max()) for k in ("function", "rep_in", "rep_out"))
        add("<=", "unequal_gd_vs_closed_form", "unequal dims: gradient descent vs closed form "
            "(all blocks) / (eta s1)", err / (eta * config.s1_unequal), 2.0,
            "theory = simulation for unequal layer widths")
    if config.reversal_lams:
        out += _reversal_checks(ds, config)
    return out


def _reversal_checks(ds: xr.Dataset, config: LazyRichConfig) -> list[Check]:
    s, lams, th = config.reversal_s, np.asarray(config.reversal_lams), ds.reversal_theory
    out = []
    if 0.0 in lams:
        out.append(Check.at_least(
            "reversal_stalls", "reversal, lambda = 0 (closed form): fraction of times with "
            "a(t) > 0", np.mean(th.sel(lam_reversal=0.0).values > 0), 1.0,
            "zero-balanced networks stall at the saddle and never reverse"))
    if np.any(lams != 0):
        final = th.sel(lam_reversal=lams[lams != 0]).isel(time=-1).values
        out.append(Check.at_most(
            "reversal_completes", f"reversal, lambda != 0 (closed form): |a(T) + s| at T = "
            f"{config.t_max:g}", np.max(np.abs(final + s)), 1e-8,
            "unbalanced networks escape the saddle and complete the reversal"))
    early = ds.time <= 15.0 / s
    out.append(Check.at_most(
        "reversal_b3_vs_b4", "reversal: factor propagation B3 vs closed form B4 (t <= 15/s)",
        np.abs(ds.reversal_factor - th).where(early).max(), 1e-8,
        "the matrix solution handles the singular (anti-aligned) start"))
    out.append(Check.at_most(
        "reversal_gd", "reversal: gradient descent vs closed form / (eta s)",
        np.abs(ds.reversal_sim - th).max() / (config.lr * s), 2.0,
        "gradient descent follows the reversal (and stalls at lambda = 0)"))
    return out


# ---- figures -------------------------------------------------------------------------------
def figures(ds: xr.Dataset, config: LazyRichConfig) -> dict:
    """Loss over lambda, NTK movement, representations, theory vs simulation, reversal
    (:mod:`learndyn.deep_linear.plots`)."""
    out = {"loss": plots.sweep_loss_figure(ds, config.lams, unequal_lams=config.unequal_lams,
                                     unequal_dims=config.unequal_dims),
           "ntk": plots.ntk_figure(ds, config.lams),
           "representations": plots.representations_figure(ds, config.lams),
           "theory_vs_sim": plots.projections_figure(ds, config.lams, config.singular_values,
                                              config.t_max, config.num_records)}
    if config.reversal_lams:
        out["reversal"] = plots.reversal_figure(ds, config.reversal_s, config.reversal_lams)
    return out


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
            cost="about 2 min on 2 CPU cores (95 s CPU)",
        ),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=("a0", "data_seed"),
    run_batch=run_batch,
)
