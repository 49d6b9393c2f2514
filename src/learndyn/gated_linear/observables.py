r"""What is measured on the routing network (Saxe, Sodhani & Lewallen, ICML 2022).

For weights ``{W1_i, W2, W3_j}`` of :func:`learndyn.gated_linear.data.routing_net` and the task
modes :math:`\Sigma^{yx} = U S V^\top`:

- pathway maps :math:`W_{ij} = W_3^{(j)} W_2 W_1^{(i)}` for every (input, output) domain pair,
  trained or not;
- mode products :math:`p_{ij\alpha} = u_\alpha^\top W_{ij} v_\alpha`;
- pathway errors :math:`E_{ij} = \tfrac12 \|Y^\top - W_{ij}\|_F^2` (zero-shot error on the
  untrained pairs);
- layer singular values along the modes (decoupled runs): :math:`b_1 = \|W_1^{(i)} v_\alpha\|`,
  :math:`b_3 = \|W_3^{(j)\top} u_\alpha\|`, :math:`b_2 = r_{2}^\top W_2 r_{1}` with the unit
  hidden directions :math:`r_1 \propto W_1^{(0)} v_\alpha`, :math:`r_2 \propto W_3^{(0)\top}
  u_\alpha` (exact while the weights keep the decoupled form), averaged over domains;
- the top singular values of each layer (random runs), averaged over domains;
- half times: first time a mode product reaches s_alpha / 2
  (:func:`learndyn.deep_linear.observables.level_times`).
"""

from __future__ import annotations

import jax.numpy as jnp

from ..deep_linear.observables import half_times, level_times

__all__ = [
    "half_times",
    "layer_mode_values",
    "layer_top_singular_values",
    "level_times",
    "mode_products",
    "pathway_errors",
    "pathway_maps",
]


def _stack(params, prefix: str, M: int):
    return jnp.stack([params[f"{prefix}_{i}"] for i in range(M)])


def pathway_maps(params, M: int):
    """W_ij = W3_j W2 W1_i, shape (M, M, N_o, N_i) indexed (input i, output j)."""
    W1, W3 = _stack(params, "W1", M), _stack(params, "W3", M)
    return jnp.einsum("joh,hk,ikn->ijon", W3, params["W2"], W1)


def mode_products(params, U, V, M: int):
    """u_alpha^T W_ij v_alpha, shape (M, M, modes)."""
    W = pathway_maps(params, M)
    return jnp.einsum("oa,ijon,na->ija", U.astype(W.dtype), W, V.astype(W.dtype))


def pathway_errors(params, target, M: int):
    """E_ij = 1/2 ||Y^T - W_ij||_F^2, shape (M, M); ``target`` is Y^T (N_o, N_i)."""
    W = pathway_maps(params, M)
    return 0.5 * jnp.sum((target.astype(W.dtype)[None, None] - W) ** 2, axis=(-2, -1))


def layer_mode_values(params, U, V, M: int):
    """(b1, b2, b3) per mode for decoupled weights, shape (3, modes)."""
    W1, W3 = _stack(params, "W1", M), _stack(params, "W3", M)
    a = jnp.einsum("ihn,na->iha", W1, V.astype(W1.dtype))  # W1_i v_alpha
    c = jnp.einsum("joh,oa->jha", W3, U.astype(W1.dtype))  # W3_j^T u_alpha
    b1 = jnp.linalg.norm(a, axis=1).mean(axis=0)
    b3 = jnp.linalg.norm(c, axis=1).mean(axis=0)
    r1 = a[0] / jnp.linalg.norm(a[0], axis=0)[None, :]
    r2 = c[0] / jnp.linalg.norm(c[0], axis=0)[None, :]
    b2 = jnp.einsum("ha,hk,ka->a", r2, params["W2"], r1)
    return jnp.stack([b1, b2, b3])


def layer_top_singular_values(params, M: int, k: int):
    """The top ``k`` singular values of the input, shared and output layers (domain-averaged),
    shape (3, k)."""
    W1, W3 = _stack(params, "W1", M), _stack(params, "W3", M)
    s1 = jnp.linalg.svd(W1, compute_uv=False)[:, :k].mean(axis=0)
    s2 = jnp.linalg.svd(params["W2"], compute_uv=False)[:k]
    s3 = jnp.linalg.svd(W3, compute_uv=False)[:, :k].mean(axis=0)
    return jnp.stack([s1, s2, s3])
