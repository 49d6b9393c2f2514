r"""Exact learning dynamics of deep linear networks (float64).

Reference: A. M. Saxe, J. L. McClelland, S. Ganguli, *Exact solutions to the nonlinear dynamics
of learning in deep linear neural networks*, ICLR 2014 (arXiv:1312.6120).

With whitened inputs (Sigma_xx = I), gradient flow tau dW_l/dt = -dL/dW_l decouples along the
SVD Sigma_yx = U S V^T when the weights start aligned and balanced. Mode alpha's product
strength u = a^D (every layer carrying a) then obeys

.. math:: \tau \dot u = D\, u^{2 - 2/D} (s - u),

which for D = 2 is the logistic equation :math:`\tau \dot u = 2u(s-u)` with the solution

.. math:: u(t) = \frac{s}{1 + (s/u_0 - 1)\, e^{-2 s t/\tau}}

and the time from :math:`u_0` to :math:`u_f`

.. math:: t = \frac{\tau}{2s}\ln\frac{u_f (s-u_0)}{u_0 (s-u_f)},\qquad
          t_{1/2} = \frac{\tau}{2s}\ln\frac{s-u_0}{u_0} \approx \frac{\tau}{2s}\ln\frac{s}{u_0}.

For D > 2 there is no elementary closed form: the scalar ODE is integrated (diffrax, rtol 1e-10)
and the time to reach u is the quadrature :math:`t = (\tau/D)\int_{u_0}^{u} dv/(v^{2-2/D}(s-v))`.
The loss is :math:`L = \tfrac12\sum_\alpha (s_\alpha-u_\alpha)^2 + L_\infty`: a staircase whose
drops come at the half times, strongest mode first.

This module is the family's theory in one place. lambda-balanced two-layer networks (Dominé et
al., ICLR 2025) are implemented in :mod:`learndyn.deep_linear.balanced` (the matrix solutions
B1-B3: :func:`qqt_trajectory` gives the exact function W2 W1 and representations W1^T W1,
W2 W2^T over time for any dimensions; the numerical reference :func:`gradient_flow`) and
:mod:`learndyn.deep_linear.balanced_modes` (B4-B6: :func:`mode_trajectory` for one aligned
mode at any lambda, :func:`product_rhs`, :func:`final_representations`); their public names,
and :func:`lambda_balanced_init` from :mod:`learndyn.deep_linear.model`, are available here
too: each is defined once, and this module's ``__all__`` is built from theirs.

Closed forms and integrations compute in JAX's 64-bit mode whatever the caller's setting
(:func:`learndyn.core.precision.float64`) and return NumPy float64 arrays; the right-hand sides
(``*_rhs``) are plain JAX functions for use inside compiled code.

The vector field and loss of gradient flow for any input covariance, weight decay and output
weights (:func:`flow_field`, :func:`population_loss`) are in :mod:`learndyn.deep_linear.flow`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy.integrate import quad

from ..core import ode
from ..core.precision import float64
from . import balanced, balanced_modes
from .balanced import *  # noqa: F403  (the lambda-balanced matrix solutions, B1-B3)
from .balanced_modes import *  # noqa: F403  (one mode, product only, t -> infinity: B4-B6)
from .balanced_modes import broadcast_f64
from .flow import flow_field, population_loss  # noqa: F401  (public here too)
from .model import check_lambda_dims, lambda_balanced_init  # noqa: F401  (public here too)

_SAXE = ["deep_mode_rhs", "half_time", "mode_deep", "mode_loss", "mode_saxe", "mode_time"]
__all__ = sorted([*_SAXE, *balanced.__all__, *balanced_modes.__all__, "check_lambda_dims",
                  "flow_field", "lambda_balanced_init", "population_loss"])


@float64
def mode_saxe(s, u0, t, tau: float = 1.0):
    """Two-layer mode strength u(t) = s / (1 + (s/u0 - 1) e^{-2st/tau}) (no overflow).

    Arguments broadcast against each other.
    """
    s, u0, t = broadcast_f64(s, u0, t)
    return s / (1.0 + (s / u0 - 1.0) * jnp.exp(-2.0 * s * t / tau))


def deep_mode_rhs(t, u, args):
    """tau du/dt = D u^{2 - 2/D} (s - u); ``args = (s, depth, tau)``."""
    s, depth, tau = args
    return depth * jnp.abs(u) ** (2.0 - 2.0 / depth) * (s - u) / tau


@float64
def mode_deep(s, u0, times, *, depth: int, tau: float = 1.0) -> np.ndarray:
    """Mode strengths u(times) of a depth-D aligned balanced network, shape (time, *u0.shape).

    D = 2 uses the closed form; D > 2 integrates :func:`deep_mode_rhs`.
    """
    s, u0 = broadcast_f64(s, u0)
    times = jnp.asarray(times, dtype=jnp.float64)
    if depth == 2:
        return mode_saxe(s[None], u0[None], times.reshape((-1,) + (1,) * s.ndim), tau)
    return ode.solve(deep_mode_rhs, u0, times, args=(s, float(depth), tau))


def mode_time(s: float, u0: float, u: float, *, depth: int = 2, tau: float = 1.0) -> float:
    """Time for a mode to grow from ``u0`` to ``u`` (0 < u0, u < s)."""
    if not 0 < u0 < s or not 0 < u < s:
        raise ValueError(f"need 0 < u0, u < s; got u0={u0}, u={u}, s={s}")
    if depth == 2:
        return tau / (2 * s) * float(np.log(u * (s - u0) / (u0 * (s - u))))
    # t = (tau/D) int dv / (v^{2-2/D}(s-v)); with v = e^x the integrand is smooth in x.
    power = -1.0 + 2.0 / depth
    value, _ = quad(lambda x: np.exp(x * power) / (s - np.exp(x)), np.log(u0), np.log(u),
                    epsabs=0.0, epsrel=1e-13, limit=200)
    return tau / depth * value


def half_time(s: float, u0: float, *, depth: int = 2, tau: float = 1.0) -> float:
    """t_1/2: time to reach s/2; for D = 2, (tau/2s) ln((s - u0)/u0)."""
    return mode_time(s, u0, s / 2, depth=depth, tau=tau)


@float64
def mode_loss(u, s, offset: float = 0.0):
    """L = 1/2 sum_alpha (s_alpha - u_alpha)^2 + offset, summing the last axis."""
    s, u = broadcast_f64(s, u)
    return 0.5 * jnp.sum((s - u) ** 2, axis=-1) + offset
