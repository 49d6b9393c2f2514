r"""Control types: how a control signal c enters the average learning dynamics.

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919. Each type gives the controlled vector field F(W, c),
the loss L(W, c) that enters the value, and the cost C(c); at its neutral value c0 every type is
exactly the uncontrolled two-layer flow of :func:`learndyn.deep_linear.theory.flow_field` with
weight decay lambda (the single-neuron type: the one-weight flow dw/dt = Sigma_yx - Sigma_x w -
lambda w). W~ = W (.) (1 + G) is the gained weight; E = Sigma_yx - W Sigma_x.

=============  ==  ===================================================  ========================
type           c0  field F                                              cost C
=============  ==  ===================================================  ========================
single neuron  0   (1+g) Sigma_yx - (1+g)^2 Sigma_x w - lambda w        beta g^2
gain           0   [flow of W~] (.) (1 + G) - lambda W                  exp(beta sum G^2) - 1
learning rate  0   (1 + u) F_0                                          beta (u - u0)^2
engagement     1   W2^T D E - lambda W1, D E W1^T - lambda W2;          beta sum (psi - r)^2;
                   D = diag(psi of each output's task)                  r = 0 (active) or
                                                                        1 (attention)
category       1   the same with D = diag(psi^2) (one psi per output)   beta (sum psi^2 - O)^2/O
none           --  F_0 (MAML-like initialisation problems)              0
=============  ==  ===================================================  ========================

The loss is the population loss of :func:`learndyn.deep_linear.theory.population_loss` (with
weight decay on the raw weights); the gain types evaluate its data term at W~. Functions take
(w, c, stats, params): ``stats`` a :class:`~learndyn.learning_effort.data.Stats` of jax arrays,
``params`` a dict with ``lam``, ``beta`` and, for engagement, ``groups`` (outputs x tasks, 0/1)
and ``reference`` (r).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp

from ..deep_linear.theory import flow_field, population_loss

__all__ = [
    "CATEGORY",
    "ENGAGEMENT",
    "GAIN",
    "LEARNING_RATE",
    "NONE",
    "SINGLE_NEURON",
    "ControlType",
]


class ControlType(NamedTuple):
    """How a control enters the dynamics: ``field(w, c, s, prm)``, ``loss(w, c, s, prm)``,
    ``cost(c, prm)``, and the neutral value at which the flow is uncontrolled."""

    name: str
    neutral: float
    field: Callable
    loss: Callable
    cost: Callable


def _sq(tree) -> jnp.ndarray:
    return sum(jnp.sum(a**2) for a in (tree if isinstance(tree, tuple) else (tree,)))


# ---- single neuron: y^ = (1 + g) w x ------------------------------------------------------
def _single_field(w, g, s, prm):
    a = 1.0 + g
    return a * s.sigma_yx[0, 0] - a * a * s.sigma_x[0, 0] * w - prm["lam"] * w


def _single_loss(w, g, s, prm):
    a = 1.0 + g
    data = s.sigma_y[0, 0] - 2.0 * a * w * s.sigma_yx[0, 0] + a * a * w * w * s.sigma_x[0, 0]
    return 0.5 * data + 0.5 * prm["lam"] * w * w


def _quadratic(c, prm):
    return prm["beta"] * _sq(c)


# ---- per-weight gains ---------------------------------------------------------------------
def _gained(w, c):
    return tuple(W * (1.0 + G) for W, G in zip(w, c))


def _gain_field(w, c, s, prm):
    d1, d2 = flow_field(*_gained(w, c), s.sigma_yx, s.sigma_x)
    return d1 * (1.0 + c[0]) - prm["lam"] * w[0], d2 * (1.0 + c[1]) - prm["lam"] * w[1]


def _gain_loss(w, c, s, prm):
    return population_loss(*_gained(w, c), s.sigma_yx, s.sigma_y, s.sigma_x) + 0.5 * prm[
        "lam"] * _sq(w)


def _exp_cost(c, prm):
    return jnp.expm1(prm["beta"] * _sq(c))


# ---- plain flow, learning rate, output weighting ------------------------------------------
def _plain_field(w, c, s, prm, weights=None):
    return flow_field(*w, s.sigma_yx, s.sigma_x, lam=prm["lam"], output_weights=weights)


def _plain_loss(w, c, s, prm):
    return population_loss(*w, s.sigma_yx, s.sigma_y, s.sigma_x, lam=prm["lam"])


def _rate_field(w, u, s, prm):
    return tuple((1.0 + u) * d for d in _plain_field(w, u, s, prm))


def _rate_cost(u, prm):
    return prm["beta"] * (u - prm["u0"]) ** 2


def _engagement_field(w, psi, s, prm):
    return _plain_field(w, psi, s, prm, prm["groups"] @ psi)


def _engagement_cost(psi, prm):
    return prm["beta"] * jnp.sum((psi - prm["reference"]) ** 2)


def _category_field(w, psi, s, prm):
    return _plain_field(w, psi, s, prm, psi**2)


def _budget_cost(psi, prm):
    n = psi.shape[-1]
    return prm["beta"] * (jnp.sum(psi**2) - n) ** 2 / n


def _zero_cost(c, prm):
    return jnp.zeros((), jnp.result_type(float))


SINGLE_NEURON = ControlType("single_neuron", 0.0, _single_field, _single_loss, _quadratic)
GAIN = ControlType("gain", 0.0, _gain_field, _gain_loss, _exp_cost)
LEARNING_RATE = ControlType("learning_rate", 0.0, _rate_field, _plain_loss, _rate_cost)
ENGAGEMENT = ControlType("engagement", 1.0, _engagement_field, _plain_loss, _engagement_cost)
CATEGORY = ControlType("category", 1.0, _category_field, _plain_loss, _budget_cost)
NONE = ControlType("none", 0.0, _plain_field, _plain_loss, _zero_cost)
