"""Checks and figures of the ``lazy_rich`` study (see :mod:`learndyn.deep_linear.lazy_rich`)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..core import plotting
from ..core.study import Check
from .observables import loss_acceleration

__all__ = ["checks", "figures"]


def _lr(ds: xr.Dataset) -> float:
    return float(ds.time.values[1] / ds.step.values[1])


def _not_decreasing(values: np.ndarray, lams: np.ndarray) -> int:
    """Number of (seed, step between neighbouring |lambda|) where S fails to fall strictly.

    ``values`` has shape (seed, lam); both signs of a |lambda| must lie below both signs of
    the next smaller |lambda|.
    """
    mags = np.unique(np.abs(lams))
    count = 0
    for lo, hi in zip(mags[:-1], mags[1:]):
        small = values[..., np.abs(lams) == lo].min(axis=-1)
        large = values[..., np.abs(lams) == hi].max(axis=-1)
        count += int(np.sum(~(large < small)))
    return count


def _mirror_diff(da: xr.DataArray, lams: np.ndarray) -> float:
    """max |x(lambda) - x(-lambda)| over the lambdas whose mirror image is in the grid."""
    worst = 0.0
    for lam in lams[lams > 0]:
        if -lam in lams:
            diff = np.abs(da.sel(lam=lam).values - da.sel(lam=-lam).values)
            worst = max(worst, float(np.nanmax(diff)))
    return worst


def checks(ds: xr.Dataset, config) -> list[Check]:
    """The paper's claims on this run, with their tolerances and why.

    Closed form vs float64 gradient flow (rtol 1e-11): <= 1e-8, and the flow keeps the
    lambda-balance to 1e-9 (integration error only). B2 vs B3 (two stable evaluations of the
    same solution): <= 1e-9. Gradient descent vs closed form: <= 2 eta s1 per block, and the
    balance drifts by <= 3 eta s1 (GD is the Euler discretisation of the flow: an O(eta) error;
    it breaks the balance by eta^2 (W1 E^T E W1^T - W2^T E E^T W2) per step). t -> infinity
    limits reached at t_limit to 1e-8. +-lambda: loss and mode strengths equal to 1e-10 (theory)
    and 1e-5 (float64 GD, whose balance drift breaks the symmetry at O(eta^2) per step). NTK
    distance S(T) falls with |lambda| (theory and GD), S(0) >= 10 S(largest |lambda|), and
    S(lambda) = S(-lambda) to 1e-8. At the largest +lambda the output representation changes
    by <= 10% and the input one by >= 90% (mirrored for the most negative lambda); at
    lambda = 0 both change by >= 90%. The rich loss falls in >= 2 distinct drops, the lazy one
    in none. Reversal: at lambda = 0 the closed form never crosses zero; for lambda != 0 it
    ends within 1e-8 of -s; B3 agrees with it to 1e-8 before round-off can leave the saddle
    (t <= 15/s); GD follows it within 2 eta s.
    """
    out: list[Check] = []
    eta, s1 = _lr(ds), float(ds.attrs["s1"])
    lams = ds.lam.values
    if "theory_flow_error" in ds:
        out.append(Check.at_most(
            'closed_form_float64_gradient_flow',
            "closed form vs float64 gradient flow (max abs, all blocks)",
            float(ds.theory_flow_error.max()), 1e-8,
            "W2W1, W1^T W1 and W2W2^T follow the exact solution for every lambda"))
        out.append(Check.at_most(
            'gradient_flow_lambda_balance_error',
            "gradient flow: lambda-balance error", float(ds.balance_error_flow.max()), 1e-9,
            "W2^T W2 - W1 W1^T = lambda I is conserved"))
    if "b2_b3_error" in ds and np.isfinite(ds.b2_b3_error.values).any():
        out.append(Check.at_most(
            'diagonal_form_b2_factor_propagation',
            "diagonal form B2 vs factor propagation B3", float(ds.b2_b3_error.max()), 1e-9,
            "the stable diagonal form and the chunked factor propagation agree"))
    for label, name in (("W2W1", "function"), ("W1^T W1", "rep_in"), ("W2W2^T", "rep_out")):
        out.append(Check.at_most(
            f"gd_vs_closed_form_{name}", f"gradient descent vs closed form: {label} / (eta s1)",
            float(ds[f"{name}_error"].max()) / (eta * s1), 2.0,
            "theory = simulation for the network function and both representations"))
    out.append(Check.at_most(
        'gradient_descent_lambda_balance_drift',
        "gradient descent: lambda-balance drift / (eta s1)",
        float(ds.balance_error_sim.max()) / (eta * s1), 3.0,
        "gradient descent keeps the lambda-balance up to its O(eta) discretisation"))
    out.append(Check.at_most(
        'closed_form_t_limit_v',
        "closed form at t_limit vs V(Lambda -+ lambda/2)V^T, U(Lambda +- lambda/2)U^T",
        float(ds.limit_error.max()), 1e-8,
        "final representations match the closed-form t -> infinity limits"))
    if np.any(lams > 0) and np.any(np.isin(-lams[lams > 0], lams)):
        theory = max(_mirror_diff(ds.loss_theory, lams),
                     _mirror_diff(ds.mode_strength_theory, lams))
        out.append(Check.at_most(
            'lambda_loss_mode_strengths_theory',
            "+-lambda: loss and mode strengths (theory)", theory, 1e-10,
            "the network function depends on lambda^2 only (equal dims)"))
        if ds.attrs.get("sim_dtype", "float64") == "float64":
            sim = max(_mirror_diff(ds.loss_sim, lams), _mirror_diff(ds.mode_strength_sim, lams))
            out.append(Check.at_most(
                'lambda_loss_mode_strengths_float64',
                "+-lambda: loss and mode strengths (float64 gradient descent)", sim, 1e-5,
                "loss curves are identical for +lambda and -lambda"))
        out.append(Check.at_most(
            'lambda_ntk_distance_s_t', "+-lambda: NTK distance S(T) (theory)",
            _mirror_diff(ds.ntk_distance_theory.isel(time=-1), lams), 1e-8,
            "the NTK depends on lambda^2 only (equal dims)"))
    if len(np.unique(np.abs(lams))) > 1:
        for src in ("theory", "sim"):
            final = ds[f"ntk_distance_{src}"].isel(time=-1).transpose("seed", "lam").values
            out.append(Check.at_most(
                f"ntk_distance_s_t_{src}",
                f"NTK distance S(T): steps in |lambda| where it does not fall ({src})",
                _not_decreasing(final, lams), 0,
                "NTK movement falls monotonically as |lambda| grows"))
    big = lams[np.argmax(np.abs(lams))]
    if 0.0 in lams and big != 0:
        for src in ("theory", "sim"):
            final = ds[f"ntk_distance_{src}"].isel(time=-1)
            ratio = float((final.sel(lam=0.0) / final.sel(lam=[big, -big] if -big in lams
                                                         else [big]).max("lam")).min())
            out.append(Check.at_least(
                f"s_t_lambda_0_{abs(big):g}_{src}",
                f"S(T) at lambda = 0 / S(T) at |lambda| = {abs(big):g} ({src})", ratio, 10.0,
                "the kernel moves by orders of magnitude less when lazy"))
    out += _representation_checks(ds, lams)
    out += _loss_shape_checks(ds, lams, big)
    out += _unequal_checks(ds, eta)
    out += _reversal_checks(ds, eta)
    return out


def _representation_checks(ds, lams) -> list[Check]:
    out = []
    final = {k: ds[f"{k}_change_sim"].isel(time=-1) for k in ("rep_in", "rep_out")}
    for lam, lazy, rich in ((lams.max(), "rep_out", "rep_in"), (lams.min(), "rep_in", "rep_out")):
        if lam == 0:
            continue
        out.append(Check.at_most(
            f"lambda_{lam:g}_{lazy}_relative_change",
            f"lambda = {lam:g}: {lazy} relative change", float(final[lazy].sel(lam=lam).max()),
            0.1, "lazy: the large layer's representation stays put (task-agnostic)"))
        out.append(Check.at_least(
            f"lambda_{lam:g}_{rich}_relative_change",
            f"lambda = {lam:g}: {rich} relative change", float(final[rich].sel(lam=lam).min()),
            0.9, "lazy: the small layer's representation still becomes task-specific"))
    if 0.0 in lams:
        out.append(Check.at_least(
            'lambda_0_smaller_two_representation',
            "lambda = 0: smaller of the two representation changes",
            float(min(final["rep_in"].sel(lam=0.0).min(), final["rep_out"].sel(lam=0.0).min())),
            0.9, "rich: both representations are learned from O(a0) to O(s)"))
    return out


def _loss_shape_checks(ds, lams, big) -> list[Check]:
    out = []
    acc = loss_acceleration(ds.time.values, ds.loss_sim.transpose("seed", "lam", "time").values)
    if 0.0 in lams:
        out.append(Check.at_least(
            'lambda_0_loss_acceleration_max',
            "lambda = 0: loss acceleration max(-dlnL/dt) / initial (least over seeds)",
            float(acc[:, lams == 0.0].min()), 10.0,
            "rich: sigmoidal loss, a plateau followed by fast drops"))
    if big != 0:
        lazy = np.isin(lams, [big, -big])
        out.append(Check.at_most(
            f"lambda_{abs(big):g}_loss_acceleration_largest_seeds",
            f"|lambda| = {abs(big):g}: loss acceleration (largest over seeds)",
            float(acc[:, lazy].max()), 1.5, "lazy: exponential loss, constant rate from the start"))
    return out


def _unequal_checks(ds, eta) -> list[Check]:
    if "unequal_function_error" not in ds:
        return []
    out = []
    s1 = float(ds.attrs["s1_unequal"])
    if "unequal_theory_flow_error" in ds:
        out.append(Check.at_most(
            'unequal_dims_factor_propagation_b3',
            "unequal dims: factor propagation B3 vs float64 gradient flow",
            float(ds.unequal_theory_flow_error.max()), 1e-8,
            "the closed form holds for unequal layer widths"))
        out.append(Check.at_most(
            'unequal_dims_gradient_flow_lambda', "unequal dims: gradient flow lambda-balance error",
            float(ds.unequal_balance_error_flow.max()), 1e-9,
            "lambda-balance is conserved for unequal widths"))
    err = max(float(ds[f"unequal_{k}_error"].max()) for k in ("function", "rep_in", "rep_out"))
    out.append(Check.at_most(
        'unequal_dims_gradient_descent_closed',
        "unequal dims: gradient descent vs closed form (all blocks) / (eta s1)",
        err / (eta * s1), 2.0, "theory = simulation for unequal layer widths"))
    return out


def _reversal_checks(ds, eta) -> list[Check]:
    if "reversal_theory" not in ds:
        return []
    out = []
    s = float(ds.reversal_theory.isel(time=0).max())
    lams = ds.lam_reversal.values
    th = ds.reversal_theory
    if 0.0 in lams:
        out.append(Check.at_least(
            'reversal_lambda_0_closed_form',
            "reversal, lambda = 0 (closed form): fraction of times with a(t) > 0",
            float(np.mean(th.sel(lam_reversal=0.0).values > 0)), 1.0,
            "zero-balanced networks stall at the saddle and never reverse"))
    if np.any(lams != 0):
        end = th.sel(lam_reversal=lams[lams != 0]).isel(time=-1).values
        out.append(Check.at_most(
            f"reversal_lambda_0_closed_{float(ds.time[-1]):g}",
            f"reversal, lambda != 0 (closed form): |a(T) + s| at T = {float(ds.time[-1]):g}",
            float(np.max(np.abs(end + s))), 1e-8,
            "unbalanced networks escape the saddle and complete the reversal"))
    early = ds.time <= 15.0 / s
    out.append(Check.at_most(
        'reversal_factor_propagation_b3_closed',
        "reversal: factor propagation B3 vs closed form B4 (t <= 15/s)",
        float(np.abs(ds.reversal_factor - th).where(early).max()), 1e-8,
        "the matrix solution handles the singular (anti-aligned) start"))
    out.append(Check.at_most(
        'reversal_gradient_descent_closed_form',
        "reversal: gradient descent vs closed form / (eta s)",
        float(np.abs(ds.reversal_sim - th).max()) / (eta * s), 2.0,
        "gradient descent follows the reversal (and stalls at lambda = 0)"))
    return out


# ---- figures ------------------------------------------------------------------------------
def _lam_colors(lams):
    """Colours by lambda: black at 0, reds for lambda > 0, blues for lambda < 0, darker with
    |lambda| (rank-based, so log-spaced grids spread)."""
    import matplotlib.pyplot as plt

    mags = np.unique(np.abs(lams[lams != 0]))
    out = []
    for lam in lams:
        if lam == 0:
            out.append((0.0, 0.0, 0.0, 1.0))
            continue
        frac = 0.35 + 0.6 * (np.searchsorted(mags, abs(lam)) + 1) / max(len(mags), 1)
        out.append(plt.get_cmap("Reds" if lam > 0 else "Blues")(frac))
    return out


def _select(lams, count=7):
    """At most ``count`` lambdas spread over the grid (always the extremes and 0)."""
    if len(lams) <= count:
        return list(lams)
    idx = np.unique(np.rint(np.linspace(0, len(lams) - 1, count)).astype(int))
    chosen = set(lams[idx]) | ({0.0} if 0.0 in lams else set())
    return sorted(chosen)


def figures(ds: xr.Dataset, config) -> dict:
    """Loss curves over lambda, NTK movement, representation change, theory vs simulation,
    reversal."""
    out = {"loss": _fig_loss(ds), "ntk": _fig_ntk(ds), "representations": _fig_reps(ds),
           "theory_vs_sim": _fig_theory_sim(ds)}
    if "reversal_theory" in ds:
        out["reversal"] = _fig_reversal(ds)
    return out


def _fig_loss(ds):
    lams = ds.lam.values
    shown = _select(lams)
    colors = dict(zip(lams, _lam_colors(lams)))
    ncols = 3 if "unequal_loss_sim" in ds else 2
    fig, axes = plotting.figure(ncols)
    t = ds.time.values
    ax = axes[0, 0]
    for lam in shown:
        _theory(ax, t, ds.loss_theory.sel(lam=lam).mean("seed"), colors[lam], lam)
        plotting.sim_band(ax, t, ds.loss_sim.sel(lam=lam).values, color=colors[lam])
    loss0 = float(ds.loss_theory.isel(time=0).max())
    ax.set(yscale="log", ylim=(1e-6 * loss0, 2 * loss0), xlabel="time t / tau", ylabel="loss",
           title="loss over lambda (dashed: lambda < 0)")
    plotting.legend_theory_sim(ax, [(f"lambda = {l:.3g}", colors[l]) for l in shown], fontsize=7)
    ax = axes[0, 1]
    for src, style in (("theory", "-"), ("sim", "o")):
        acc = loss_acceleration(t, ds[f"loss_{src}"].transpose("seed", "lam", "time").values)
        ax.plot(lams, acc.mean(axis=0), style, color="C0" if src == "theory" else "C1",
                mfc="none")
    _symlog(ax, lams)
    ax.set(yscale="log", xlabel="lambda", ylabel="max(-dlnL/dt) / initial rate",
           title="sigmoidal (rich) to exponential (lazy)")
    plotting.legend_theory_sim(ax, fontsize=8)
    if ncols == 3:
        ax = axes[0, 2]
        for lam, c in zip(ds.lam_unequal.values, plotting.colors(ds.sizes["lam_unequal"])):
            plotting.theory_line(ax, t, ds.unequal_loss_theory.sel(lam_unequal=lam).mean("seed"),
                                 color=c, label=f"lambda = {lam:g}")
            plotting.sim_band(ax, t, ds.unequal_loss_sim.sel(lam_unequal=lam).values, color=c)
        ax.set(yscale="log", xlabel="time t / tau", ylabel="loss", title="unequal dims (B3)")
        ax.legend(fontsize=7)
    return fig


def _theory(ax, t, y, color, lam):
    """Theory line, dashed for lambda < 0 (it lies on the +lambda curve in equal dims)."""
    ax.plot(t, np.asarray(y), "-" if lam >= 0 else "--", color=color, lw=1.6)


def _symlog(ax, lams):
    """Symmetric log axis for lambda with ticks at 0 and +-10^k."""
    nonzero = np.abs(lams[lams != 0])
    if not nonzero.size:
        return
    lo, hi = nonzero.min(), nonzero.max()
    ax.set_xscale("symlog", linthresh=float(lo), linscale=0.5)
    ks = np.arange(np.ceil(np.log10(lo)), np.floor(np.log10(hi)) + 1)
    if len(ks) > 3:  # keep the labels next to 0 apart
        ks = ks[1:]
    ticks = [0.0] + [s * 10.0**k for k in ks for s in (-1, 1)]
    if len(ks) == 0:
        ticks = [0.0, -hi, hi]
    ax.set_xticks(sorted(ticks), [f"{v:g}" for v in sorted(ticks)])
    ax.minorticks_off()


def _fig_ntk(ds):
    lams = ds.lam.values
    fig, axes = plotting.figure(2)
    t = ds.time.values
    colors = dict(zip(lams, _lam_colors(lams)))
    ax = axes[0, 0]
    for lam in _select(lams):
        _theory(ax, t, ds.ntk_distance_theory.sel(lam=lam).mean("seed"), colors[lam], lam)
        plotting.sim_band(ax, t, ds.ntk_distance_sim.sel(lam=lam).values, color=colors[lam])
    ax.set(xlabel="time t / tau", ylabel="kernel distance S(t)", title="NTK movement")
    ax = axes[0, 1]
    final_th = ds.ntk_distance_theory.isel(time=-1)
    final_sim = ds.ntk_distance_sim.isel(time=-1)
    plotting.theory_line(ax, lams, final_th.mean("seed"), color="C0")
    ax.plot(lams, final_sim.mean("seed"), "o", mfc="none", color="C1")
    _symlog(ax, lams)
    ax.set(yscale="log", xlabel="lambda", ylabel="S(T)", title="NTK distance at the end")
    plotting.legend_theory_sim(ax, fontsize=8)
    return fig


def _fig_reps(ds):
    lams = ds.lam.values
    fig, axes = plotting.figure(3)
    ax = axes[0, 0]
    for name, c in (("rep_in", "C0"), ("rep_out", "C3")):
        plotting.theory_line(ax, lams, ds[f"{name}_change_theory"].isel(time=-1).mean("seed"),
                             color=c, label=name)
        ax.plot(lams, ds[f"{name}_change_sim"].isel(time=-1).mean("seed"), "o", mfc="none",
                color=c)
    _symlog(ax, lams)
    ax.set(yscale="log", xlabel="lambda", ylabel="||R(T) - R(0)|| / ||R(0)||",
           title="representation change")
    ax.legend(fontsize=8)
    colors = plotting.colors(ds.sizes["mode"])
    for ax, name, title in ((axes[0, 1], "rep_in", "W1^T W1 -> V(Lambda - lambda/2)V^T"),
                            (axes[0, 2], "rep_out", "W2 W2^T -> U(Lambda + lambda/2)U^T")):
        for m, c in zip(ds.mode.values, colors):
            plotting.theory_line(ax, lams, ds[f"{name}_eig_limit"].sel(mode=m), color=c)
            ax.plot(lams, ds[f"{name}_eig_sim"].sel(mode=m).mean("seed"), "o", mfc="none",
                    color=c, ms=4)
        _symlog(ax, lams)
        ax.set(yscale="log", xlabel="lambda", ylabel="eigenvalues at T", title=title)
    plotting.legend_theory_sim(axes[0, 2], [(f"s = {float(s):.3g}", c) for s, c in
                                            zip(ds.s.values, colors)], fontsize=7)
    return fig


def _fig_theory_sim(ds):
    lams = ds.lam.values
    t = ds.time.values
    blocks = (("function", "W2 W1"), ("rep_in", "W1^T W1"), ("rep_out", "W2 W2^T"))
    if "function_sim" not in ds:
        fig, axes = plotting.figure(1)
        ax = axes[0, 0]
        colors = dict(zip(lams, _lam_colors(lams)))
        for lam in _select(lams):
            err = ds.function_error.sel(lam=lam).max("seed")
            ax.plot(t, err, color=colors[lam], label=f"lambda = {lam:g}")
        ax.set(yscale="log", xlabel="time t / tau", ylabel="max |W2W1 sim - theory|",
               title="gradient descent vs closed form")
        ax.legend(fontsize=7)
        return fig
    chosen = sorted({float(lams.min()), float(lams[np.argmin(np.abs(lams))]), float(lams.max())})
    fig, axes = plotting.figure(len(chosen), 3, height=2.8)
    for col, lam in enumerate(chosen):
        for row, (name, label) in enumerate(blocks):
            ax = axes[row, col]
            th = ds[f"{name}_theory"].sel(lam=lam).isel(seed=0).values
            sim = ds[f"{name}_sim"].sel(lam=lam).isel(seed=0).values
            flat_th = th.reshape(len(t), -1)
            flat_sim = sim.reshape(len(t), -1)
            colors = plotting.colors(flat_th.shape[1])
            for j, c in enumerate(colors):
                plotting.theory_line(ax, t, flat_th[:, j], color=c)
                plotting.sim_band(ax, t, flat_sim[None, :, j], color=c, max_markers=15)
            ax.set(title=f"{label}, lambda = {lam:g}", xlabel="time t / tau" if row == 2 else "")
    plotting.legend_theory_sim(axes[0, -1], fontsize=7)
    return fig


def _fig_reversal(ds):
    fig, axes = plotting.figure(1)
    ax = axes[0, 0]
    t = ds.time.values
    lams = ds.lam_reversal.values
    for lam, c in zip(lams, plotting.colors(len(lams))):
        plotting.theory_line(ax, t, ds.reversal_theory.sel(lam_reversal=lam), color=c)
        plotting.sim_band(ax, t, ds.reversal_sim.sel(lam_reversal=lam).values[None], color=c)
    s = float(ds.reversal_theory.isel(time=0).max())
    for y in (s, 0.0, -s):
        ax.axhline(y, color="0.5", lw=0.6, ls=":")
    ax.set(xlabel="time after the target flips, t / tau", ylabel="mode strength a(t)",
           title="reversal learning: target s -> -s")
    plotting.legend_theory_sim(ax, [(f"lambda = {l:g}", c) for l, c in
                                    zip(lams, plotting.colors(len(lams)))], fontsize=8)
    return fig
