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
  recording every pathway's mode products and errors and each layer's singular values.
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
from . import model, observables
from .data import RoutingTask
from .model import GDLN, GatedData
from .theory import Reduction, reduce

__all__ = ["compare", "simulate_routing"]


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
