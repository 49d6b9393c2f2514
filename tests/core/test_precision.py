"""``core.precision.float64``: float64 inside, the caller's mode untouched outside."""

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.core.precision import float64


@float64
def third(x):
    return {"y": jnp.asarray(x) / 3.0, "n": 1}


def test_float64_runs_in_64_bit_and_returns_numpy():
    with jax.enable_x64(False):
        out = third(1.0)
        assert not jax.config.jax_enable_x64
        assert jnp.ones(1).dtype == jnp.float32
    assert isinstance(out["y"], np.ndarray) and out["y"].dtype == np.float64
    assert out["y"] == 1.0 / 3.0 and out["n"] == 1
