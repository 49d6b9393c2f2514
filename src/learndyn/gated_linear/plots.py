r"""Figures of the routing network (Saxe, Sodhani & Lewallen, ICML 2022), drawn from the
layout of :func:`learndyn.gated_linear.simulate.routing_dataset`.

- :func:`verification_figure`: each layer's singular values on each mode and the loss,
  gradient descent (markers; random init dotted) on the reduced flow (lines);
- :func:`race_figure`: the K-scan against K t, the pathway errors after random init (zero-shot
  pathways included) and the minimal race between a shared and a private path.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..core import plotting
from .data import LAYERS
from .observables import distinct_modes

__all__ = ["TIME", "race_figure", "verification_figure"]

TIME = r"time $t = 2\eta\,$epoch$/(PN_o)$"


def verification_figure(ds: xr.Dataset, *, b0: float, lr: float, sigma0: float) -> Figure:
    """Layer singular values and loss (the paper's verification figure), from decoupled init
    ``b0`` and random orthogonal init of gain ``sigma0`` at learning rate ``lr``."""
    t = ds.time.values
    s = ds.s.values
    distinct = distinct_modes(s)
    colors = dict(zip(ds.mode.values[distinct], plotting.colors(len(distinct))))
    color_of = [colors[ds.mode.values[distinct[np.searchsorted(distinct, i, "right") - 1]]]
                for i in range(len(s))]
    counts = np.diff(np.append(distinct, len(s)))
    keys = [(f"$s = {s[i]:.3g}$" + (f" (×{n})" if n > 1 else ""), colors[ds.mode.values[i]])
            for i, n in zip(distinct, counts)]
    fig, axes = plotting.figure(2, 2, width=3.5, height=2.8)
    titles = {"in": r"input layers $W_1^{(i)}$: $b_1$", "hidden": r"shared layer $W_2$: $b_2$",
              "out": r"output layers $W_3^{(j)}$: $b_3$"}
    for ax, layer in zip(axes.flat, LAYERS):
        for i in distinct:
            m = ds.mode.values[i]
            plotting.theory_line(ax, t, ds.sv_theory.sel(layer=layer, mode=m), color=colors[m])
            plotting.sim_band(ax, t, ds.sv_sim.sel(layer=layer, mode=m).values,
                              color=colors[m], max_markers=25)
        for i, m in enumerate(ds.mode.values):
            ax.plot(t, ds.layer_sv_sim.sel(layer=layer, mode=m).mean("seed"), ":",
                    color=color_of[i], lw=1.2)
        ax.set(title=titles[layer], xlabel=TIME, ylabel="singular value")
    ax = axes[1, 1]
    plotting.theory_line(ax, t, ds.loss_theory, color="0.2")
    for init, color in (("decoupled", "C0"), ("random", "C1")):  # seed geometric means
        plotting.sim_band(ax, t, np.exp(np.log(ds.loss_sim.sel(init=init).values).mean(
            axis=0, keepdims=True)), color=color, max_markers=25, label=f"{init} init")
    loss0 = float(ds.loss_theory[0])
    ax.set(title="loss on the trained pathways", xlabel=TIME, ylabel=r"loss $L$", yscale="log",
           ylim=(1e-8 * loss0, 3 * loss0))
    ax.legend(fontsize=8, loc="lower left")
    rnd = Line2D([], [], color="0.3", ls=":", lw=1.2,
                 label=rf"random init $\sigma_0 = {sigma0:g}$: top singular values")
    plotting.legend_below(fig, keys, ncols=3, extra=[rnd])
    return plotting.captioned(fig, (
        f"Singular values of each layer on each mode (decoupled init b0 = {b0:g}: "
        "markers, seed mean; reduced flow: lines; the two modes with s = 3 coincide) and the "
        "loss: the shared layer grows to sqrt(M) times the others, and gradient descent at "
        f"eta = {lr:g} lags the flow by a few percent in time (first-order "
        f"discretisation); random orthogonal init (sigma0 = {sigma0:g}: dotted, and the "
        "orange loss) goes through the same stages, its late modes a few percent off."))


def race_figure(ds: xr.Dataset, *, race_n: int) -> Figure:
    """The K-scan's mode products against K t, the random init's pathway errors at the end
    (zero-shot pathways marked) and the minimal race with ``race_n`` contexts (theory)."""
    t = ds.time.values
    distinct = distinct_modes(ds.s.values)
    ks = [int(k) for k in ds.K.values]
    fig, axes = plotting.figure(3, width=3.5)
    ax = axes[0, 0]
    kcol = plotting.colors(ds.sizes["K"])
    kmax = max(ks)
    for n, (kk, color) in enumerate(zip(ks, kcol)):
        for i in distinct:  # interleaved marker grids, so every K stays visible
            y = ds.K_product_sim.sel(K=kk).isel(mode=i).values[None]
            plotting.sim_band(ax, t * kmax, y, color=color, max_markers=23 + 6 * n)
    for i in distinct:
        plotting.theory_line(ax, t * kmax, ds.mode_product_theory.isel(mode=i), color="0.3")
    ax.set(title="speed proportional to $K$", xlabel=r"$K t$",
           ylabel=r"mode product $u_\alpha^\top W_3W_2W_1 v_\alpha$")
    ax = axes[0, 1]
    M = ds.sizes["input_domain"]
    err = ds.pathway_error_sim.sel(init="random").isel(time=-1).mean("seed").values
    im = ax.imshow(np.log10(np.maximum(err, 1e-12)), cmap="viridis")
    ii, jj = np.nonzero(~ds.trained.values)
    ax.plot(jj, ii, "x", color="w", ms=5)
    ax.set(title="random init: pathway errors\n(×: untrained, zero-shot)",
           xlabel="output domain $j$", ylabel="input domain $i$", xticks=range(M),
           yticks=range(M))
    ax.grid(False)
    fig.colorbar(im, ax=ax, shrink=0.8, label=r"$\log_{10} E_{ij}$ at the end")
    ax = axes[0, 2]
    rt = ds.race_time.values
    plotting.theory_line(ax, rt, ds.race_theory.sel(race_path="shared"), color="C0",
                         label="shared path $u$")
    plotting.theory_line(ax, rt, ds.race_theory.sel(race_path="private"), color="C3",
                         label="private path $v$")
    ax.set(title=f"minimal race, $n = {race_n}$ (theory)",
           xlabel=r"time $t/\tau$", ylabel="path product", yscale="log")
    ax.legend(fontsize=8, loc="center right")
    plotting.legend_below(fig, [(f"$K = {k}$ (decoupled)", c) for k, c in zip(ks, kcol)],
                          ncols=5)
    return plotting.captioned(fig, (
        "Left: mode products of the K-scan against K t collapse on one reduced-flow curve per "
        "mode (learning speed proportional to the number of trained pathways K; small shifts "
        "are the discrete map's O(eta K)); middle: after random small init the untrained "
        "(zero-shot) pathways end as accurate as the trained ones; right: the shared path "
        "wins the race against the private paths, u/u0 = (v/v0)^n."))
