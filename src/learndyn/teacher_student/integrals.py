r"""Gaussian averages over the local fields of two-layer networks (float64, vectorised).

For jointly Gaussian fields with covariance ``C`` (entries ``C_ab``, indices in argument order)
and an activation g, the ODEs of Saad & Solla (PRL 74, 4337, 1995) and Goldt et al. (NeurIPS
2019) need

.. math::

    I_2 = \langle g(a) g(b)\rangle,\quad I_3 = \langle g'(a)\, b\, g(c)\rangle,\quad
    I_4 = \langle g'(a) g'(b) g(c) g(d)\rangle,\quad J_2 = \langle g'(a) g'(b)\rangle .

Each function below takes the covariance entries as arrays that broadcast against each other
(same rank; the package runs with ``jax_numpy_rank_promotion="raise"``) and returns the average.

**erf**, g(x) = erf(x/sqrt 2) (Saad & Solla 1995; Biehl & Schwarze 1995):

- I2 = (2/pi) arcsin(C12 / sqrt((1+C11)(1+C22)))
- J2 = (2/pi) / sqrt((1+C11)(1+C22) - C12^2)
- I3 = (2/pi) [C23(1+C11) - C12 C13] / [(1+C11) sqrt(L3)],  L3 = (1+C11)(1+C33) - C13^2
- I4 = (4/pi^2) L4^{-1/2} arcsin(L0 / sqrt(L1 L2)) with L4, L0, L1, L2 as in :func:`erf_i4`.

**linear**: I2 = C12, I3 = C23, I4 = C34, J2 = 1.

**ReLU**, g(x) = max(0, x), g'(x) = 1[x > 0] (closed forms; no ReLU I4 is provided):

- I2 = sqrt(C11 C22)/(2 pi) [sin t + (pi - t) cos t], cos t = C12/sqrt(C11 C22) (the
  arc-cosine kernel of Cho & Saul 2009);
- J2 = P(a > 0, b > 0) = 1/4 + arcsin(r12)/(2 pi), r12 = C12/sqrt(C11 C22);
- I3: Gaussian integration by parts in the middle field b gives
  <1[a>0] b relu(c)> = C12 <delta(a) relu(c)> + C23 <1[a>0] 1[c>0]>, and
  <delta(a) relu(c)> = sqrt(C11 C33 - C13^2) / (2 pi C11), so
  I3 = C12 sqrt(C11 C33 - C13^2)/(2 pi C11) + C23 [1/4 + arcsin(r13)/(2 pi)].

Arcsine arguments are clipped to [-1, 1] and square roots at 0 (rounding can push exactly
degenerate covariances, such as a field with itself, just outside).
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "FUNCTIONS", "I2", "I3", "I4", "J2", "has_i4"]

_TINY = 1e-300


def _asin(x):
    return jnp.arcsin(jnp.clip(x, -1.0, 1.0))


def _sqrt(x):
    return jnp.sqrt(jnp.maximum(x, 0.0))


# ---- erf ----------------------------------------------------------------------------------
def erf_i2(c11, c12, c22):
    return (2.0 / jnp.pi) * _asin(c12 / jnp.sqrt((1.0 + c11) * (1.0 + c22)))


def erf_j2(c11, c12, c22):
    return (2.0 / jnp.pi) / _sqrt((1.0 + c11) * (1.0 + c22) - c12**2)


def erf_i3(c11, c12, c13, c22, c23, c33):
    del c22  # the middle field enters linearly: only its covariances matter
    lam3 = (1.0 + c11) * (1.0 + c33) - c13**2
    return (2.0 / jnp.pi) * (c23 * (1.0 + c11) - c12 * c13) / ((1.0 + c11) * _sqrt(lam3))


def erf_i4(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44):
    lam4 = (1.0 + c11) * (1.0 + c22) - c12**2
    lam0 = (lam4 * c34 - c23 * c24 * (1.0 + c11) - c13 * c14 * (1.0 + c22)
            + c12 * c13 * c24 + c12 * c14 * c23)
    lam1 = lam4 * (1.0 + c33) - c23**2 * (1.0 + c11) - c13**2 * (1.0 + c22) + 2.0 * c12 * c13 * c23
    lam2 = lam4 * (1.0 + c44) - c24**2 * (1.0 + c11) - c14**2 * (1.0 + c22) + 2.0 * c12 * c14 * c24
    return (4.0 / jnp.pi**2) / _sqrt(lam4) * _asin(lam0 / _sqrt(lam1 * lam2))


# ---- linear -------------------------------------------------------------------------------
def linear_i2(c11, c12, c22):
    return c12 + 0.0 * (c11 + c22)


def linear_j2(c11, c12, c22):
    return jnp.ones_like(c11 + c12 + c22)


def linear_i3(c11, c12, c13, c22, c23, c33):
    return c23 + 0.0 * (c11 + c12 + c13 + c22 + c33)


def linear_i4(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44):
    return c34 + 0.0 * (c11 + c12 + c13 + c14 + c22 + c23 + c24 + c33 + c44)


# ---- ReLU ---------------------------------------------------------------------------------
def _corr(c12, c11, c22):
    return jnp.clip(c12 / jnp.maximum(jnp.sqrt(c11 * c22), _TINY), -1.0, 1.0)


def relu_i2(c11, c12, c22):
    norm = _sqrt(c11 * c22)
    cos = _corr(c12, c11, c22)
    theta = jnp.arccos(cos)
    return norm / (2.0 * jnp.pi) * (_sqrt(1.0 - cos**2) + (jnp.pi - theta) * cos)


def relu_j2(c11, c12, c22):
    return 0.25 + _asin(_corr(c12, c11, c22)) / (2.0 * jnp.pi)


def relu_i3(c11, c12, c13, c22, c23, c33):
    del c22
    delta_term = c12 * _sqrt(c11 * c33 - c13**2) / (2.0 * jnp.pi * jnp.maximum(c11, _TINY))
    return delta_term + c23 * relu_j2(c11, c13, c33)


FUNCTIONS = {
    "erf": {"I2": erf_i2, "I3": erf_i3, "I4": erf_i4, "J2": erf_j2},
    "linear": {"I2": linear_i2, "I3": linear_i3, "I4": linear_i4, "J2": linear_j2},
    "relu": {"I2": relu_i2, "I3": relu_i3, "J2": relu_j2},
}
ACTIVATIONS = tuple(FUNCTIONS)


def has_i4(activation: str) -> bool:
    """Whether the ODE (which needs I4) is available for ``activation``."""
    return "I4" in FUNCTIONS[activation]


def _entries(C, n):
    C = jnp.asarray(C, dtype=jnp.float64)
    if C.shape[-2:] != (n, n):
        raise ValueError(f"expected covariances of shape (..., {n}, {n}), got {C.shape}")
    return [C[..., a, b] for a in range(n) for b in range(a, n)]


def I2(C, activation: str = "erf"):
    """<g(a) g(b)> for covariances ``C`` of shape (..., 2, 2)."""
    return FUNCTIONS[activation]["I2"](*_entries(C, 2))


def J2(C, activation: str = "erf"):
    """<g'(a) g'(b)> for covariances ``C`` of shape (..., 2, 2)."""
    return FUNCTIONS[activation]["J2"](*_entries(C, 2))


def I3(C, activation: str = "erf"):
    """<g'(a) b g(c)> for covariances ``C`` of shape (..., 3, 3)."""
    return FUNCTIONS[activation]["I3"](*_entries(C, 3))


def I4(C, activation: str = "erf"):
    """<g'(a) g'(b) g(c) g(d)> for covariances ``C`` of shape (..., 4, 4) (erf and linear)."""
    if not has_i4(activation):
        raise ValueError(f"no I4 for activation '{activation}'")
    return FUNCTIONS[activation]["I4"](*_entries(C, 4))
