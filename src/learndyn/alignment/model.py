r"""Multilayer perceptrons trained on a few points, with the pair geometry at a hidden layer.

Reference: L. van Rossem, A. M. Saxe, *When Representations Align: Universality in
Representation Learning Dynamics*, ICML 2024 (arXiv:2402.09142), section 5 (experiments).

Network: ``depth`` hidden layers :math:`a_n = \phi(W_n a_{n-1} + b_n)` of width ``width`` and a
linear read-out :math:`\hat y = W_{L+1} a_L + b_{L+1}`; with ``residual`` the activation two
layers back is added from the third hidden layer on, :math:`a_n \mathrel{+}= a_{n-2}` for
:math:`n \ge 2` (0-based). Weights are Xavier-normal with a gain,
:math:`W \sim \mathcal N(0, g^2\, 2/(n_{in} + n_{out}))`, biases start at zero. The
representation is the post-activation output :math:`h = a_\ell` of hidden layer ``layer``.

For points i, j the recorded pair geometry (the variables of the effective theory) is

.. math:: h_{ij} = \|h_i - h_j\|^2, \quad y_{ij} = \|\hat y_i - \hat y_j\|^2, \quad
          w_{ij} = \|\hat y_j - \hat y_i\|^2 - \langle y^*_j - y^*_i, \hat y_j - \hat y_i\rangle,

together with the loss and the squared error of the mean output :math:`\|\bar y - \bar y^*\|^2`.
Training is full-batch gradient descent (or Adam), one step per epoch, on either loss
convention: ``"half_mse"`` (:math:`\tfrac12` mean over points and outputs, the reference's) or
``"half_sum"`` (:math:`\tfrac12\sum_i\|\hat y_i - y_i\|^2`, the theory's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..core.engine import Recording, TrainState, simulate
from ..core.study import Progress

__all__ = ["ACTIVATIONS", "Arch", "State", "forward", "init", "loss", "pair_geometry",
           "representation", "train"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.01),
    "elu": jax.nn.elu,
    "silu": jax.nn.silu,
    "linear": lambda z: z,
}

Convention = Literal["half_mse", "half_sum"]
Params = list[tuple[jax.Array, jax.Array]]


class Arch(NamedTuple):
    """A static MLP architecture (hashable: one compiled program per architecture)."""

    d_in: int = 1
    d_out: int = 1
    width: int = 500
    depth: int = 2
    activation: str = "leaky_relu"
    residual: bool = False
    layer: int = 1

    def check(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; "
                             f"choose from {', '.join(ACTIVATIONS)}")
        if min(self.d_in, self.d_out, self.width, self.depth) < 1:
            raise ValueError("d_in, d_out, width and depth must be positive")
        if not 0 <= self.layer < self.depth:
            raise ValueError(f"layer must be in 0..{self.depth - 1}, got {self.layer}")


def init(key: jax.Array, arch: Arch, gain: jax.Array | float, *, dtype: Any = jnp.float32
         ) -> Params:
    """Xavier-normal weights with ``gain`` (may be traced), zero biases; ``[(W, b), ...]``."""
    sizes = [arch.d_in] + [arch.width] * arch.depth + [arch.d_out]
    keys = jax.random.split(key, len(sizes) - 1)
    params = []
    for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:]):
        std = gain * np.sqrt(2.0 / (n_in + n_out))
        w = (std * jax.random.normal(k, (n_in, n_out), jnp.float64)).astype(dtype)
        params.append((w, jnp.zeros(n_out, dtype)))
    return params


def forward(params: Params, x: jax.Array, arch: Arch) -> tuple[jax.Array, list[jax.Array]]:
    """Outputs ``(P, d_out)`` and the hidden activations ``[(P, width)] * depth``."""
    phi = ACTIVATIONS[arch.activation]
    a, hidden = x, []
    for n, (w, b) in enumerate(params[:-1]):
        a = phi(a @ w + b[None, :])
        if arch.residual and n >= 2:
            a = a + hidden[-2]
        hidden.append(a)
    w, b = params[-1]
    return a @ w + b[None, :], hidden


def representation(params: Params, x: jax.Array, arch: Arch) -> jax.Array:
    """The representation ``(P, width)`` at hidden layer ``arch.layer``."""
    return forward(params, x, arch)[1][arch.layer]


def loss(params: Params, x: jax.Array, y: jax.Array, arch: Arch,
         convention: Convention = "half_mse") -> jax.Array:
    """Squared loss in the chosen convention (see the module docstring)."""
    err = forward(params, x, arch)[0] - y
    return 0.5 * (jnp.mean(err**2) if convention == "half_mse" else jnp.sum(err**2))


def _sq_dist(z: jax.Array) -> jax.Array:
    diff = z[:, None, :] - z[None, :, :]
    return jnp.sum(diff * diff, axis=-1)


def pair_geometry(rep: jax.Array, out: jax.Array, target: jax.Array) -> dict[str, jax.Array]:
    """``h``, ``y``, ``w`` as ``(P, P)`` matrices over point pairs (module docstring)."""
    d_out = out[None, :, :] - out[:, None, :]
    d_tgt = target[None, :, :] - target[:, None, :]
    y = jnp.sum(d_out * d_out, axis=-1)
    return {"h": _sq_dist(rep), "y": y, "w": y - jnp.sum(d_tgt * d_out, axis=-1)}


class State(NamedTuple):
    """Parameters and optimiser state, and the loss at the parameters the last step started
    from (the engine's cheap divergence test looks at it)."""

    train: TrainState
    loss: jax.Array


@cache
def _program(arch: Arch, optimizer: str, convention: str, dtype: str):
    """(start, step, observe, finite) for one architecture; cached: one compiled program each.

    ``args``: ``x`` (P, d_in), ``y`` (P, d_out), ``gain`` and ``lr`` (scalars), one row of the
    batch of runs each.
    """
    opt = optax.scale_by_adam() if optimizer == "adam" else optax.identity()
    dt = jnp.dtype(dtype)

    def start(key, args):
        params = init(key, arch, args["gain"], dtype=dt)
        return State(TrainState(params, opt.init(params)), jnp.zeros((), dt))

    def step(state, key, t, args):
        x, y = args["x"].astype(dt), args["y"].astype(dt)
        value, grads = jax.value_and_grad(loss)(state.train.params, x, y, arch, convention)
        updates, opt_state = opt.update(grads, state.train.opt_state, state.train.params)
        params = jax.tree.map(lambda p, u: p - args["lr"].astype(dt) * u, state.train.params,
                              updates)
        return State(TrainState(params, opt_state), value)

    def observe(state, args):
        x, y = args["x"].astype(dt), args["y"].astype(dt)
        out, hidden = forward(state.train.params, x, arch)
        err = out - y
        value = 0.5 * (jnp.mean(err**2) if convention == "half_mse" else jnp.sum(err**2))
        mean_err = jnp.sum((jnp.mean(out, 0) - jnp.mean(y, 0)) ** 2)
        return {**pair_geometry(hidden[arch.layer], out, y), "loss": value,
                "mean_err": mean_err}

    return start, step, observe, lambda state: jnp.isfinite(state.loss)


def train(arch: Arch, x: np.ndarray, y: np.ndarray, gain: Sequence[float], lr: Sequence[float],
          *, epochs: int, seeds: Sequence[int], optimizer: Literal["sgd", "adam"] = "sgd",
          convention: Convention = "half_mse", dtype: str = "float32", chunk: int = 1000,
          progress: Progress | None = None, label: str = "") -> Recording:
    """Train B networks (one per row of ``x``, ``y``, ``gain``, ``lr``) for every seed.

    All B x seeds runs are one vmapped program of the engine
    (:func:`learndyn.core.engine.simulate`, compiled once per architecture); seed ``s``
    initialises from the engine's init key of ``s``. Observables are recorded at every epoch
    0..epochs.

    Args:
        arch: the architecture (static).
        x, y: data ``(B, P, d_in)`` and ``(B, P, d_out)``.
        gain, lr: init gain and learning rate per run, length B.
        epochs: full-batch steps; the host wakes up about every ``chunk`` epochs.

    Returns:
        :class:`learndyn.core.engine.Recording`; ``values`` hold ``h``, ``y``, ``w``
        ``(B, seed, epochs + 1, P, P)``, ``loss`` and ``mean_err`` ``(B, seed, epochs + 1)``.

    Raises:
        learndyn.core.engine.DivergenceError: at the first epoch whose loss is not finite.
    """
    arch.check()
    n = np.asarray(x).shape[0]
    args = {"x": jnp.asarray(np.asarray(x, float)), "y": jnp.asarray(np.asarray(y, float)),
            "gain": jnp.asarray(np.broadcast_to(np.asarray(gain, float), (n,))),
            "lr": jnp.asarray(np.broadcast_to(np.asarray(lr, float), (n,)))}
    start, step, observe, finite = _program(arch, optimizer, convention, dtype)
    return simulate(start, step, observe, seeds=seeds, record_at=np.arange(epochs + 1),
                    args=args, batched=True, finite=finite, progress=progress, label=label,
                    n_chunks=max(1, -(-epochs // chunk)))
