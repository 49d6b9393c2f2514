r"""One call for any GDLN: simulate gradient descent and evaluate its reduced theory beside it.

Saxe, Sodhani & Lewallen, ICML 2022: for a GDLN whose gated correlations share singular vectors
(:func:`learndyn.gated_linear.theory.reduce`), gradient descent from aligned weights
:math:`W_e = R_{t(e)} \mathrm{diag}(b_e) R_{s(e)}^\top` follows the per-mode reduced map
exactly, and the gradient flow with time t = step * lr. :func:`compare` trains the network
(vmapped over seeds, :func:`learndyn.gated_linear.model.train`) from that aligned init, or from
small random weights, and returns path mode strengths :math:`u_\alpha^\top W_p v_\alpha` and the
loss for simulation, discrete reduced map and reduced flow in one ``xarray.Dataset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core.engine import record_steps
from . import model
from .model import GDLN, GatedData
from .theory import reduce

__all__ = ["compare"]


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
