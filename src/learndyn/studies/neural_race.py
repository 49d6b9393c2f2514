r"""Study ``neural_race``: the routing network's exact reduced dynamics against gradient descent.

Saxe, Sodhani & Lewallen, *The Neural Race Reduction*, ICML 2022 (section 5 and the authors'
solution-verification notebook). M = 7 input and 7 output domains share one hidden pathway;
each input domain is trained with K = 4 output domains. The routing network is built as a
generic GDLN (:mod:`.data`) and its per-mode dynamics come from the generic reduction
(:func:`learndyn.gated_linear.theory.reduce`); for the symmetric routing case they collapse to

.. math:: \dot b_1 = K b_2 b_3 (s - p),\quad \dot b_2 = MK b_1 b_3 (s - p),\quad
          \dot b_3 = K b_1 b_2 (s - p),\qquad p = b_1 b_2 b_3,

with time :math:`t = \text{epoch}\cdot\eta\cdot 2/(P N_o)`. The shared layer sits on all MK
trained pathways and every input or output layer on K of them: the shared layer learns M times
faster in squared norm (conserved :math:`b_2^2 - M b_1^2`), and learning speed is proportional
to K (:math:`t \to Kt`). The study runs, vmapped over seeds:

- decoupled (aligned) init b0 at the learning rate lr (and lr/k for ``lr_divisors``);
- random orthogonal init of gain sigma0;
- decoupled init for every K in ``ks`` (output offsets 0..K-1), run to the same K t;

and on the theory side the discrete reduced map (one Euler step per epoch), the reduced flow,
its implicit quadrature solution and fixed point, and the minimal race between a shared and a
private path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from ..core.config import Config, ConfigError, param
from ..core.engine import record_steps
from ..core.study import Check, Preset, Progress, Study
from ..gated_linear import data, observables, plots, simulate, theory

__all__ = ["STUDY", "NeuralRaceConfig", "checks", "figures", "run", "run_batch"]

@dataclass(frozen=True)
class NeuralRaceConfig(Config):
    M: int = param(7, "number of input and of output domains", ge=2, le=16)
    offsets: tuple[int, ...] = param(
        (-1, 0, 1, 2), "input domain i is trained with outputs (i + o) mod M (K = count)")
    n_hidden: int = param(64, "width of the two hidden layers (shared pathway)", ge=4)
    b0: float = param(0.08, "decoupled init: singular value of every layer on every mode", gt=0)
    sigma0: float = param(0.2, "random init: gain of the orthogonal weights", gt=0)
    lr: float = param(0.02, "learning rate eta on the loss sum_ij ||W_ij - Y^T||^2/(P N_o)",
                      gt=0)
    epochs: int = param(500, "epochs (full-batch steps) at lr", ge=10)
    lr_divisors: tuple[int, ...] = param(
        (1,), "decoupled runs at lr/k for each k (k times more epochs), flow comparison", ge=1)
    ks: tuple[int, ...] = param((1, 2, 4), "K-scan: pathways per domain (each divides max)",
                                ge=1)
    race_n: int = param(4, "minimal race: number of contexts n", ge=1)
    race_u0: float = param(1e-6, "minimal race: initial shared and private products", gt=0)
    num_records: int = param(126, "recorded epochs (linearly spaced)", ge=10)
    dtype: Literal["float32", "float64"] = param("float64", "simulation precision")

    def validate(self) -> None:
        if len(set(np.mod(self.offsets, self.M))) != len(self.offsets) or not self.offsets:
            raise ConfigError("config field 'offsets': must be distinct modulo M and non-empty")
        if max(self.ks) > self.M or len(set(self.ks)) != len(self.ks):
            raise ConfigError(f"config field 'ks': must be distinct and at most M = {self.M}")
        if any(max(self.ks) % k for k in self.ks):
            raise ConfigError(f"config field 'ks': every K must divide max(ks) = {max(self.ks)}")
        if self.num_records > self.epochs + 1:
            raise ConfigError(f"config field 'num_records': at most epochs + 1 = "
                              f"{self.epochs + 1}, got {self.num_records}")
        if 1 not in self.lr_divisors:
            raise ConfigError("config field 'lr_divisors': must contain 1 (the main run)")


# ---- run ------------------------------------------------------------------------------------
#: fields that keep every array shape: a sweep over them runs as one vmapped program
BATCH_FIELDS = ("b0", "sigma0", "lr", "race_u0")


def run(config: NeuralRaceConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Simulate decoupled, random and K-scan routing networks and evaluate the reduction."""
    return run_batch([config], seeds=seeds, progress=progress)[0]


def run_batch(configs, *, seeds, progress: Progress | None = None) -> list[xr.Dataset]:
    """:func:`run` for configs differing only in :data:`BATCH_FIELDS`: every simulation of
    all configs runs as one vmapped batch (decoupled and random init of each config)."""
    config, n = configs[0], len(configs)
    task = data.routing_task(config.M, config.offsets, n_hidden=config.n_hidden)
    red = theory.reduce(task.net, task.data)
    steps = record_steps(config.epochs, config.num_records)
    init = dict(kinds=("decoupled", "random") * n,
                b0=[x for c in configs for x in (c.b0, c.b0)],
                sigma0=[x for c in configs for x in (c.sigma0, c.sigma0)], dtype=config.dtype,
                seeds=list(seeds), progress=progress)

    def lrs(k):  # one learning rate per batch entry
        return [x for c in configs for x in (c.lr / k, c.lr / k)]

    # decoupled and random init at lr (and decoupled at lr/k); K-scan: offsets 0..K-1 at lr, run
    # to the same K t, in batches of one shape, so the compiled program is re-used
    sims = [simulate.simulate_routing(task, red, lr=lrs(k), steps=steps * k,
                                      label=f"decoupled and random init, lr/{k}", **init)
            for k in config.lr_divisors]
    kscan = []
    for kk in config.ks:
        task_k = data.routing_task(config.M, tuple(range(kk)), n_hidden=config.n_hidden,
                                   num_samples=task.data.num_samples)
        values, _ = simulate.simulate_routing(
            task_k, theory.reduce(task_k.net, task_k.data), lr=lrs(1),
            steps=steps * (max(config.ks) // kk), label=f"K-scan, K = {kk}", **init)
        kscan.append(values["mode_product"][:, :, :, task_k.trained, :].mean(axis=-2))
    return [simulate.routing_dataset(
        task, red, steps, list(seeds),
        [({k: v[2 * i:2 * i + 2] for k, v in values.items()}, b0[2 * i]) for values, b0 in sims],
        [mean[2 * i:2 * i + 2] for mean in kscan], lr=c.lr, b0=c.b0, ks=c.ks,
        lr_divisors=c.lr_divisors, race_n=c.race_n, race_u0=c.race_u0)
        for i, c in enumerate(configs)]


# ---- checks ----------------------------------------------------------------------------------
def checks(ds: xr.Dataset, config: NeuralRaceConfig) -> list[Check]:
    """The paper's claims on this run, with tolerances and why.

    1. ``reduced_map_*``: decoupled GD vs the discrete reduced map (one Euler step per
       epoch). The reduction is exact, so loss (while L > 1e-8 L(0)) and mode products agree
       to 1e-8 relative (float64 round-off is ~1e-12).
    2. ``half_times_vs_flow*``: decoupled GD vs the continuous reduced flow, half times of
       each distinct mode within max(2%, 3 eta): first-order discretisation (~3% for the
       largest mode at eta = 0.02, including the one-record resolution; < 1% at eta/4).
    3. ``conserved_*``: b2^2 - M b1^2 and b1^2 - b3^2 constant to 1e-9 (relative) along the
       flow; along GD the drift is O(eta^2) per step: <= 2e-3 of b2^2 after the run.
    4. ``implicit_solution``: the quadrature t(b2) lands the integrated flow on b2 within
       1e-6 relative, at the half-way point and at 90% of b2*.
    5. ``fixed_point_flow``, ``final_products``, ``fixed_point_gd``: the flow's final b2 is
       the root of b2 (b2^2 + c0) = M s within 1e-6; the simulation's products equal s
       within 1e-8 and its b2 is within 1e-3 of the root (discrete GD shifts the conserved
       quantity by O(eta)).
    6. ``speed_prop_K_*``, ``race_*``: the flow at K reaches s/2 at exactly
       t_1/2(K_max) K_max/K (1e-9); simulated K t_1/2 agree across K within 6% (the discrete
       map's O(eta K) shift); minimal race: u/u0 = (v/v0)^n within 1e-9 and the private
       share v_inf/s < 1e-3.
    7. ``random_init_*``: random orthogonal init: final loss < 1e-3 L(0); the two strongest
       modes reach half strength in order in every seed; their seed-mean half times within
       15% of the decoupled theory with b0 (the paper's overlay: the random init's effective
       initial strength differs from b0 and varies by seed, single seeds deviate up to
       ~13%; the seed mean by ~7% in the quick preset, of which ~3% is discretisation).
    """
    out: list[Check] = []
    s = ds.s.values
    dec = ds.sel(init="decoupled")
    trained = ds.trained.values
    loss = dec.loss_sim.values
    ok = ds.loss_map.values > 1e-8 * ds.loss_map.values[0]
    err_loss = np.max(np.abs(loss[:, ok] / ds.loss_map.values[ok] - 1.0))
    err_p = np.max(np.abs(dec.mode_product_sim.values - ds.mode_product_map.values[None])
                   / s)
    out.append(Check.at_most("reduced_map_loss",
                             "decoupled GD vs discrete reduced map: loss (relative)",
                             err_loss, 1e-8, "the reduction is exact for gradient descent"))
    out.append(Check.at_most("reduced_map_mode_products",
                             "decoupled GD vs discrete reduced map: mode products (/s)",
                             err_p, 1e-8, "every pathway's mode products follow the reduction"))
    distinct = observables.distinct_modes(s)
    for k in config.lr_divisors:
        eta = config.lr / k
        t_sim = ds.t_half_lr_sim.sel(lr_divisor=k).values[:, distinct]
        err = np.max(np.abs(t_sim / ds.t_half_theory.values[distinct] - 1.0))
        out.append(Check.at_most("half_times_vs_flow" + ("" if k == 1 else f"_lr_over_{k}"),
                                 f"t_1/2 sim (lr/{k}) vs reduced flow, relative", err,
                                 max(0.02, 3 * eta),
                                 "gradient descent follows the reduced flow (error O(eta))"))
    cons = ds.conserved_theory.values
    drift_flow = max(np.max(np.abs(cons - cons[0])) / np.max(np.abs(cons)),
                     np.max(np.abs(ds.conserved_theory_b13.values))
                     / np.max(ds.sv_theory.values[:, 0] ** 2))
    out.append(Check.at_most("conserved_flow",
                             "conservation along the flow (relative)", drift_flow, 1e-9,
                             "b2^2 - M b1^2 and b1^2 - b3^2 are conserved"))
    c_sim = dec.conserved_sim.values
    drift_gd = np.max(np.abs(c_sim[:, -1] - c_sim[:, 0])
                      / dec.sv_sim.values[:, -1, 1] ** 2)
    out.append(Check.at_most("conserved_gd_drift",
                             "conservation drift along GD (relative to b2^2)", drift_gd, 2e-3,
                             "the shared layer moves M times more in squared norm"))
    err_imp = np.max(np.abs(ds.implicit_b2_flow / ds.implicit_b2_target - 1.0).values)
    out.append(Check.at_most("implicit_solution",
                             "implicit solution t(b2) vs integrated flow (relative)", err_imp,
                             1e-6, "the implicit quadrature solution is exact"))
    err_fix = np.max(np.abs(ds.fixed_flow_b2 / ds.fixed_point_b2 - 1.0).values)
    out.append(Check.at_most("fixed_point_flow",
                             "flow fixed point vs root of b2(b2^2+c0) = M s", err_fix, 1e-6,
                             "the flow converges to the predicted fixed point"))
    final = dec.mode_product_sim.isel(time=-1).values[:, trained]
    out.append(Check.at_most("final_products",
                             "simulated final products vs s (trained pathways, /s)",
                             np.max(np.abs(final / s - 1.0)), 1e-8,
                             "gradient descent learns every mode exactly"))
    b2_end = dec.sv_sim.isel(time=-1).sel(layer="hidden").values
    out.append(Check.at_most("fixed_point_gd",
                             "simulated final b2 vs fixed point (relative)",
                             np.max(np.abs(b2_end / ds.fixed_point_b2.values - 1.0)), 1e-3,
                             "the shared layer's singular values reach sqrt(M) b1*"))
    out.append(Check.at_most("speed_prop_K_flow", "flow: p(t_1/2(K_max) K_max/K) / s - 1/2",
                             np.max(np.abs(ds.K_flow_half_ratio.values - 0.5)) * 2, 1e-9,
                             "learning speed is proportional to K (t -> K t)"))
    kt = ds.Kt_half_sim.values[..., distinct]
    out.append(Check.at_most("speed_prop_K_gd", "simulated K t_1/2 spread across K (max/min - 1)",
                             np.max(kt.max(axis=0) / kt.min(axis=0) - 1.0), 0.06,
                             "more trained pathways per domain learn proportionally faster"))
    race = ds.race_theory.values
    u0, v0 = race[0]
    n = config.race_n
    inv = np.max(np.abs((race[:, 0] / u0) / (race[:, 1] / v0) ** n - 1.0))
    out.append(Check.at_most("race_invariant",
                             "minimal race: u/u0 = (v/v0)^n along the flow (relative)", inv,
                             1e-9, "shared and private paths race with rates n : 1"))
    out.append(Check.at_most("race_shared_wins",
                             "minimal race: private share v_inf / s", race[-1, 1], 1e-3,
                             "the shared pathway wins the race"))
    rnd = ds.sel(init="random")
    l_rnd = rnd.loss_sim.values
    out.append(Check.at_most("random_init_learns", "random init: final loss / L(0)",
                             np.max(l_rnd[:, -1] / l_rnd[:, 0]), 1e-3,
                             "random small init learns the task"))
    th = rnd.t_half_sim.values
    out.append(Check.at_least("random_init_modes_in_order",
                              "random init: fraction of seeds with modes 1, 2 in order",
                              np.mean(th[:, 0] < th[:, 1]), 1.0,
                              "stronger modes are learned first"))
    out.append(Check.at_most(
        "random_init_half_times",
        "random init: seed-mean t_1/2 of modes 1, 2 vs decoupled theory (relative)",
        np.max(np.abs(th[:, :2].mean(axis=0) / ds.t_half_theory.values[:2] - 1.0)), 0.15,
        "small random init follows the decoupled reduction"))
    return out


# ---- figures -------------------------------------------------------------------------------
def figures(ds: xr.Dataset, config: NeuralRaceConfig) -> dict:
    """Layer singular values and loss (the paper's verification figure); the race
    (:mod:`learndyn.gated_linear.plots`)."""
    return {"verification": plots.verification_figure(ds, b0=config.b0, lr=config.lr,
                                                      sigma0=config.sigma0),
            "race": plots.race_figure(ds, race_n=config.race_n)}


STUDY = Study(
    name="neural_race",
    claim="Gated linear networks reduce exactly to per-mode ODEs, one per pathway; pathways "
          "shared by more contexts learn faster (speed proportional to K) and win the race.",
    paper="Saxe, Sodhani & Lewallen, The Neural Race Reduction: Dynamics of Abstraction in "
          "Gated Networks, ICML 2022",
    config=NeuralRaceConfig,
    presets={
        "quick": Preset(seeds=4, doc="routing task M = 7, K = 4, b0 = 0.08, sigma0 = 0.2, "
                                     "eta = 0.02, 500 epochs; K-scan 1, 2, 4"),
        "paper": Preset(seeds=10, values=dict(lr_divisors=(1, 4)),
                        doc="as quick, 10 random seeds, eta and eta/4 for the flow comparison",
                        cost="about 1.5 min on 2 CPU cores (73 s CPU)"),
    },
    run=run,
    figures=figures,
    checks=checks,
    batch_fields=BATCH_FIELDS,
    run_batch=run_batch,
)
