"""Deep linear networks f(x) = W_D ... W_1 x (no biases), as tuples of weight matrices.

Initialisations (Saxe, McClelland & Ganguli, ICLR 2014):

- aligned, balanced: W_l = R_l diag(a0) R_{l-1}^T on the r task modes, with R_0 = V, R_D = U
  (the task's singular vectors) and hidden R_l (N_h x r) with random orthonormal columns, so the
  product is U diag(a0^D) V^T: every mode starts at u0 = a0^D and stays decoupled;
- random: i.i.d. N(0, scale^2) entries (small scale = rich regime).

Loss: L(W) = (c/2) ||Y - W_D...W_1 X||_F^2.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

__all__ = ["init_aligned", "init_random", "loss", "product"]

Weights = tuple[jax.Array, ...]


def product(weights: Sequence[jax.Array]) -> jax.Array:
    """W_D ... W_1 for weights ordered (W_1, ..., W_D)."""
    out = weights[0]
    for w in weights[1:]:
        out = w @ out
    return out


def loss(weights: Sequence[jax.Array], batch: dict) -> jax.Array:
    """(c/2) ||Y - W_prod X||_F^2 with ``batch = {"X", "Y", "c"}`` (cast to the weights' dtype)."""
    dtype = weights[0].dtype
    X, Y = batch["X"].astype(dtype), batch["Y"].astype(dtype)
    residual = Y - product(weights) @ X
    return 0.5 * batch["c"].astype(dtype) * jnp.sum(residual**2)


def init_aligned(key: jax.Array, U: jax.Array, V: jax.Array, *, n_hidden: int, depth: int,
                 u0: jax.Array, dtype=jnp.float32) -> Weights:
    """Balanced weights aligned with the task modes; product mode strengths all equal ``u0``."""
    r = U.shape[1]
    a0 = u0 ** (1.0 / depth)
    frames = [V]
    for k in jax.random.split(key, depth - 1):
        q, _ = jnp.linalg.qr(jax.random.normal(k, (n_hidden, r), dtype=jnp.float64))
        frames.append(q)
    frames.append(U)
    return tuple(
        (a0 * frames[l + 1] @ frames[l].T).astype(dtype) for l in range(depth)
    )


def init_random(key: jax.Array, dims: Sequence[int], *, scale: jax.Array,
                dtype=jnp.float32) -> Weights:
    """Weights W_l of shape (dims[l+1], dims[l]) with i.i.d. N(0, scale^2) entries."""
    keys = jax.random.split(key, len(dims) - 1)
    return tuple(
        (scale * jax.random.normal(k, (dims[l + 1], dims[l]), dtype=jnp.float64)).astype(dtype)
        for l, k in enumerate(keys)
    )
