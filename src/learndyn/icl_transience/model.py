r"""The 2-layer attention-only transformer of the coopetition paper and its L2 penalties
(Singh et al., ICML 2025, Sec. 3; Singh et al., NeurIPS 2023, Sec. 5).

The model is :mod:`learndyn.transformer` with: 2 attention-only layers, d_model 64, 8 heads,
learned absolute positions (max length 32), pre-LN and a final LN, exemplar embedding
D -> 64 with bias, label embedding and unembedding over the K training labels, logits only at
the query.

**L2 regularisation.** Loss = CE + :math:`\lambda R(\theta)` with

- ``l2_form="squared"``: :math:`R = \tfrac12 \sum_W \lVert W\rVert_F^2`;
- ``l2_form="frobenius_sum"``: :math:`R = \sum_W \lVert W\rVert_F` (unsquared; an array that
  is exactly zero contributes 0 and gets no gradient), the penalty of the authors' codebase;

over ``l2_scope="weights"`` (weight matrices and embedding tables: every leaf named ``W_*``)
or ``"all"`` (biases and LayerNorm parameters too). ``l2_coupling="coupled"`` adds
:math:`\lambda R` to the loss (its gradient passes through Adam); ``"decoupled"`` adds
:math:`\lambda \nabla R` to Adam's update before the learning rate (AdamW-style; for the
squared form exactly ``optax.adamw`` with the same mask).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from ..transformer import TransformerConfig
from ..transformer import model as tmodel

__all__ = ["L2_COUPLINGS", "L2_FORMS", "L2_SCOPES", "in_scope", "model_config", "objective",
           "optimizer", "penalty"]

L2_FORMS = ("squared", "frobenius_sum")
L2_SCOPES = ("weights", "all")
L2_COUPLINGS = ("coupled", "decoupled")


def model_config(config: Any) -> TransformerConfig:
    """The coopetition model for a config with ``feature_dim``, ``labels`` (K), ``d_model``,
    ``n_heads``, ``n_layers`` and ``dtype``."""
    return TransformerConfig(
        d_input=config.feature_dim, n_labels=config.labels, d_model=config.d_model,
        n_layers=config.n_layers, n_heads=config.n_heads, d_mlp=0, positional="learned",
        max_len=32, norm="pre_ln", logits_at="query", dtype=config.dtype)


def in_scope(path, scope: str) -> bool:
    """Whether the leaf at ``path`` (a ``jax.tree_util`` key path) is penalised."""
    name = getattr(path[-1], "key", getattr(path[-1], "name", str(path[-1])))
    return scope == "all" or str(name).startswith("W_")


def _safe_norm(x: jax.Array) -> jax.Array:
    """Frobenius norm with a zero gradient at exact zeros (no NaN for an all-zero array)."""
    nonzero = x != 0
    y = jnp.where(nonzero, x, 0.0)
    sq = jnp.sum(y * y)
    return jnp.where(sq > 0, jnp.sqrt(jnp.where(sq > 0, sq, 1.0)), 0.0)


def penalty(params: Any, *, form: str = "squared", scope: str = "weights") -> jax.Array:
    """R(params) (module docstring)."""
    leaves = [x for p, x in jax.tree_util.tree_leaves_with_path(params) if in_scope(p, scope)]
    if form == "squared":
        return 0.5 * sum(jnp.sum(x * x) for x in leaves)
    if form == "frobenius_sum":
        return sum(_safe_norm(x) for x in leaves)
    raise ValueError(f"l2_form must be one of {L2_FORMS}, got {form!r}")


def _add_penalty_gradient(lam, form: str, scope: str) -> optax.GradientTransformation:
    def update(updates, state, params):
        grad = jax.grad(lambda p: penalty(p, form=form, scope=scope))(params)
        return jax.tree.map(lambda u, g: u + lam * g, updates, grad), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def optimizer(lr: float, *, lam=0.0, form: str = "squared", scope: str = "weights",
              coupling: str = "coupled") -> optax.GradientTransformation:
    """Adam at constant ``lr``; with ``coupling="decoupled"`` the penalty gradient is added to
    Adam's update (``lam`` may be traced)."""
    if coupling == "coupled":
        return optax.adam(lr)
    return optax.chain(optax.scale_by_adam(), _add_penalty_gradient(lam, form, scope),
                       optax.scale(-lr))


def objective(params: Any, batch: dict, cfg: TransformerConfig, *, lam=0.0,
              form: str = "squared", scope: str = "weights", coupling: str = "coupled"
              ) -> jax.Array:
    """Mean query cross-entropy, plus ``lam * R`` when the penalty is coupled."""
    ce = tmodel.loss(params, batch, cfg)
    if coupling == "coupled":
        return ce + lam * penalty(params, form=form, scope=scope)
    return ce
