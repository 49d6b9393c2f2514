"""Online data of the teacher-student setup (Goldt et al., NeurIPS 2019).

Every SGD step sees a fresh input x ~ N(0, I_N) and a fresh label-noise variable zeta ~ N(0, 1)
(the label is y = phi*(x) + sigma zeta): N + 1 standard normals per step, more work than the SGD
step itself. Inside the compiled loop they come from a :class:`Stream`: U (N + 1) XORWOW
generators (Marsaglia, "Xorshift RNGs", J. Stat. Softw. 8(14), 2003; the default generator of
cuRAND) advanced in lock-step, every lane's 192-bit state drawn from the run's key by threefry.
XORWOW's update is

    t = x ^ (x >> 2);  (x, y, z, w) <- (y, z, w, v);  v <- (v ^ (v << 4)) ^ (t ^ (t << 1));
    d <- d + 362437;   output v + d,

six integer operations, where a counter-based threefry draw costs some eighty. Each advance
gives U steps (substream u holds steps = u mod U), and five advances return the five words to
their places, so :func:`draw` makes the numbers of 5 U consecutive steps at once with no copies.
U = max(1, 16384 // (N + 1)) keeps every array op over ~16k lanes, where per-operation costs
stop dominating (U = 32 at N = 500). A run's data depend only on its key, N and the step: not
on the number of seeds or where records fall. State and draw take 44 U (N + 1) bytes a seed.

A uniform u on the open grid (2k + 1) / 2^(b+1) - 1, k < 2^b (b = 24 bits for float32, 53 from
two outputs for float64), becomes z = sqrt(2) erfinv(u): |z| <= 5.4 (float32) or 8.3 (float64).
:func:`sample` draws one step's numbers with threefry, outside any loop.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["GROUP", "Stream", "draw", "sample", "steps_per_draw", "stream", "substreams"]

GROUP = 5  # advances per draw: XORWOW's five words are back in place after five
_WEYL = 362437


class Stream(NamedTuple):
    """XORWOW state of every lane: the five xorshift words (lanes,) and the Weyl counter d."""

    words: tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]
    d: jax.Array


def substreams(N: int) -> int:
    """Substreams U: steps per advance (about 16k numbers per advance)."""
    return max(1, 16384 // (N + 1))


def steps_per_draw(N: int) -> int:
    """Steps whose numbers one :func:`draw` makes: 5 U."""
    return GROUP * substreams(N)


def _lanes(N: int, dtype) -> int:
    return substreams(N) * (N + 1) * (2 if jnp.dtype(dtype).itemsize == 8 else 1)


def stream(key: jax.Array, N: int, dtype=jnp.float32) -> Stream:
    """A fresh stream for inputs of dimension ``N`` in ``dtype`` (random state from ``key``)."""
    bits = jax.random.bits(key, (6, _lanes(N, dtype)), jnp.uint32)
    x = bits[0] | jnp.uint32(1)  # the five words must not all be zero
    return Stream((x, bits[1], bits[2], bits[3], bits[4]), bits[5])


def _normal(bits: jax.Array, dtype) -> jax.Array:
    """sqrt(2) erfinv of the uniform grid point of ``bits`` (last axis: lanes)."""
    if jnp.dtype(dtype).itemsize == 8:
        hi, lo = bits[..., 0::2].astype(jnp.int64) >> 5, bits[..., 1::2].astype(jnp.int64) >> 6
        k, b = (hi << 26) | lo, 53
    else:
        k, b = (bits >> 8).astype(jnp.int32), 24
    u = (2 * k + 1 - (1 << b)).astype(dtype) * jnp.asarray(2.0**-b, dtype)  # exact
    return jnp.sqrt(jnp.asarray(2.0, dtype)) * jax.lax.erf_inv(u)


def draw(s: Stream, N: int, dtype=jnp.float32) -> tuple[Stream, jax.Array]:
    """Advance five times: (steps_per_draw(N), N + 1) i.i.d. N(0, 1), row j = step j's (x, zeta)."""
    x, y, z, w, v = s.words
    out = []
    for j in range(1, GROUP + 1):
        t = x ^ (x >> 2)
        x, y, z, w, v = y, z, w, v, (v ^ (v << 4)) ^ (t ^ (t << 1))
        out.append(v + (s.d + jnp.uint32(j * _WEYL)))
    numbers = _normal(jnp.stack(out), dtype).reshape(steps_per_draw(N), N + 1)
    return Stream((x, y, z, w, v), s.d + jnp.uint32(GROUP * _WEYL)), numbers


def sample(key: jax.Array, N: int, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """(x, zeta): an input of dimension ``N`` and one label-noise variable, i.i.d. N(0, 1)."""
    z = jax.random.normal(key, (N + 1,), dtype=dtype)
    return z[:N], z[N]
