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
from functools import partial
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..core.engine import DivergenceError, Recording, TrainState
from ..core.study import Progress

__all__ = ["ACTIVATIONS", "Arch", "forward", "init", "loss", "pair_geometry", "representation",
           "train"]

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


def _step_fn(arch: Arch, optimizer: str, convention: str):
    """One training epoch that also returns the observables of the parameters it started from
    (read off the same forward pass, so recording every epoch costs nothing extra)."""
    opt = optax.scale_by_adam() if optimizer == "adam" else optax.identity()

    def objective(params, x, y):
        out, hidden = forward(params, x, arch)
        err = out - y
        value = 0.5 * (jnp.mean(err**2) if convention == "half_mse" else jnp.sum(err**2))
        return value, (out, hidden[arch.layer])

    def step(state, x, y, lr):
        (value, (out, rep)), grads = jax.value_and_grad(objective, has_aux=True)(
            state.params, x, y)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = jax.tree.map(lambda p, u: p - lr * u, state.params, updates)
        mean_err = jnp.sum((jnp.mean(out, 0) - jnp.mean(y, 0)) ** 2)
        obs = {**pair_geometry(rep, out, y), "loss": value, "mean_err": mean_err}
        return TrainState(params, opt_state), obs

    return opt, step


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _start(arch: Arch, optimizer: str, convention: str, dtype: str, n_seed: int, keys, gain):
    """Initial states, shape (B, seed, ...), for keys ``(seed,)`` and gains ``(B,)``."""
    opt, _ = _step_fn(arch, optimizer, convention)

    def one(key, g):
        params = init(key, arch, g, dtype=jnp.dtype(dtype))
        return TrainState(params, opt.init(params))

    return jax.vmap(lambda g: jax.vmap(lambda k: one(k, g))(keys))(gain)


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _advance(arch: Arch, optimizer: str, convention: str, dtype: str, length: int, state, x, y,
             lr):
    """``length`` epochs of every run and seed; observables of every epoch's start."""
    _, step = _step_fn(arch, optimizer, convention)
    dt = jnp.dtype(dtype)

    def run(s, x, y, lr):
        return jax.lax.scan(lambda c, _: step(c, x.astype(dt), y.astype(dt), lr.astype(dt)),
                            s, None, length=length)

    seeds = jax.vmap(run, in_axes=(0, None, None, None))
    return jax.vmap(seeds)(state, x, y, lr)


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _observe_final(arch: Arch, optimizer: str, convention: str, dtype: str, state, x, y):
    _, step = _step_fn(arch, optimizer, convention)
    dt = jnp.dtype(dtype)
    run = lambda s, x, y: step(s, x.astype(dt), y.astype(dt), jnp.zeros((), dt))[1]  # noqa: E731
    return jax.vmap(jax.vmap(run, in_axes=(0, None, None)))(state, x, y)


def _chunks(epochs: int, target: int) -> list[int]:
    """Split ``epochs`` into near-equal chunks of about ``target`` (at most two lengths)."""
    n = max(1, -(-epochs // target))
    q, r = divmod(epochs, n)
    return [q + 1] * r + [q] * (n - r)


def train(arch: Arch, x: np.ndarray, y: np.ndarray, gain: Sequence[float], lr: Sequence[float],
          *, epochs: int, seeds: Sequence[int], optimizer: Literal["sgd", "adam"] = "sgd",
          convention: Convention = "half_mse", dtype: str = "float32", chunk: int = 1000,
          progress: Progress | None = None, label: str = "") -> Recording:
    """Train B networks (one per row of ``x``, ``y``, ``gain``, ``lr``) for every seed.

    All B x seeds runs are one vmapped ``lax.scan`` (compiled once per architecture and chunk
    length); observables are recorded at every epoch 0..epochs.

    Args:
        arch: the architecture (static).
        x, y: data ``(B, P, d_in)`` and ``(B, P, d_out)``.
        gain, lr: init gain and learning rate per run, length B.
        epochs: full-batch steps; control returns to Python every ``chunk`` epochs.

    Returns:
        :class:`learndyn.core.engine.Recording`; ``values`` hold ``h``, ``y``, ``w``
        ``(B, seed, epochs + 1, P, P)``, ``loss`` and ``mean_err`` ``(B, seed, epochs + 1)``.

    Raises:
        learndyn.core.engine.DivergenceError: at the first epoch with a non-finite loss or
            non-finite final parameters.
    """
    arch.check()
    x, y = jnp.asarray(np.asarray(x, float)), jnp.asarray(np.asarray(y, float))
    n = x.shape[0]
    gain = jnp.asarray(np.broadcast_to(np.asarray(gain, float), (n,)))
    lr = jnp.asarray(np.broadcast_to(np.asarray(lr, float), (n,)))
    seeds = [int(s) for s in seeds]
    keys = jnp.stack([jax.random.key(s) for s in seeds])
    static = (arch, optimizer, convention, dtype)
    state = _start(*static, len(seeds), keys, gain)
    pieces, done = [], 0
    for length in _chunks(epochs, chunk):
        state, obs = _advance(*static, length, state, x, y, lr)
        pieces.append(jax.tree.map(np.asarray, obs))
        done += length
        _raise_if_diverged(pieces[-1]["loss"], done - length, seeds)
        if progress is not None:
            progress(done, epochs, label)
    final = jax.tree.map(lambda a: np.asarray(a)[:, :, None], _observe_final(*static, state, x, y))
    pieces.append(final)
    _raise_if_diverged(final["loss"], epochs, seeds)
    values = {k: np.concatenate([p[k] for p in pieces], axis=2) for k in pieces[0]}
    return Recording(np.arange(epochs + 1), values, state)


def _raise_if_diverged(loss: np.ndarray, offset: int, seeds: list[int]) -> None:
    """``loss`` of shape (B, seed, epoch): raise at the first non-finite epoch."""
    bad = ~np.isfinite(loss)
    if bad.any():
        where = np.argwhere(bad)
        first = where[np.argmin(where[:, 2])]
        raise DivergenceError(offset + int(first[2]), seeds[int(first[1])])
