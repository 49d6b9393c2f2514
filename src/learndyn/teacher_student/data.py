"""Online data of the teacher-student setup (Goldt et al., NeurIPS 2019).

Every SGD step sees a fresh input x ~ N(0, I_N) and a fresh label-noise variable zeta ~ N(0, 1)
(the label is y = phi*(x) + sigma zeta). Both come from one draw of N + 1 standard normals from
the step's key, so the sample is made inside the compiled loop at no extra key split.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["sample"]


def sample(key: jax.Array, N: int, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """(x, zeta): an input of dimension ``N`` and one label-noise variable, i.i.d. N(0, 1)."""
    z = jax.random.normal(key, (N + 1,), dtype=dtype)
    return z[:N], z[N]
