"""Online data of the teacher-student setup (Goldt et al., NeurIPS 2019).

Every SGD step sees a fresh input x ~ N(0, I_N) and a fresh label-noise variable zeta ~ N(0, 1)
(the label is y = phi*(x) + sigma zeta): N + 1 standard normals per step. :func:`block` draws
them for B consecutive steps at once (one batched generator call, inside the compiled loop):
the numbers of step t are row t mod U of normal(fold_in(key, t // U), (U, N + 1)) with U = 4,
whatever B (a multiple of U), so a run's data do not depend on how it is blocked.
:func:`sample` draws one step's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["UNIT", "block", "sample"]

UNIT = 4  # steps per generator key


def sample(key: jax.Array, N: int, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """(x, zeta): an input of dimension ``N`` and one label-noise variable, i.i.d. N(0, 1)."""
    z = jax.random.normal(key, (N + 1,), dtype=dtype)
    return z[:N], z[N]


def block(key: jax.Array, b, B: int, N: int, dtype=jnp.float32) -> jax.Array:
    """(B, N + 1) i.i.d. N(0, 1): row s holds (x, zeta) of step b B + s (B a multiple of UNIT)."""
    units = b * (B // UNIT) + jnp.arange(B // UNIT)
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, units)
    z = jax.vmap(lambda k: jax.random.normal(k, (UNIT, N + 1), dtype=dtype))(keys)
    return z.reshape(B, N + 1)
