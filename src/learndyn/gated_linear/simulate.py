r"""Gradient descent on GDLNs beside their reduced theory (Saxe, Sodhani & Lewallen, ICML 2022).

- :func:`compare`, one call for any GDLN: for a network whose gated correlations share
  singular vectors (:func:`learndyn.gated_linear.theory.reduce`), gradient descent from aligned
  weights :math:`W_e = R_{t(e)} \mathrm{diag}(b_e) R_{s(e)}^\top` follows the per-mode reduced
  map exactly, and the gradient flow with time t = step * lr. It trains the network (vmapped
  over seeds, :func:`learndyn.gated_linear.model.train`) from that aligned init, or from small
  random weights, and returns path mode strengths :math:`u_\alpha^\top W_p v_\alpha` and the
  loss for simulation, discrete reduced map and reduced flow in one ``xarray.Dataset``.
- :func:`simulate_routing`, the compiled program of the routing network
  (:mod:`learndyn.gated_linear.data`) shared by the ``neural_race`` and
  ``gated_generalisation`` studies: decoupled or random orthogonal init in one vmapped batch,
  recording every pathway's mode products and errors and each layer's singular values;
  :func:`routing_dataset` puts those runs beside the reduction (discrete map, flow, implicit
  solution, fixed point, K-scan, minimal race) as a labelled ``xarray.Dataset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core.engine import record_steps
from . import model, observables, theory
from .data import LAYERS, RoutingTask
from .model import GDLN, GatedData
from .theory import Reduction, reduce

__all__ = ["compare", "routing_dataset", "routing_loss", "simulate_routing"]


def compare(net: GDLN, data: GatedData, *, b0: float | Mapping[str, Any], lr: float,
            steps: int, seeds: Sequence[int] = (0,), num_records: int = 51,
            random_scale: float | None = None, dtype: str = "float64") -> xr.Dataset:
    """Simulate ``net`` on ``data`` and evaluate the reduced theory from the same start.

    Args:
        b0: initial per-mode strength of every edge (a number, or ``{edge: value or vector}``).
        lr: learning rate; time t = step * lr.
        steps: number of full-batch gradient steps.
        random_scale: if given, simulate from random Gaussian weights of this scale (std
            scale/sqrt(fan-in)) instead of the aligned init; the theory still starts at b0.

    Returns:
        Dataset with ``path_strength_sim`` (seed, time, path, mode), ``path_strength_map``
        and ``path_strength_theory`` (time, path, mode), ``loss_sim`` (seed, time),
        ``loss_map``, ``loss_theory`` (time), coordinates ``path`` (a readable name),
        ``mode``, ``time``, ``step``; attrs ``assumption`` (the reduction's verdict).

    Raises:
        ReductionError: the gated correlations do not share singular vectors.
    """
    red = reduce(net, data)
    record_at = record_steps(steps, min(num_records, steps + 1))
    times = record_at * lr
    b_start = red.strengths(b0)
    bases = {v: jnp.asarray(b) for v, b in red.io_bases().items()}
    strengths = {e: jnp.asarray(b_start[i]) for i, e in enumerate(red.edges)}
    rec = model.train(net, data, init=_init(red, strengths, random_scale, dtype), lr=lr,
                      record_at=record_at, seeds=seeds, observe=_observe(red),
                      extra={"bases": bases})
    b_map = red.euler(b_start, lr, record_at)
    b_flow = red.flow(b_start, times)
    names = [net.describe_path(p) for p in red.paths]
    ds = xr.Dataset(
        {
            "path_strength_sim": (("seed", "time", "path", "mode"),
                                  np.asarray(rec.values["path_modes"], np.float64)),
            "path_strength_map": (("time", "path", "mode"),
                                  np.asarray(red.path_strengths(b_map))),
            "path_strength_theory": (("time", "path", "mode"),
                                     np.asarray(red.path_strengths(b_flow))),
            "loss_sim": (("seed", "time"), np.asarray(rec.values["loss"], np.float64)),
            "loss_map": (("time",), np.asarray(red.loss(b_map))),
            "loss_theory": (("time",), np.asarray(red.loss(b_flow))),
        },
        coords={"seed": list(seeds), "time": times, "step": ("time", record_at),
                "path": names, "mode": np.arange(1, red.r + 1)},
    )
    ds.attrs["assumption"] = str(red.assumption)
    return ds


def _init(red, strengths, random_scale, dtype):
    dt = jnp.dtype(dtype)

    def init(key, args):
        if random_scale is not None:
            return model.init_random(key, red.net, scale=random_scale, dtype=dt)
        return model.init_aligned(key, red.net, args["bases"], strengths, dtype=dt)

    return init


def _observe(red):
    return lambda params, args: {"path_modes": red.path_modes(params, args["bases"])}


# ---- the routing network ----------------------------------------------------------------------
@cache
def _routing_init(net: GDLN, dtype: str):
    """init(key, args): decoupled, or random orthogonal where ``args["random"]`` (cached, so
    every run of one graph shares one compiled program)."""
    dt = jnp.dtype(dtype)

    def init(key, args):
        strengths = {e: args["b0"][i] for i, e in enumerate(net.edges)}
        aligned = model.init_aligned(key, net, args["bases"], strengths, dtype=dt)
        rnd = model.init_random(key, net, scale=args["sigma0"], orthogonal=True, dtype=dt)
        return {e: jnp.where(args["random"], rnd[e], aligned[e]) for e in net.edges}

    return init


@cache
def _routing_observe(M: int, n_modes: int):
    def observe(params, args):
        return {
            "mode_product": observables.mode_products(params, args["U"], args["V"], M),
            "pathway_error": observables.pathway_errors(params, args["target"], M),
            "layer_modes": observables.layer_mode_values(params, args["U"], args["V"], M),
            "layer_sv": observables.layer_top_singular_values(params, M, n_modes),
        }

    return observe


def simulate_routing(task: RoutingTask, red: Reduction, *, kinds: Sequence[str], lr, b0,
                     sigma0, steps: np.ndarray, seeds: Sequence[int], dtype: str = "float64",
                     progress=None, label: str = "") -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Train the routing GDLN from each init in ``kinds`` ("decoupled" or "random"), one
    vmapped batch, for every seed; full-batch gradient descent recorded at ``steps``.

    Args:
        task, red: the routing task and its reduction (:func:`.theory.reduce`).
        lr, b0, sigma0: numbers or one value per batch entry (learning rate; decoupled init:
            every layer's singular value on every mode; gain of the random orthogonal init).

    Returns:
        (values, b0): float64 arrays (batch, seed, record, ...) ``mode_product`` (M, M, mode),
        ``pathway_error`` (M, M), ``layer_modes`` (layer, mode) and ``layer_sv`` (layer,
        mode), and the reduction's initial strengths (batch, edge, mode).
    """
    U = red.bases["out0"][:, : red.r]
    V = red.bases["in0"][:, : red.r]
    B = len(kinds)
    b0 = np.stack([red.strengths(float(x)) for x in np.broadcast_to(b0, (B,))])
    extra = {"bases": {v: jnp.asarray(b) for v, b in red.io_bases().items()},
             "U": jnp.asarray(U), "V": jnp.asarray(V), "target": jnp.asarray(task.Y.T)}
    extra = {k: jax.tree.map(lambda x: jnp.stack([x] * B), v) for k, v in extra.items()}
    extra["b0"] = jnp.asarray(b0)
    extra["random"] = jnp.array([k == "random" for k in kinds])
    extra["sigma0"] = jnp.broadcast_to(jnp.asarray(sigma0, jnp.float64), (B,))
    data_b = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * B), task.data)
    M = len(task.trained)
    rec = model.train(task.net, data_b, init=_routing_init(task.net, dtype),
                      lr=jnp.broadcast_to(jnp.asarray(lr, jnp.float64), (B,)),
                      record_at=steps, seeds=seeds, observe=_routing_observe(M, red.r),
                      extra=extra, progress=progress, label=label, batched=True)
    return {k: np.asarray(v, np.float64) for k, v in rec.values.items()}, b0


def routing_loss(values: Mapping[str, np.ndarray], task: RoutingTask) -> np.ndarray:
    """The routing loss from the pathway errors: sum over trained (i, j) of 2 E_ij / (P N_o)."""
    return np.sum(values["pathway_error"][..., task.trained], axis=-1) * task.time_scale


def _half(times, products, trained, s):
    """Half times of the trained-pathway mean product, shape (..., mode)."""
    return observables.half_times(times, products[..., trained, :].mean(axis=-2), s)


def routing_dataset(task: RoutingTask, red: Reduction, steps: np.ndarray, seeds: Sequence[int],
                    sims, kscan, *, lr: float, b0: float, ks: Sequence[int],
                    lr_divisors: Sequence[int], race_n: int, race_u0: float) -> xr.Dataset:
    """:func:`simulate_routing`'s decoupled and random runs beside the reduction ``red`` of
    ``task``, as a labelled Dataset; ``sims`` = [(values, initial strengths)] per lr divisor
    (runs at lr/k, init decoupled then random) and ``kscan`` = trained-pathway mean products
    per K in ``ks``, each (init, seed, ...); ``race_n``, ``race_u0``: the minimal race's
    contexts and start."""
    M, r, s = task.trained.shape[0], red.r, task.s
    K = int(task.trained[0].sum())
    times = steps * lr * task.time_scale
    main, b_start = sims[0]
    dec = {name: v[0] for name, v in main.items()}
    rnd = {name: v[1] for name, v in main.items()}
    dec_half = [_half(times, values["mode_product"][0], task.trained, s) for values, _ in sims]

    # the discrete reduced map at lr: exact for gradient descent from decoupled init
    b_map = red.euler(b_start, lr, steps)  # (T, E, r)
    p_map = np.asarray(red.path_strengths(b_map)).reshape(len(steps), M, M, r)
    loss_map = task.time_scale / 2 * np.sum(((s - p_map) ** 2).sum(-1)[:, task.trained], -1)

    kmax = max(ks)
    k_half = [observables.half_times(times * (kmax // kk), mean[0], s) * kk
              for kk, mean in zip(ks, kscan)]
    k_half_rnd = [observables.half_times(times * (kmax // kk), mean[1], s) * kk
                  for kk, mean in zip(ks, kscan)]
    k_products = [mean[0, 0] for mean in kscan]

    th = theory.routing_predictions(s, b0, times, M=M, K=K, ks=ks)
    flow = th["flow"]
    p_flow = flow.prod(axis=1)
    n_trained = int(task.trained.sum())
    loss_flow = n_trained * task.time_scale / 2 * np.sum((s - p_flow) ** 2, axis=-1)
    race_t = np.linspace(0.0, 30.0 / (2 * race_n), 301)
    race = theory.race_flow(1.0, race_u0, race_u0, race_t, n=race_n)

    dims_p = ("init", "seed", "time", "input_domain", "output_domain", "mode")
    conserved_sim = dec["layer_modes"][..., 1, :] ** 2 - M * dec["layer_modes"][..., 0, :] ** 2
    ds = xr.Dataset(
        {
            "mode_product_sim": (dims_p, np.stack([dec["mode_product"], rnd["mode_product"]])),
            "mode_product_map": (dims_p[2:], p_map),
            "mode_product_theory": (("time", "mode"), p_flow),
            "loss_sim": (("init", "seed", "time"), np.stack([
                routing_loss(dec, task), routing_loss(rnd, task)])),
            "loss_map": (("time",), loss_map),
            "loss_theory": (("time",), loss_flow),
            "pathway_error_sim": (("init", "seed", "time", "input_domain", "output_domain"),
                                  np.stack([dec["pathway_error"], rnd["pathway_error"]])),
            "sv_sim": (("seed", "time", "layer", "mode"), dec["layer_modes"]),
            "sv_theory": (("time", "layer", "mode"), flow),
            "layer_sv_sim": (("seed", "time", "layer", "mode"), rnd["layer_sv"]),
            "conserved_sim": (("seed", "time", "mode"), conserved_sim),
            "conserved_theory": (("time", "mode"), flow[:, 1] ** 2 - M * flow[:, 0] ** 2),
            "conserved_theory_b13": (("time", "mode"), flow[:, 0] ** 2 - flow[:, 2] ** 2),
            "t_half_sim": (("init", "seed", "mode"), np.stack([
                dec_half[0], _half(times, rnd["mode_product"], task.trained, s)])),
            "t_half_theory": (("mode",), th["level_time"][:, 0]),
            "t_half_lr_sim": (("lr_divisor", "seed", "mode"), np.stack(dec_half)),
            "implicit_time": (("mode", "point"), th["level_time"]),
            "implicit_b2_target": (("mode", "point"), th["level_b2"]),
            "implicit_b2_flow": (("mode", "point"), th["level_b2_flow"]),
            "fixed_point_b1": (("mode",), th["fixed_point"][:, 0]),
            "fixed_point_b2": (("mode",), th["fixed_point"][:, 1]),
            "fixed_flow_b2": (("mode",), th["fixed_flow_b2"]),
            "Kt_half_sim": (("K", "seed", "mode"), np.stack(k_half)),
            "Kt_half_random_sim": (("K", "seed", "mode"), np.stack(k_half_rnd)),
            "K_flow_half_ratio": (("K", "mode"), th["k_ratio"]),
            "K_product_sim": (("K", "time", "mode"), np.stack(k_products)),
            "race_theory": (("race_time", "race_path"), race),
        },
        coords={
            "init": ["decoupled", "random"],
            "seed": list(seeds),
            "time": times,
            "epoch": ("time", steps),
            "mode": np.arange(1, r + 1),
            "s": ("mode", s),
            "input_domain": np.arange(M),
            "output_domain": np.arange(M),
            "trained": (("input_domain", "output_domain"), task.trained),
            "layer": list(LAYERS),
            "lr_divisor": list(lr_divisors),
            "K": list(ks),
            "point": ["half", "0.9 b2*"],
            "race_time": race_t,
            "race_path": ["shared", "private"],
        },
    )
    ds.attrs["reduction"] = str(red.assumption)
    return observables.label(ds)


def _loss(values, task):
    """The routing loss from the pathway errors: sum over trained (i, j) of 2 E_ij / (P N_o)."""
    return np.sum(values["pathway_error"][..., task.trained], axis=-1) * task.time_scale
