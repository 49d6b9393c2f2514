"""Online data of the teacher-student setup (Goldt et al., NeurIPS 2019).

Every SGD step sees a fresh input x ~ N(0, I_N) and a fresh label-noise variable zeta ~ N(0, 1)
(the label is y = phi*(x) + sigma zeta): N + 1 standard normals per step. :func:`block` draws
them for B consecutive steps at once (one generator call per block, inside the compiled loop);
:func:`sample` draws one step's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["block", "sample"]


def sample(key: jax.Array, N: int, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """(x, zeta): an input of dimension ``N`` and one label-noise variable, i.i.d. N(0, 1)."""
    z = jax.random.normal(key, (N + 1,), dtype=dtype)
    return z[:N], z[N]


def block(key: jax.Array, B: int, N: int, dtype=jnp.float32) -> jax.Array:
    """(B, N + 1) i.i.d. N(0, 1): row s holds (x, zeta) of the block's s-th step."""
    return jax.random.normal(key, (B, N + 1), dtype=dtype)
