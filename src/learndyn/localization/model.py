"""Networks of Lufkin, Saxe & Grant (NeurIPS 2024) and their online SGD.

- single neuron: y_hat = relu(w.x), no bias;
- K neurons, fixed averaging read-out: y_hat = (1/K) sum_k sigma(w_k.x + b_k), sigma relu or
  sigmoid, bias absent, fixed at b, or trainable;
- trainable read-out: y_hat = (1/K) sum_k v_k sigma(w_k.x + b_k), v(0) = 1 + Glorot * sqrt(s).

Loss: batch mean of (y_hat - y)^2 (no 1/2); plain SGD at constant rate eta, a fresh batch every
step (half class 0, half class 1 by default) drawn inside the compiled loop. Init: Glorot normal,
std sqrt(2/(L+K)) sqrt(init_scale). With K neurons the rate should scale with K (eta_K = K eta_1)
so that each neuron moves as a single neuron would.

Training runs through :func:`learndyn.core.engine.simulate`: seeds are vmapped, and marginals
of the same family (e.g. Alg(5) and Alg(30)) share one compiled program, vmapped over them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.engine import simulate
from ..core.study import Progress
from . import data

__all__ = ["SINGLE", "Network", "State", "forward", "glorot", "loss", "sgd", "train"]

_ACT = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}


class Network(NamedTuple):
    """Architecture: K neurons, activation, bias ("none" | "fixed" | "trainable"), read-out
    ("fixed": the average; "trainable": v_k learned)."""

    K: int = 1
    activation: Literal["relu", "sigmoid"] = "relu"
    bias: Literal["none", "fixed", "trainable"] = "none"
    readout: Literal["fixed", "trainable"] = "fixed"


SINGLE = Network()  #: one ReLU neuron, no bias


class State(NamedTuple):
    params: dict
    loss: jax.Array
    accuracy: jax.Array


def glorot(key: jax.Array, shape: tuple[int, int], init_scale, dtype=jnp.float32) -> jax.Array:
    """Glorot normal (fan_out, fan_in) = shape, std sqrt(2 / sum(shape)) * sqrt(init_scale)."""
    std = math.sqrt(2.0 / (shape[0] + shape[1]))
    return jax.random.normal(key, shape, dtype) * (std * jnp.sqrt(init_scale)).astype(dtype)


def forward(params: dict, x: jax.Array, network: Network = SINGLE, bias=0.0) -> jax.Array:
    """y_hat for inputs x (n, L); ``bias`` is used when the bias is not a parameter."""
    b = params.get("b")
    h = _ACT[network.activation](x @ params["W"].T + (bias if b is None else b[None, :]))
    v = params.get("v")
    return h.mean(-1) if v is None else h @ v / h.shape[-1]


def loss(params: dict, x: jax.Array, y: jax.Array, network: Network = SINGLE,
         bias=0.0) -> jax.Array:
    """Batch mean of (y_hat - y)^2."""
    return jnp.mean((forward(params, x, network, bias) - y) ** 2)


@functools.cache
def _program(draw, n: int, network: Network, balanced: bool, given: bool):
    """(init, step, observe) for one family's sampler; cached so runs re-use compiled code."""

    def init(key, args):
        dtype = args["F0"].dtype
        k_w, k_v = jax.random.split(key)
        L, K = args["F0"].shape[0], network.K
        params = {"W": args["w0"] if given else glorot(k_w, (K, L), args["init_scale"], dtype)}
        if network.bias == "trainable":
            params["b"] = jnp.full((K,), args["bias"], dtype)
        if network.readout == "trainable":
            params["v"] = 1.0 + glorot(k_v, (1, K), args["init_scale"], dtype)[0]
        zero = jnp.zeros((), dtype)
        return State(params, zero, zero)

    def step(state, key, t, args):
        x, y = data.task_batch(key, draw, args["c"], args["F0"], args["F1"], n,
                               balanced=balanced)
        bias = args["bias"] if network.bias == "fixed" else 0.0

        def objective(p):
            y_hat = forward(p, x, network, bias)
            return jnp.mean((y_hat - y) ** 2), jnp.mean((y_hat > 0.5) == (y > 0.5))

        (value, acc), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        params = jax.tree.map(lambda p, g: p - args["lr"] * g, state.params, grads)
        return State(params, value.astype(x.dtype), acc.astype(x.dtype))

    def observe(state, args):
        out = {"loss": state.loss, "accuracy": state.accuracy}
        out.update(state.params)
        return out

    return init, step, observe


def train(marginals: Sequence[data.Marginal], *, L: int, xi0: float, xi1: float, lr: float,
          batch: int, record_at: np.ndarray, seeds: Sequence[int],
          network: Network = SINGLE, init_scale: float = 1e-3, bias: float = 0.0,
          dtype: str = "float32", balanced: bool = True, w0=None,
          progress: Progress | None = None) -> list[dict[str, np.ndarray]]:
    """Online SGD on each marginal for every seed; one record dict per marginal with arrays
    ``(seed, record, ...)``: W (K, L), b, v (if trained), loss and accuracy of the step's batch.

    Seed s draws its init and data from key(s) (the same w(0) for every marginal). ``w0``
    (K, L) replaces the random init for all seeds. Marginals of one family run as one program.
    """
    if balanced and batch % 2:
        raise ValueError(f"balanced batches need an even batch size, got {batch}")
    dt = jnp.dtype(dtype)
    F0, F1 = (jnp.asarray(data.ring_factor(L, xi), dt) for xi in (xi0, xi1))
    groups: dict = {}
    for i, m in enumerate(marginals):
        groups.setdefault(m.draw, []).append(i)
    out: list = [None] * len(marginals)
    for draw, idx in groups.items():
        init, step, observe = _program(draw, batch, network, balanced, w0 is not None)
        B = len(idx)
        consts = [marginals[i].constants() for i in idx]
        args = {"c": {k: jnp.asarray([c[k] for c in consts], dt) for k in consts[0]},
                "F0": jnp.broadcast_to(F0, (B, L, L)), "F1": jnp.broadcast_to(F1, (B, L, L)),
                "lr": jnp.full((B,), lr, dt), "init_scale": jnp.full((B,), init_scale, dt),
                "bias": jnp.full((B,), bias, dt)}
        if w0 is not None:
            args["w0"] = jnp.broadcast_to(jnp.asarray(w0, dt), (B, network.K, L))
        label = ", ".join(marginals[i].label for i in idx)
        rec = simulate(init, step, observe, seeds=seeds, record_at=record_at, args=args,
                       progress=progress, label=label, batched=True)
        for b, i in enumerate(idx):
            out[i] = {k: v[b] for k, v in rec.values.items()}
    return out


def sgd(w0, m: data.Marginal, *, L: int = 40, xi0: float = 1.0, xi1: float = 3.0,
        lr: float = 0.05, batch: int = 1000, steps: int = 2000, seeds: Sequence[int] = (0,),
        record_every: int = 10, dtype: str = "float32", balanced: bool = True) -> np.ndarray:
    """Single ReLU neuron from ``w0`` (L,): weights (len(seeds), steps // record_every + 1, L)
    at steps 0, record_every, ... (loss: batch mean of (relu(w.x) - y)^2, y = 1 has xi1)."""
    if record_every < 1 or steps < record_every:
        raise ValueError(f"need 1 <= record_every <= steps, got {record_every}, {steps}")
    w0 = np.asarray(w0)
    if w0.shape != (L,):
        raise ValueError(f"w0 must have shape ({L},), got {w0.shape}")
    record_at = np.arange(steps // record_every + 1) * record_every
    rec = train([m], L=L, xi0=xi0, xi1=xi1, lr=lr, batch=batch, record_at=record_at,
                seeds=seeds, dtype=dtype, balanced=balanced, w0=w0[None])[0]
    return rec["W"][:, :, 0, :]
