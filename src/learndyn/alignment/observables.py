"""What the alignment datasets hold (van Rossem & Saxe, ICML 2024): every variable and
coordinate with its long_name and units.

The two-point variables are h = ||dh||^2 (representations), y = ||dy^||^2 (outputs) and the
misfit w = y - <dy*, dy^>; dx2 = ||dx||^2 and dy2 = ||dy*||^2 are the input and target
distances. ``<q>_sim`` is the simulation (the micro-model in ``alignment``, a trained network in
``alignment_networks`` and ``alignment_structure``), ``<q>_theory`` the effective ODE (with
fitted rates for networks), ``<q>_deep_linear`` deep_linear's lambda-balanced closed form.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

__all__ = ["ATTRS", "NETWORK_ATTRS", "STRUCTURE_ATTRS", "describe", "max_abs"]

ODE_TIME = "ODE time (rates per unit time)"

#: long_name and units; ``sweep_`` and ``chain_`` variables name the part of ``alignment``
ATTRS: dict[str, tuple[str, str]] = {
    "h": ("squared representation distance h = ||dh||^2", ""),
    "y": ("squared output distance y = ||dy^||^2", ""),
    "w": ("output misfit w = y - <dy*, dy^>", ""),
    "loss": ("training loss", ""),
    "closure": ("closure residual ||D_y - dy^ dh^T/h|| / ||D_y||", ""),
    "C": ("conserved quantity C = h/(eta_h dx2) - y/(eta_y h)", "time"),
    "C_scale": ("size of the h-term of C at the end, h/(eta_h dx2)", "epochs"),
    "h_final": ("final squared representation distance h_inf", ""),
    "h_rich_limit": ("rich limit sqrt(eta_h/eta_y) ||dx|| ||dy*||", ""),
    "h0": ("initial squared representation distance h0", ""),
    "converged": ("converged: y at the end >= 0.99 dy2", ""),
    "pair": ("rate pair eta_h/eta_y", ""),
    "eta_h": ("encoder rate eta_h", "1/time"),
    "eta_y": ("decoder rate eta_y", "1/time"),
    "eta_mean": ("mean-output rate eta_ybar", "1/time"),
    "convention": ("loss convention (half_sum: 1/2 sum over points; half_mse: 1/2 MSE)", ""),
    "kappa": ("loss factor kappa (loss = kappa 1/2 sum)", ""),
    "seed": ("seed", ""),
    "time": ("time", ODE_TIME),
    "time_micro": ("time of the micro-model runs", ODE_TIME),
    "time_chain": ("time of the scalar chain", ODE_TIME),
    "lam": ("lambda = w2^2 - w1^2 of the scalar chain", ""),
    "sweep_h": ("init-scale sweep: h", ""),
    "sweep_y": ("init-scale sweep: y", ""),
    "sweep_w": ("init-scale sweep: w", ""),
    "sweep_C": ("init-scale sweep: C", "time"),
    "sweep_h_final": ("init-scale sweep: h_inf from the fixed-point formula", ""),
    "chain_h": ("scalar chain: h = w1^2 dx2", ""),
    "chain_y": ("scalar chain: y = a^2 dx2", ""),
    "chain_w": ("scalar chain: w = (a^2 - s a) dx2", ""),
    "chain_C": ("scalar chain: C", "time"),
    "chain_h_final": ("scalar chain: h_inf", ""),
}
#: ``alignment_networks``: what differs from the alignment study (epochs, fitted rates)
NETWORK_ATTRS = {
    "time": ("training epochs", "epochs"), "run": ("run (setting and pair of points)", ""),
    "setting": ("row of the settings table (architecture, gain, learning rate)", ""),
    "regime": ("table run or lazy contrast", ""), "dx2": ("squared input distance dx2", ""),
    "dy2": ("squared target distance dy2", ""), "gain": ("initial weight gain", ""),
    "lr": ("learning rate", ""),
    "eta_h": ("fitted encoder rate eta_h (training loss convention)", "1/epoch"),
    "eta_y": ("fitted decoder rate eta_y (training loss convention)", "1/epoch"),
    "eta_mean": ("fitted mean-output rate eta_ybar", "1/epoch"),
    "C": ("conserved quantity C with the fitted rates", "epochs"),
    "fit_loss": ("fit objective sum (h - h_fit)^2 + (y - y_fit)^2 + (w - w_fit)^2", ""),
    "r2_h": ("fit R^2 of h", ""), "r2_y": ("fit R^2 of y", ""), "r2_w": ("fit R^2 of w", ""),
    "r2_loss": ("fit R^2 of the loss", ""),
    "h_final": ("final squared representation distance", ""),
    "h_rich_limit": ("rich limit with the fitted ratio", ""),
}


#: ``alignment_structure``: pairs of XOR corners, epochs
STRUCTURE_ATTRS = {
    "time": ("training epochs", "epochs"), "regime": ("initial scale: rich or lazy", ""),
    "pair": ("pair of XOR corners i-j", ""), "dx2": ("squared input distance of the pair", ""),
    "dy2": ("squared target distance of the pair", ""),
    "h": ("squared representation distance of the pair", ""),
    "dist_init": ("squared representation distance of the pair at epoch 0", ""),
    "dist": ("final squared representation distance of the pair", ""),
    "dist_rich_limit": ("rich limit sqrt(eta_h/eta_y) ||dx|| ||dy*|| of the pair", ""),
    "fit_h": ("two-point fit run: h", ""), "fit_y": ("two-point fit run: y", ""),
    "eta_h": ("fitted encoder rate eta_h (1/2 MSE)", "1/epoch"),
    "eta_y": ("fitted decoder rate eta_y (1/2 MSE)", "1/epoch"),
    "r2_h": ("two-point fit R^2 of h", ""), "r2_y": ("two-point fit R^2 of y", ""),
    "r2_w": ("two-point fit R^2 of w", ""),
}


_SOURCES = (("_deep_linear", "deep_linear closed form"), ("_theory", "theory"),
            ("_sim", "simulation"))


def describe(ds: xr.Dataset, overrides: Mapping[str, tuple[str, str]] = ()) -> xr.Dataset:
    """Set long_name and units on every variable and coordinate of ``ds`` (in place) from
    :data:`ATTRS` updated by ``overrides``; ``<q>_sim``, ``<q>_theory`` and
    ``<q>_deep_linear`` take the entry of ``q`` and say which they are."""
    table = {**ATTRS, **dict(overrides)}
    for name in map(str, ds.variables):
        base, source = name, ""
        if name not in table:
            base, source = next((name.removesuffix(s), what) for s, what in _SOURCES
                                if name.endswith(s))
        text, units = table[base]
        ds[name].attrs["long_name"] = text + (f" ({source})" if source else "")
        if units:
            ds[name].attrs["units"] = units
    return ds


def max_abs(x) -> float:
    """max |x|; NaN if x is empty or holds a NaN (so a failed solve fails a check on it)."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    return float(x.max()) if x.size and not np.isnan(x).any() else float("nan")
