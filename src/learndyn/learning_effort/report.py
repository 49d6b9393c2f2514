"""What the learning-effort studies share: theory beside SGD for the uncontrolled and the
optimal control, the checks every study makes, and the standard panels.

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919. :func:`compare` returns one Dataset with

- ``loss_theory`` (condition, time) and ``loss_sim`` (condition, seed, time): the population
  loss under the neutral and the optimised control, Euler unroll and SGD on the same records
  (plus ``task_loss_*`` with a ``task`` axis when the problem has several tasks);
- ``value_theory`` (iteration): V at each ascent iteration; ``value_optimal``,
  ``value_uncontrolled``; ``kkt_residual`` (stage = initial, optimal).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.study import Check, Progress
from . import model
from .ascent import Result
from .observables import gain_summary, sgd_mismatch
from .theory import Problem, loss_curve, neutral_control, task_losses, value

__all__ = ["CONDITIONS", "compare", "compare_variants", "control_checks", "describe",
           "gain_variables", "loss_panels", "loss_value_figures", "sim_checks", "value_panel"]

CONDITIONS = ("uncontrolled", "optimal")


def describe(ds: xr.Dataset, attrs: dict) -> xr.Dataset:
    """Set ``long_name`` (and ``units``) from ``{name: (long_name, units)}``."""
    for name, (long_name, units) in attrs.items():
        if name in ds.variables:
            ds[name].attrs["long_name"] = long_name
            if units:
                ds[name].attrs["units"] = units
    return ds


def compare(p: Problem, result: Result, tasks: list, *, seeds, batch: int, num_records: int,
            dtype: str = "float32", progress: Progress | None = None) -> xr.Dataset:
    """Theory and SGD under the neutral and the optimised control (see the module docstring)."""
    return compare_variants([p], [result], tasks, None, seeds=seeds, batch=batch,
                            num_records=num_records, dtype=dtype, progress=progress)


def compare_variants(ps: list[Problem], results: list[Result], tasks: list, variants, *, seeds,
                     batch: int, num_records: int, dtype: str = "float32",
                     progress: Progress | None = None) -> xr.Dataset:
    """:func:`compare` for several problems of one control type (SGD in one program); with
    ``variants`` (names) the result has a ``variant`` dimension."""
    controls = [(neutral_control(p), r.control) for p, r in zip(ps, results)]
    sim = model.run_sgd([p for p in ps for _ in CONDITIONS], [c for pair in controls
                                                              for c in pair],
                        [tasks] * (2 * len(ps)), seeds=seeds, batch=batch,
                        num_records=num_records, dtype=dtype, progress=progress)
    steps = sim["steps"]
    pieces = []
    for i, (p, r, pair) in enumerate(zip(ps, results, controls)):
        ds = xr.Dataset(
            {
                "loss_theory": (("condition", "time"), np.stack([loss_curve(p, c)[steps]
                                                                 for c in pair])),
                "loss_sim": (("condition", "seed", "time"), sim["loss"][2 * i: 2 * i + 2]),
                "value_theory": (("iteration",), r.values),
                "value_optimal": ((), r.value),
                "value_uncontrolled": ((), value(p, pair[0])),
                "kkt_residual": (("stage",), [r.kkt_init, r.kkt]),
            },
            coords={"condition": list(CONDITIONS), "seed": list(seeds),
                    "time": steps * float(p.dt), "step": ("time", steps),
                    "iteration": np.arange(len(r.values)), "stage": ["initial", "optimal"]},
        )
        if len(tasks) > 1:
            ds["task_loss_theory"] = (("condition", "time", "task"),
                                      np.stack([task_losses(p, c)[steps] for c in pair]))
            ds["task_loss_sim"] = (("condition", "seed", "time", "task"),
                                   sim["task_loss"][2 * i: 2 * i + 2])
            ds = ds.assign_coords(task=[t.name for t in tasks])
        pieces.append(ds)
    ds = pieces[0] if variants is None else xr.concat(pieces, dim="variant").assign_coords(
        variant=list(variants))
    return describe(ds, {
        "loss_theory": ("population loss L, average dynamics (Euler unroll)", ""),
        "loss_sim": ("population loss L of SGD networks", ""),
        "task_loss_theory": ("population loss on each task, average dynamics", ""),
        "task_loss_sim": ("population loss on each task, SGD networks", ""),
        "value_theory": ("value V at the control each ascent iteration starts from", ""),
        "value_optimal": ("value V of the optimised control", ""),
        "value_uncontrolled": ("value V without control (neutral control)", ""),
        "kkt_residual": ("norm of the projected gradient of V (KKT violation)", ""),
        "condition": ("control applied", ""), "seed": ("SGD seed", ""),
        "time": ("time t = step x learning rate", "time units (tau = 1)"),
        "step": ("SGD step", "steps"), "iteration": ("control-ascent iteration", "iterations"),
        "stage": ("control at which the KKT residual is taken", ""), "task": ("task", ""),
        "variant": ("variant of the control problem", ""),
    })


def control_checks(ds: xr.Dataset, control_vars, lo: float, hi: float,
                   kkt: bool = False, suffix: str = "") -> list[Check]:
    """V_optimal > V_uncontrolled (relative margin 1e-4), the control within its bounds, and
    (``kkt``) the projected gradient at the optimum <= 5% of its value at the start. Check ids
    and names end with ``suffix`` (e.g. a variant)."""
    v0, v1 = float(ds.value_uncontrolled), float(ds.value_optimal)
    tag = f" ({suffix})" if suffix else ""
    suffix = f"_{suffix}" if suffix else ""
    out = [Check.at_least(f"value_gain{suffix}", f"relative value gain (V* - V0)/|V0|{tag}",
                          (v1 - v0) / abs(v0), 1e-4,
                          "optimising the control raises the value over no control")]
    worst = max(max(lo - float(ds[v].min()), 0.0) + max(float(ds[v].max()) - hi, 0.0)
                for v in control_vars)
    out.append(Check.at_most(f"feasible{suffix}",
                             f"largest bound violation of the optimised control{tag}",
                             worst, 0.0, "the control stays within its bounds"))
    if kkt:
        res = ds.kkt_residual.values
        out.append(Check.at_most(f"kkt{suffix}", f"projected gradient: optimal / initial{tag}",
                                 res[1] / res[0],
                                 0.05, "the returned control satisfies the KKT conditions"))
    return out


def sim_checks(ds: xr.Dataset, rel: float, suffix: str = "", dtype: str = "float32") -> list[Check]:
    """SGD mean loss within max(rel, 3 s.e.) of the average dynamics at every record after the
    first, per condition. Differences below the precision floor of ``dtype`` simulations
    (1e-6 L(0) for float32 weights, 1e-12 L(0) for float64) are not resolved."""
    out = []
    floor = (1e-6 if dtype == "float32" else 1e-12) * float(ds.loss_theory.isel(time=0).max())
    tag = f" {suffix}" if suffix else ""
    for cond in CONDITIONS:
        sel = ds.sel(condition=cond)
        out.append(Check.at_most(
            f"ode_vs_sgd_{cond}{'_' + suffix if suffix else ''}",
            f"SGD vs ODE loss, {cond}{tag} (units of max({rel:g} rel, 3 s.e.))",
            sgd_mismatch(sel.loss_sim.values, sel.loss_theory.values, rel, floor), 1.0,
            "SGD networks driven by the same control follow the average dynamics"))
    return out


def loss_panels(axes, ds: xr.Dataset, *, log: bool = False, title: str = "") -> None:
    """Left: loss with and without control (theory lines, SGD markers and bands); right: the
    reduction L_uncontrolled - L_optimal (per seed, common batches)."""
    t = ds.time.values
    colors = {"uncontrolled": "0.45", "optimal": "C3"}
    ax = axes[0]
    for cond, color in colors.items():
        sel = ds.sel(condition=cond)
        plotting.theory_line(ax, t, sel.loss_theory.values, color=color)
        plotting.sim_band(ax, t, sel.loss_sim.values, color=color)
    ax.set(xlabel="time $t$", ylabel="population loss $L$",
           title=title or "loss with and without control")
    if log:  # below ~1e-7 L(0) only float rounding shows
        l0 = float(ds.loss_theory.isel(time=0).max())
        ax.set(yscale="log", ylim=(1e-7 * l0, 2 * l0))
    plotting.legend_theory_sim(ax, list(colors.items()), fontsize=8)
    ax = axes[1]
    diff_th = ds.loss_theory.sel(condition="uncontrolled") - ds.loss_theory.sel(condition="optimal")
    diff_sim = ds.loss_sim.sel(condition="uncontrolled") - ds.loss_sim.sel(condition="optimal")
    plotting.theory_line(ax, t, diff_th.values, color="C3")
    plotting.sim_band(ax, t, diff_sim.values, color="C3")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set(xlabel="time $t$", ylabel=r"$L_{\rm uncontrolled} - L_{\rm optimal}$",
           title="loss reduction by the control")


def value_panel(ax, ds: xr.Dataset, title: str = "value during optimisation") -> None:
    """V over the ascent iterations, with V without control as a dashed line."""
    it = ds.iteration.values + 1
    ax.plot(it, ds.value_theory.values, color="C3", lw=1.6, label="V at iteration")
    ax.axhline(float(ds.value_uncontrolled), color="0.45", ls="--", lw=1.2, label="no control")
    ax.set(xlabel="ascent iteration", ylabel="value $V$", title=title)
    if it[-1] > 20:
        ax.set_xscale("log")
    ax.legend(fontsize=8, loc="lower right")


def loss_value_figures(ds: xr.Dataset, loss_caption: str, value_caption: str, *,
                       log: bool = False, t_max: float | None = None, marks=()) -> dict:
    """``{"loss": the two loss panels, "value": V over the ascent}``, captioned; ``marks``
    are times drawn as dotted vertical lines (e.g. task switches)."""
    fig_l, axes = plotting.figure(2, width=3.5)
    loss_panels(axes[0], ds, log=log)
    for ax in axes[0]:
        if t_max is not None:
            ax.set_xlim(0, t_max)
        for t in marks:
            ax.axvline(t, color="0.7", lw=0.8, ls=":")
    fig_v, axes = plotting.figure(1, width=3.5)
    value_panel(axes[0, 0], ds)
    return {"loss": plotting.captioned(fig_l, loss_caption),
            "value": plotting.captioned(fig_v, value_caption)}


def gain_variables(control) -> dict:
    """Dataset variables summarising optimal gains (G1, G2): mean |G2| per output row, mean
    |G1| per hidden unit, and the smallest and largest gain."""
    per_output, per_hidden = gain_summary(control)
    return {"gain_output_theory": (("control_time", "output"), per_output),
            "gain_hidden_theory": (("control_time", "hidden"), per_hidden),
            "gain_range_theory": (("bound",), [min(float(g.min()) for g in control),
                                               max(float(g.max()) for g in control)])}


GAIN_ATTRS = {
    "gain_output_theory": ("mean |G2| on each output row of W2", ""),
    "gain_hidden_theory": ("mean |G1| on each hidden unit's row of W1", ""),
    "gain_range_theory": ("smallest and largest optimal gain", ""),
    "control_time": ("time t", "time units"), "output": ("output", ""),
    "hidden": ("hidden unit", ""), "bound": ("extreme", "")}
