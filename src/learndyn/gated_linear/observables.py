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
  (:func:`learndyn.deep_linear.observables.level_times`);
- :func:`distinct_modes`: one mode of each group of equal singular values;
- :func:`label`: the long_name and units of each of these quantities in a routing dataset.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core import dataset
from ..deep_linear.observables import half_times, level_times

__all__ = [
    "distinct_modes",
    "half_times",
    "label",
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


T = "epoch × lr × 2/(P N_o)"  # the routing task's natural time
LABELS = {  # variable or coordinate: (long_name, units)
    "mode_product_sim": ("pathway mode product u_αᵀW₃W₂W₁v_α (gradient descent)", ""),
    "mode_product_map": ("pathway mode product (discrete reduced map)", ""),
    "mode_product_theory": ("pathway mode product p = b₁b₂b₃ (reduced flow)", ""),
    "loss_sim": ("loss Σ_trained ‖W_ij − Yᵀ‖²_F/(P N_o) (gradient descent)", ""),
    "loss_map": ("loss (discrete reduced map)", ""), "loss_theory": ("loss (reduced flow)", ""),
    "pathway_error_sim": ("pathway error E_ij = ½‖Yᵀ − W₃⁽ʲ⁾W₂W₁⁽ⁱ⁾‖²_F (gradient descent)", ""),
    "error_trained_sim": ("mean pathway error, trained pathways (gradient descent)", ""),
    "error_untrained_sim": ("mean pathway error, untrained pathways (gradient descent)", ""),
    "error_theory": ("pathway error from decoupled init b₀ = σ₀, every pathway (reduced flow)",
                     ""),
    "sv_sim": ("layer singular value on the mode, decoupled init (gradient descent)", ""),
    "sv_theory": ("layer singular value b₁, b₂, b₃ (reduced flow)", ""),
    "layer_sv_sim": ("top singular values of each layer, random init (gradient descent)", ""),
    "conserved_sim": ("b₂² − M b₁² (gradient descent)", ""),
    "conserved_theory": ("b₂² − M b₁² (reduced flow)", ""),
    "conserved_theory_b13": ("b₁² − b₃² (reduced flow)", ""),
    "t_half_sim": ("half-learning time of the trained-pathway mean product (gradient descent)",
                   T),
    "t_half_theory": ("half-learning time (reduced flow, implicit solution)", T),
    "t_half_lr_sim": ("half-learning time at lr/k, decoupled init (gradient descent)", T),
    "implicit_time": ("implicit-solution time t(b₂)", T),
    "implicit_b2_target": ("b₂ targets: at p = s/2 and at 0.9 b₂*", ""),
    "implicit_b2_flow": ("b₂ of the integrated flow at the implicit-solution times", ""),
    "fixed_point_b1": ("fixed point b₁* = √((b₂*² + c₀)/M)", ""),
    "fixed_point_b2": ("fixed point b₂*: root of b₂(b₂² + c₀) = M s", ""),
    "fixed_flow_b2": ("b₂ of the reduced flow long after learning", ""),
    "Kt_half_sim": ("K × half-learning time, decoupled init (gradient descent)", T),
    "Kt_half_random_sim": ("K × half-learning time, random init (gradient descent)", T),
    "K_flow_half_ratio": ("p/s of the flow at K at time t½(K_max) K_max/K", ""),
    "K_product_sim": ("trained-pathway mean mode product in the K-scan (gradient descent, "
                      "first seed)", ""),
    "race_theory": ("minimal race: path products u (shared) and v (private)", ""),
    "init": ("initialisation", ""), "seed": ("seed", ""), "time": (f"time t = {T}", T),
    "epoch": ("epoch (full-batch gradient step)", "epochs"), "mode": ("task mode α", ""),
    "s": ("singular value s_α of Yᵀ", ""), "input_domain": ("input domain i", ""),
    "output_domain": ("output domain j", ""), "trained": ("pathway (i, j) is trained", ""),
    "layer": ("layer: input W₁, shared W₂, output W₃", ""),
    "lr_divisor": ("learning rate lr/k: k", ""), "K": ("trained pathways per domain K", ""),
    "point": ("implicit-solution point", ""), "race_time": ("time in the minimal race", "τ"),
    "race_path": ("path in the minimal race", ""),
    "gain": ("gain σ₀ of the random orthogonal init", ""), "lr": ("learning rate", ""),
}


def distinct_modes(s: np.ndarray) -> np.ndarray:
    """Indices of the first mode of each group of equal singular values."""
    keep = [0] + [i for i in range(1, len(s)) if not np.isclose(s[i], s[i - 1], rtol=1e-9)]
    return np.array(keep)


def label(ds: xr.Dataset) -> xr.Dataset:
    """Set long_name (and units) from :data:`LABELS` on every variable and coordinate of a
    routing dataset; raises KeyError naming a variable it does not know."""
    return dataset.label(ds, LABELS, strict=True)
