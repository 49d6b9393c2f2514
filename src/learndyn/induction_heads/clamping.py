"""Study ``induction_clamping``: clamping any subcircuit from step 0 shortens the plateau.

Singh, Moskovitz, Hill, Chan & Saxe, ICML 2024, Fig. 5b. One layer-2 head is active (the others
value-ablated from step 0) and the conditions of :mod:`learndyn.induction_heads.clamps` fix
chosen activations to their ideal values throughout training and in every evaluation: the
previous-token head (``pt_head``), layer 1 as a whole (``layer1``, subcircuit A), the induction
match (``match``, A+B), the copy (``copy``, C) and ``layer1_copy`` (A+C, only B evolves).
The induction head needs A, B and C to co-develop (nested multiplicative interactions), so
clamping any of them removes a slow stage and the phase change comes earlier.

All conditions share one compiled two-pass program (a condition is a set of flag arrays) and
run side by side, vmapped over conditions and seeds. Varying the number of labels or classes
(the paper's Fig. 6) is a sweep: ``learndyn sweep induction_clamping --grid n_labels=5,10``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core import plotting
from ..core.config import ConfigError, param
from ..core.engine import simulate
from ..core.study import Check, Preset, Progress, Study
from . import observables
from .clamps import CONDITIONS, clamp_interventions, condition_flags
from .study import QUICK, InductionConfig, _args, _dataset, programs

__all__ = ["INDUCTION_CLAMPING", "ClampingConfig", "checks", "figures", "run"]


@dataclass(frozen=True)
class ClampingConfig(InductionConfig):
    """The induction-head setting plus the clamp conditions (paper defaults)."""

    conditions: tuple[str, ...] = param(
        tuple(CONDITIONS), "clamp conditions run side by side", choices=tuple(CONDITIONS))
    active_head: int = param(3, "the one active layer-2 head (others value-ablated)", ge=0)
    pt_head: int = param(2, "the layer-1 head clamped to previous-token attention", ge=0)
    clamp_strength: float = param(1.0, "s of the pattern clamps (1 = ideal)", ge=0, le=1)

    def validate(self) -> None:
        super().validate()
        for name in ("active_head", "pt_head"):
            if getattr(self, name) >= self.n_heads:
                raise ConfigError(f"config field '{name}': must be below n_heads = "
                                  f"{self.n_heads}, got {getattr(self, name)}")
        if "none" not in self.conditions or len(set(self.conditions)) != len(self.conditions):
            raise ConfigError("config field 'conditions': must be distinct and include 'none' "
                              "(the reference of every check)")


@cache
def _interventions_of(n_heads: int, pt_head: int, active_head: int, strength: float):
    def interventions(args):
        return clamp_interventions(n_heads=n_heads, flags=args["flags"],
                                   heads_on=args["heads_on"], pt_head=pt_head,
                                   active_head=active_head, strength=strength)
    return interventions


def run(config: ClampingConfig, *, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Train every condition x seed in one vmapped program and record the observables."""
    iv = _interventions_of(config.n_heads, config.pt_head, config.active_head,
                           config.clamp_strength)
    init, step, observe = programs(config, iv)
    base = _args(config)
    b = len(config.conditions)
    heads_on = np.zeros(config.n_heads, np.float32)
    heads_on[config.active_head] = 1.0
    flags = [condition_flags(c) for c in config.conditions]
    args = {
        "features": jnp.stack([base["features"]] * b),
        "eval": {k: jnp.stack([v] * b) for k, v in base["eval"].items()},
        "flags": {k: jnp.asarray([f[k] for f in flags]) for k in flags[0]},
        "heads_on": jnp.asarray(np.stack([heads_on] * b)),
    }
    steps = config.record_at()
    rec = simulate(init, step, observe, seeds=seeds, record_at=steps, args=args,
                   progress=progress, label="clamp conditions", batched=True)
    ds = _dataset(config, rec.values, steps, list(seeds), lead=("condition",))
    return ds.assign_coords(condition=list(config.conditions))


def _ratios(ds: xr.Dataset, condition: str) -> np.ndarray:
    pct = ds.phase_change_time_sim
    return (pct.sel(condition=condition) / pct.sel(condition="none")).values


def checks(ds: xr.Dataset) -> list[Check]:
    """Phase-change times relative to the unclamped run (worst seed; same seed compared).

    Thresholds are the spec's provisional ratios; measured in the quick preset (seeds 0, 1;
    worst seed in brackets): pt_head <= 0.8 [0.69], layer1 <= 0.5 [0.15], match <= 0.3
    [0.08], copy <= 0.5 [0.23], layer1_copy <= 0.3 [0.08]; ``match`` and ``copy`` have no
    plateau (duration ratio <= 0.25 [0.0]) and ``copy`` starts at or below ln 2 + 0.15 at the
    first evaluation [0.58]; the unclamped run must reach its phase change inside the run
    (otherwise every ratio would be meaningless; <= 0.9 of the run [0.52]). The unclamped
    phase-change time varies by a factor ~2.4 between seeds (20,800 and 49,600 sequences),
    which is why every ratio compares the same seed and the margins are wide. Measured with
    the quick preset's 4 heads per layer; with 8 heads (one active) the pt_head ratio was 0.89
    for one seed, so its effect is the least robust of the clamps.
    """
    conds = list(ds.condition.values)
    none = ds.phase_change_time_sim.sel(condition="none").values
    out = [Check.at_most("unclamped phase-change time / run length (worst seed)",
                         float(none.max() / ds.time.values[-1]), 0.9,
                         "without clamps the induction head forms inside the run")]
    limits = {"pt_head": 0.8, "layer1": 0.5, "match": 0.3, "copy": 0.5, "layer1_copy": 0.3}
    for cond, limit in limits.items():
        if cond in conds:
            out.append(Check.at_most(
                f"{cond}: phase-change time / unclamped (worst seed)",
                float(np.max(_ratios(ds, cond))), limit,
                f"clamping {cond} from step 0 brings the phase change forward"))
    train = ds.loss_sim.sel(evaluator="fsl_train")
    plateau_none = ds.plateau_duration_sim.sel(condition="none").values
    for cond in ("match", "copy"):
        if cond in conds:
            plat = ds.plateau_duration_sim.sel(condition=cond).values
            out.append(Check.at_most(
                f"{cond}: plateau duration / unclamped (worst seed)",
                float(np.max(plat / plateau_none)), 0.25,
                f"with {cond} clamped there is (almost) no ln 2 plateau"))
    if "copy" in conds:
        out.append(Check.at_most(
            "copy: loss at the first evaluation (worst seed)",
            float(train.sel(condition="copy").isel(time=1).max()), observables.LN2 + 0.15,
            "the copy clamp starts at (or below) the ln 2 plateau value"))
    order = [c for c in ("match", "layer1", "pt_head", "none") if c in conds]
    mean = {c: float(ds.phase_change_time_sim.sel(condition=c).mean()) for c in order}
    ordered = all(mean[a] < mean[b] for a, b in zip(order, order[1:]))
    out.append(Check.at_least(
        "ordering match < layer1 < pt_head < none (seed means; 1 = holds)", float(ordered), 1.0,
        "the more of the circuit is clamped, the earlier the phase change"))
    return out


def figures(ds: xr.Dataset) -> dict:
    """Training loss per condition (Fig. 5b) and phase-change times."""
    t = ds.time.values
    conds = list(ds.condition.values)
    colors = dict(zip(conds, ["0.2", "C0", "C1", "C2", "C3", "C4", "C5", "C6"]))
    fig, axes = plotting.figure(2, width=4.6)
    ax = axes[0, 0]
    for c in conds:
        curve = ds.loss_sim.sel(condition=c, evaluator="fsl_train").values
        plotting.sim_band(ax, t, curve, color=colors[c], max_markers=30)
        ax.plot(t, curve.mean(0), color=colors[c], lw=1, label=c)
    ax.axhline(observables.LN2, color="0.5", ls=":", lw=1)
    ax.set(xlabel="sequences seen", ylabel="training loss", title="clamped from step 0",
           ylim=(0, None))
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    pct = ds.phase_change_time_sim
    x = np.arange(len(conds))
    ax.bar(x, pct.mean("seed"), color=[colors[c] for c in conds])
    for i, c in enumerate(conds):
        ax.plot([i] * ds.sizes["seed"], pct.sel(condition=c), "k.", ms=4)
    ax.set_xticks(x, conds, rotation=30, fontsize=8)
    ax.set(ylabel="phase-change time (sequences)", title="loss < 0.4 ln 2")
    return {"clamping": fig}


INDUCTION_CLAMPING = Study(
    name="induction_clamping",
    claim="Clamping any induction-circuit subcircuit (previous-token head, layer 1, match, "
          "copy) from step 0 brings the phase change forward: the subcircuits co-develop.",
    paper="Singh, Moskovitz, Hill, Chan & Saxe, What needs to go right for an induction head?, "
          "ICML 2024",
    config=ClampingConfig,
    presets={
        "quick": Preset(seeds=2, values={**QUICK, "n_heads": 4, "num_sequences": 96_000,
                                         "active_head": 1, "pt_head": 0},
                        doc="tiny model, one active layer-2 head, six conditions side by side"),
        "paper": Preset(seeds=1, values=dict(num_sequences=600_000, eval_every=1000),
                        doc="paper model, lr 1e-5, 6e5 sequences, eval every 1,000"),
    },
    run=run,
    figures=figures,
    checks=checks,
    headline=lambda ds: float(ds.phase_change_time_sim.sel(condition="none").mean()),
    headline_label="unclamped phase-change time (sequences)",
)
