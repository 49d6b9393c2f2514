r"""Two-layer teacher and student networks and their online SGD step (Goldt et al., NeurIPS 2019).

Student phi(x) = sum_k v_k g(lambda_k), lambda_k = w_k x / sqrt(N); teacher
phi*(x) = sum_m v*_m g(rho_m), rho_m = w*_m x / sqrt(N); labels y = phi*(x) + sigma zeta with
x ~ N(0, I_N), zeta ~ N(0, 1) fresh at every step. With Delta = phi(x) - y, one SGD step on the
loss Delta^2 / 2 is

.. math::

    w_k \leftarrow (1 - \kappa/N) w_k - \frac{\eta}{\sqrt N} v_k g'(\lambda_k) \Delta\, x, \qquad
    v_k \leftarrow (1 - \kappa/N) v_k - \frac{\eta_v}{N} g(\lambda_k) \Delta

(second layer only when trained), i.e. plain SGD on Delta^2/2 with per-layer rates lr and lr_v/N
(the gradient of Delta^2/2 with respect to w_k is v_k g'(lambda_k) Delta x / sqrt N). Time is
t = steps / N. Activations: ``erf`` g(x) = erf(x/sqrt 2); ``relu``; ``linear``.

``g`` may also be a traced integer index into :data:`ACTIVATIONS` (one compiled program for
students of several activations; every branch is computed and one selected).

Initialisation: teacher w*_mi ~ N(0, 1) and v* = ``vstar`` (or N(0, 1)); student
w_ki ~ N(0, init_std^2) and, when the second layer is trained, v_k ~ N(0, v_init_std^2),
otherwise v_k = v_fixed. Keys for teacher and student are split from the seed's init key.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

__all__ = ["ACTIVATIONS", "Networks", "activation", "derivative", "init", "order_parameters",
           "output", "sgd_step", "sgd_update"]

ACTIVATIONS = ("erf", "relu", "linear")
_SQRT2 = 2.0**0.5


def activation(name, x):
    """g(x) for ``name`` in erf (erf(x/sqrt 2)), relu, linear (or its index in ACTIVATIONS)."""
    if not isinstance(name, str):
        return jnp.select([name == 0, name == 1], [activation("erf", x), activation("relu", x)],
                          activation("linear", x))
    if name == "erf":
        return erf(x / _SQRT2)
    if name == "relu":
        return jnp.maximum(x, 0.0)
    if name == "linear":
        return x
    raise ValueError(f"unknown activation '{name}'")


def derivative(name, x):
    """g'(x): sqrt(2/pi) exp(-x^2/2) (erf), 1[x > 0] (relu), 1 (linear)."""
    if not isinstance(name, str):
        return jnp.select([name == 0, name == 1], [derivative("erf", x), derivative("relu", x)],
                          derivative("linear", x))
    if name == "erf":
        return jnp.sqrt(2.0 / jnp.pi) * jnp.exp(-0.5 * x * x)
    if name == "relu":
        return (x > 0).astype(x.dtype)
    if name == "linear":
        return jnp.ones_like(x)
    raise ValueError(f"unknown activation '{name}'")


class Networks(NamedTuple):
    """Student (w, v) and teacher (wstar, vstar) weights of one seed."""

    w: jax.Array  # (K, N)
    v: jax.Array  # (K,)
    wstar: jax.Array  # (M, N)
    vstar: jax.Array  # (M,)


def init(key, *, N: int, K: int, M: int, init_std, v_init, v_init_std, vstar_value,
         vstar_random: bool, active=None, dtype=jnp.float32) -> Networks:
    """Draw teacher and student weights (see the module docstring).

    ``v_init`` is the constant second-layer value used when ``v_init_std`` is 0 (first layer
    only); otherwise v ~ N(0, v_init_std^2). ``active`` (K,) of 0/1 switches students off: an
    inactive unit starts at w = 0, v = 0 and stays there (its SGD updates are proportional to
    v and to g(0) = 0), so students of several widths can share one program of width K.
    """
    k_teacher, k_vstar, k_student, k_v = jax.random.split(key, 4)
    wstar = jax.random.normal(k_teacher, (M, N), dtype=jnp.float64)
    vstar = jnp.where(vstar_random, jax.random.normal(k_vstar, (M,), dtype=jnp.float64),
                      vstar_value * jnp.ones(M))
    w = init_std * jax.random.normal(k_student, (K, N), dtype=jnp.float64)
    v = jnp.where(v_init_std > 0, v_init_std * jax.random.normal(k_v, (K,), dtype=jnp.float64),
                  v_init * jnp.ones(K))
    if active is not None:
        w, v = w * active[:, None], v * active
    return Networks(w.astype(dtype), v.astype(dtype), wstar.astype(dtype), vstar.astype(dtype))


def output(g: str, w, v, x):
    """Network output sum_k v_k g(w_k x / sqrt N) for one input ``x`` (N,)."""
    return v @ activation(g, w @ x / jnp.sqrt(jnp.asarray(x.shape[-1], x.dtype)))


def sgd_step(nets: Networks, x, noise, *, g: str, lr, lr2, sigma, weight_decay,
             train_v: bool) -> Networks:
    """One online SGD step on the sample (x, y = phi*(x) + sigma noise); teacher unchanged."""
    return sgd_update(nets, x, noise, g=g, lr=lr, lr2=lr2, sigma=sigma,
                      weight_decay=weight_decay, train_v=train_v)[0]


def sgd_update(nets: Networks, x, noise, *, g, lr, lr2, sigma, weight_decay,
               train_v: bool) -> tuple[Networks, jax.Array]:
    """:func:`sgd_step` that also returns the error Delta = phi(x) - y it stepped on."""
    dtype = nets.w.dtype
    N = x.shape[-1]
    sqrt_n = jnp.sqrt(jnp.asarray(N, dtype))
    lam = nets.w @ x / sqrt_n
    rho = nets.wstar @ x / sqrt_n
    g_lam = activation(g, lam)
    delta = nets.v @ g_lam - nets.vstar @ activation(g, rho) - sigma * noise
    shrink = 1.0 - weight_decay / N
    coeff = (lr / sqrt_n) * nets.v * derivative(g, lam) * delta  # (K,)
    w = shrink * nets.w - coeff[:, None] * x[None, :]
    v = shrink * nets.v - (lr2 / N) * g_lam * delta if train_v else nets.v
    return Networks(w.astype(dtype), v.astype(dtype), nets.wstar, nets.vstar), delta


def order_parameters(nets: Networks) -> dict[str, jax.Array]:
    """Q = w w^T/N, R = w w*^T/N, T = w* w*^T/N, v, v* (computed in float64)."""
    w, ws = nets.w.astype(jnp.float64), nets.wstar.astype(jnp.float64)
    N = w.shape[-1]
    return {"Q": w @ w.T / N, "R": w @ ws.T / N, "T": ws @ ws.T / N,
            "v": nets.v.astype(jnp.float64), "vstar": nets.vstar.astype(jnp.float64)}
