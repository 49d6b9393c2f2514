"""The L1-gated network of Löwe et al. (PLOS Comp Biol 2024) and its two update rules.

Four scalars, weights w_m, w_c and multiplicative input gates g_m, g_c, no bias:

    y_hat = g_m w_m x_m + g_c w_c x_c + eta,   eta ~ N(0, sigma_eta^2),
    loss  = 1/2 (y_hat - y)^2 + lam (|g_m| + |g_c|),

trained online, one update per trial, with data gradients (e = y_hat - y)
dL/dw_m = g_m x_m e, dL/dg_m = w_m x_m e (and the same for colour), learning rate alpha and
update noise xi ~ N(0, sigma_xi^2) on every parameter.

- ``rule="paper"`` (the update as printed): theta <- theta - alpha dL/dtheta + xi;
  gates also g <- g - alpha lam sign(g).
- ``rule="code"`` (the authors' code; reproduces the published numbers):
  theta' = theta - alpha dL/dtheta; g' -= lam sign(g) (not x alpha); theta' += alpha xi; then for
  each gate: if g == 0, g' <- sign(g') max(|g'| - alpha lam, 0) (a resting gate moves only when
  one step exceeds alpha lam); then if g g' < 0 (sign change), g' <- 0.

Options used by the ablations: ``regulariser`` "l2" (lam g instead of lam sign g, no clipping) or
"none"; ``gates="fixed"`` (g = 1, not learned); ``noise_on`` "gates" or "weights"; and
``architecture="hidden"``: gated inputs -> linear hidden layer of width H -> linear output
(y_hat = w_2 . W_1 (g * x) + eta; provisional, the paper's architecture was not available).

Behaviour is analytic (respond, then learn: evaluated with the parameters before the trial's
update). With effective input weights a_m = g_m w_m, a_c = g_c w_c (for the hidden variant
a = g * W_1^T w_2),

    P(correct) = Phi((a_m mu_m + a_c mu_c) / s),
    s^2 = sigma_eta^2 + (a_m sigma_m)^2 + (a_c sigma_c)^2,

with mu_c = 0 where colour is not predictive (code), or, for random-sign colour (paper text),
1/2 [Phi((m + c)/s) + Phi((m - c)/s)], m = a_m mu_m, c = a_c mu_c.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

__all__ = ["DIVERGED", "Network", "Rule", "accuracy", "data_grads", "effective", "init_params",
           "make_rule", "output", "tree_ok", "update"]

#: a network whose parameters leave [-DIVERGED, DIVERGED] (or become non-finite) is frozen
#: and flagged as diverged
DIVERGED = 1e4


@dataclass(frozen=True)
class Network:
    """The static architecture (hashable: one compiled program per architecture)."""

    architecture: str = "gated"  # "gated" | "hidden"
    hidden_width: int = 8


class Rule(NamedTuple):
    """The update rule as numbers (traced, so rules and ablations share a compiled program).

    ``l1``/``l2``: coefficients of sign(g) and g in the gate regulariser step; ``clip``: the
    code rule's gate clipping (threshold alpha lam); ``noise_scale``: alpha (code) or 1
    (paper); ``noise_w``/``noise_g``: 1 where weights/gates receive noise; ``fixed``: 1 keeps
    the gates at their initial value."""

    alpha: Any
    lam: Any
    l1: Any
    l2: Any
    clip: Any
    noise_scale: Any
    noise_w: Any
    noise_g: Any
    fixed: Any


def make_rule(rule: str = "code", *, alpha: float = 0.6, lam: float = 0.07,
              regulariser: str = "l1", gates: str = "learned", noise_on: str = "all") -> Rule:
    """The :class:`Rule` of ``rule`` ("code" or "paper") with the given options."""
    code = rule == "code"
    step = lam if code else alpha * lam
    return Rule(alpha=alpha, lam=lam, l1=step if regulariser == "l1" else 0.0,
                l2=step if regulariser == "l2" else 0.0,
                clip=float(code and regulariser == "l1"),
                noise_scale=alpha if code else 1.0,
                noise_w=float(noise_on in ("all", "weights")),
                noise_g=float(noise_on in ("all", "gates")),
                fixed=float(gates == "fixed"))


def init_params(z: jax.Array, net: Network, init: jax.Array, hidden_init: jax.Array,
                gate_init: jax.Array, dtype=jnp.float64) -> dict[str, jax.Array]:
    """One network's parameters: gates ``g`` = (g_m, g_c), both ``gate_init`` (= ``init``, or 1
    for fixed gates), and weights ``w`` = (w_m, w_c), both ``init``; for the hidden variant
    ``W1`` (H, 2) and ``w2`` (H,) are ``hidden_init`` times the standard normals ``z`` (3H of
    them; unused otherwise)."""
    g = jnp.full((2,), gate_init, dtype)
    if net.architecture == "gated":
        return {"g": g, "w": jnp.full((2,), init, dtype)}
    h = net.hidden_width
    return {"g": g, "W1": hidden_init * z[:2 * h].reshape(h, 2).astype(dtype),
            "w2": hidden_init * z[2 * h:3 * h].astype(dtype)}


def effective(params: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """(weights, gates): the input weights before gating, shape (2,), and the gates (2,).
    The effective input weights are their product."""
    if "w" in params:
        return params["w"], params["g"]
    return params["W1"].T @ params["w2"], params["g"]


def output(params: dict[str, jax.Array], x: jax.Array, eta: jax.Array) -> jax.Array:
    """y_hat for inputs x = (x_m, x_c) and output noise eta."""
    gx = params["g"] * x
    if "w" in params:
        return params["w"] @ gx + eta
    return params["w2"] @ (params["W1"] @ gx) + eta


def _data_loss(params, x, y, eta):
    return 0.5 * (output(params, x, eta) - y) ** 2


def data_grads(params: dict[str, jax.Array], x: jax.Array, y: jax.Array, eta: jax.Array
               ) -> dict[str, jax.Array]:
    """Gradient of the data loss 1/2 (y_hat - y)^2 (no regulariser)."""
    return jax.grad(_data_loss)(params, x, y, eta)


def update(params: dict[str, jax.Array], grads: dict[str, jax.Array], xi: dict[str, jax.Array],
           rule: Rule, *, freeze_gates: jax.Array) -> dict[str, jax.Array]:
    """One update with data gradients ``grads`` and update noise ``xi`` (N(0, sigma_xi^2)
    draws, one per parameter); see the module docstring."""
    new = {}
    for name, value in params.items():
        if name != "g":
            new[name] = (value - rule.alpha * grads[name]
                         + rule.noise_scale * rule.noise_w * xi[name])
    g = params["g"]
    g_new = (g - rule.alpha * grads["g"] - rule.l1 * jnp.sign(g) - rule.l2 * g
             + rule.noise_scale * rule.noise_g * xi["g"])
    held = jnp.sign(g_new) * jnp.maximum(jnp.abs(g_new) - rule.alpha * rule.lam, 0.0)
    clipped = jnp.where(g == 0, held, g_new)
    clipped = jnp.where(g * clipped < 0, 0.0, clipped)
    g_new = jnp.where(rule.clip > 0, clipped, g_new)
    new["g"] = jnp.where((rule.fixed > 0) | freeze_gates, g, g_new)
    return new


def accuracy(weights: jax.Array, gates: jax.Array, mu_m: jax.Array, mu_c: jax.Array, *,
             sigma_m: float, sigma_c: float, sigma_eta: jax.Array, random_sign: jax.Array
             ) -> jax.Array:
    """Analytic P(correct) of one network (see the module docstring). ``mu_c`` is the colour
    mean (0 where colour carries nothing); ``random_sign``: colour is +-mu_c at random (so
    uninformative) rather than predictive."""
    a = weights * gates
    m, c = a[0] * mu_m, a[1] * mu_c
    s = jnp.sqrt(sigma_eta**2 + (a[0] * sigma_m) ** 2 + (a[1] * sigma_c) ** 2)
    s = jnp.maximum(s, jnp.finfo(s.dtype).tiny)
    return jnp.where(random_sign, 0.5 * (ndtr((m + c) / s) + ndtr((m - c) / s)),
                     ndtr((m + c) / s))


def tree_ok(tree: Any) -> jax.Array:
    """True when every leaf is finite and within [-DIVERGED, DIVERGED]."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x) & (jnp.abs(x) <= DIVERGED))
                              for x in jax.tree.leaves(tree)]))
