"""Gated linear networks with fast, bounded, non-negative gates (Sandbrink et al., NeurIPS 2024).

Parameters are dicts of arrays. Architectures (``arch``):

- ``gated``: P paths W^p (d_out x d_in) and scalar gates c^p; y = sum_p c^p W^p x.
  params ``{"W": (P, d_out, d_in), "c": (P,)}``.
- ``gated_per_unit``: one gate per path and output unit; y_i = sum_p c^p_i (W^p x)_i.
  params ``{"W": (P, d_out, d_in), "c": (P, d_out)}`` (the reference's two-layer form with a
  fixed diagonal second layer whose diagonal entries are the gates).
- ``fully_connected``: the control y = W2 W1 x, W1 (H x d_in), W2 (d_out x H), H = P d_out;
  the gate regulariser acts on all entries of W2. params ``{"W1": ..., "W2": ...}``.

Every architecture computes the same kind of output, so :func:`effective_map` (the d_out x d_in
map x -> y) gives both the sampled loss 1/2 mean_batch ||y_hat - y||^2 and, for x ~ N(0, I), its
expectation 1/2 ||W* - effective_map||_F^2 (the population loss).

The gate regulariser acts on the flattened gate vector c (all gates; W2 for the control)::

    R(c) = lam_nonneg sum_j max(0, -c_j) + lam_l1/2 (||c||_1 - 1)^2 + lam_l2/2 (||c||_2 - 1)^2

with the subgradients d/dc max(0, -c) = -1 for c < 0 (0 otherwise) and sign(0) = 0 written out
(:func:`regulariser_grad`), so no autodiff convention at the kinks matters. ``gate_norm =
"per_unit"`` applies the two manifold terms to each unit's gate vector (over paths) instead of
the global vector (the reference's choice, the default).

Training (:func:`make_trainer`) is explicit Euler of gradient flow with per-group timescales,
W <- W - (dt/tau_w) grad_W L, c <- c - (dt/tau_c) grad_c L (L = data loss + R): plain SGD with
learning rates dt/tau, a fresh minibatch every step drawn inside the compiled loop (or the exact
population gradient), no projection, no clipping. For the control, tau_w is W1's timescale and
tau_c W2's.
"""

from __future__ import annotations

from functools import cache

import jax
import jax.numpy as jnp

__all__ = [
    "ARCHITECTURES",
    "apply",
    "conserved",
    "data_loss",
    "effective_map",
    "gate_regularised",
    "init_params",
    "make_trainer",
    "covariance_loss",
    "normal_from_uniform",
    "population_grads",
    "population_loss",
    "reference_lambdas",
    "regulariser",
    "regulariser_grad",
    "sample_chi2",
    "sample_chol",
    "weight_name",
]

ARCHITECTURES = ("gated", "gated_per_unit", "fully_connected")


# ---- the network ----------------------------------------------------------------------------
def effective_map(params: dict) -> jax.Array:
    """The linear map x -> y_hat, shape (d_out, d_in)."""
    if "W1" in params:
        return params["W2"] @ params["W1"]
    W, c = params["W"], params["c"]
    if c.ndim == 1:  # scalar gates
        return jnp.einsum("p,pij->ij", c, W)
    return jnp.einsum("pi,pij->ij", c, W)  # per-unit gates


def apply(params: dict, x: jax.Array) -> jax.Array:
    """Outputs for inputs x of shape (batch, d_in): (batch, d_out)."""
    return x @ effective_map(params).T


def data_loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """1/2 mean over the batch of sum_i (y_hat_i - y_i)^2 (never includes the regulariser)."""
    return 0.5 * jnp.mean(jnp.sum((apply(params, x) - y) ** 2, axis=-1))


def covariance_loss(params: dict, target: jax.Array, chol: jax.Array) -> jax.Array:
    """The minibatch loss written through the batch's second moment C = X^T X / B = L L^T:
    1/2 tr(E C E^T) = 1/2 ||E L||_F^2 with E = target - effective_map. Equal to
    :func:`data_loss` on that batch (the loss sees the inputs only through C)."""
    return 0.5 * jnp.sum(((target - effective_map(params)) @ chol) ** 2)


def normal_from_uniform(u: jax.Array) -> jax.Array:
    """Standard normals from uniforms u in [0, 1), as ``jax.random.normal`` does it: map u to
    [nextafter(-1, 0), 1) (never -1, whatever the rounding) and take sqrt(2) erfinv."""
    lo = jnp.nextafter(jnp.asarray(-1.0, u.dtype), jnp.asarray(0.0, u.dtype))
    return jnp.sqrt(2.0).astype(u.dtype) * jax.lax.erf_inv(lo + (1.0 - lo) * u)


def sample_chi2(key: jax.Array, dof: jax.Array, dtype=jnp.float32, tries: int = 6,
                uniforms: jax.Array | None = None) -> jax.Array:
    """Chi-square draws with ``dof`` >= 2 degrees of freedom (any shape): 2 Gamma(dof/2) by
    Marsaglia & Tsang's squeeze method with a fixed number of candidates (the first accepted one
    is returned). Each candidate is accepted with probability >= 0.95 (>= 0.998 for dof >= 100),
    so all ``tries`` fail with probability < 2e-8; a loop-free sampler keeps the compiled
    training loop small (``jax.random.gamma`` compiles a rejection while-loop).
    ``uniforms`` (2, tries, *dof.shape) in (0, 1) may be passed instead of drawing them."""
    a = jnp.asarray(dof, dtype) / 2.0
    d = a - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    if uniforms is None:
        uniforms = jax.random.uniform(key, (2, tries) + a.shape, dtype,
                                      minval=jnp.finfo(dtype).tiny)
    x = normal_from_uniform(uniforms[0])
    u = uniforms[1]
    d_, c_ = d[None], c[None]
    v = (1.0 + c_ * x) ** 3
    safe_v = jnp.where(v > 0, v, 1.0)
    ok = (v > 0) & (jnp.log(u) < 0.5 * x**2 + d_ - d_ * safe_v + d_ * jnp.log(safe_v))
    first = jnp.argmax(ok, axis=0)
    pick = jnp.take_along_axis(safe_v, first[None], axis=0)[0]
    return 2.0 * d * pick


def sample_chol(key: jax.Array, batch_size: int, d_in: int, dtype=jnp.float32,
                tries: int = 6) -> jax.Array:
    """L with L L^T distributed as X^T X / B for B inputs x ~ N(0, I_{d_in}) (B > d_in).

    Bartlett decomposition of the Wishart law W(B, I): L is lower triangular with
    L_ii = sqrt(chi2(B - i)) (i = 0..d_in-1) and N(0, 1) entries below the diagonal; divided
    by sqrt(B). Draws O(d_in^2) numbers instead of B d_in, all in one call of the generator.
    """
    n_chi = 2 * tries * d_in
    u = jax.random.uniform(key, (n_chi + d_in * d_in,), dtype, minval=jnp.finfo(dtype).tiny)
    dof = (batch_size - jnp.arange(d_in)).astype(dtype)
    chi2 = sample_chi2(None, dof, dtype, tries, uniforms=u[:n_chi].reshape(2, tries, d_in))
    z = normal_from_uniform(u[n_chi:].reshape(d_in, d_in))
    off = jnp.tril(z, k=-1)
    return (off + jnp.diag(jnp.sqrt(chi2))) / jnp.sqrt(jnp.asarray(batch_size, dtype))


def population_loss(params: dict, target: jax.Array) -> jax.Array:
    """Expected data loss for x ~ N(0, I): 1/2 ||target - effective_map||_F^2."""
    return 0.5 * jnp.sum((target - effective_map(params)) ** 2)


def population_grads(params: dict, target: jax.Array) -> dict:
    """Analytic gradients of :func:`population_loss` (the flow equations, E = W* - map):

    grad_W^p = -c^p E (per unit: -c^p_i E_i for row i), grad_c^p = -<W^p, E>
    (per unit: -<W^p_i, E_i>); control: grad_W1 = -W2^T E, grad_W2 = -E W1^T.
    """
    E = target - effective_map(params)
    if "W1" in params:
        return {"W1": -params["W2"].T @ E, "W2": -E @ params["W1"].T}
    W, c = params["W"], params["c"]
    if c.ndim == 1:
        return {"W": -c[:, None, None] * E[None], "c": -jnp.einsum("pij,ij->p", W, E)}
    return {"W": -c[:, :, None] * E[None], "c": -jnp.einsum("pij,ij->pi", W, E)}


def init_params(key: jax.Array, arch: str, n_paths: int, d_in: int, d_out: int, *,
                init_scale: jax.Array | float = 0.01, gate_init: jax.Array | float = 0.5,
                dtype=jnp.float32) -> dict:
    """Small random weights, entries N(0, (init_scale/sqrt(d_in))^2), and all gates = gate_init.

    The control draws both layers with the same std init_scale/sqrt(d_in) (as the reference
    does, using d_in for both layers).
    """
    std = jnp.asarray(init_scale, dtype) / jnp.sqrt(jnp.asarray(d_in, dtype))
    if arch == "fully_connected":
        k1, k2 = jax.random.split(key)
        hidden = n_paths * d_out
        return {"W1": std * jax.random.normal(k1, (hidden, d_in), dtype),
                "W2": std * jax.random.normal(k2, (d_out, hidden), dtype)}
    W = std * jax.random.normal(key, (n_paths, d_out, d_in), dtype)
    shape = (n_paths,) if arch == "gated" else (n_paths, d_out)
    return {"W": W, "c": jnp.full(shape, gate_init, dtype)}


def gate_regularised(params: dict) -> str:
    """Name of the parameter the gate regulariser acts on (``c``, or ``W2`` for the control)."""
    return "W2" if "W1" in params else "c"


def weight_name(params: dict) -> str:
    """Name of the slow parameter group (``W``, or ``W1`` for the control)."""
    return "W1" if "W1" in params else "W"


# ---- the regulariser ------------------------------------------------------------------------
def _groups(c: jax.Array, gate_norm: str) -> jax.Array:
    """Gate vectors the manifold terms act on: (1, n) globally, or (units, paths) per unit."""
    if gate_norm == "per_unit" and c.ndim == 2:
        return c.T
    return c.reshape(1, -1)


def reference_lambdas(strength: float, nonneg: float = 0.0, l1: float = 0.0, l2: float = 0.0
                      ) -> tuple[float, float, float]:
    """(lam_nonneg, lam_l1, lam_l2) from the paper's parametrisation of R: a global strength
    lambda and relative weights a_k, with fixed factors 10 on the hinge and the L1 term:
    10 lam a_nonneg/sum(a), 10 lam a_l1/sum(a), lam a_l2/sum(a) (sum over the listed terms)."""
    total = nonneg + l1 + l2
    if total == 0:
        return (0.0, 0.0, 0.0)
    return (10 * strength * nonneg / total, 10 * strength * l1 / total, strength * l2 / total)


def regulariser(c: jax.Array, lam_nonneg, lam_l1, lam_l2, gate_norm: str = "global"
                ) -> jax.Array:
    """R(c) of the module docstring (summed over groups for ``gate_norm="per_unit"``)."""
    g = _groups(c, gate_norm)
    hinge = jnp.sum(jnp.maximum(0.0, -c))
    l1 = jnp.sum(jnp.abs(g), axis=-1) - 1.0
    l2 = jnp.sqrt(jnp.sum(g**2, axis=-1)) - 1.0
    return lam_nonneg * hinge + 0.5 * lam_l1 * jnp.sum(l1**2) + 0.5 * lam_l2 * jnp.sum(l2**2)


def regulariser_grad(c: jax.Array, lam_nonneg, lam_l1, lam_l2, gate_norm: str = "global"
                     ) -> jax.Array:
    """The subgradient dR/dc, shape of c: hinge -1 for c < 0, sign(0) = 0, and at c = 0 the
    L2 term's direction c/||c|| is taken as 0."""
    g = _groups(c, gate_norm)
    l1 = jnp.sum(jnp.abs(g), axis=-1, keepdims=True) - 1.0
    norm = jnp.sqrt(jnp.sum(g**2, axis=-1, keepdims=True))
    safe = jnp.where(norm > 0, norm, 1.0)
    grad = lam_l1 * l1 * jnp.sign(g) + lam_l2 * jnp.where(norm > 0, (norm - 1.0) * g / safe, 0.0)
    grad = grad.T.reshape(c.shape) if (gate_norm == "per_unit" and c.ndim == 2) else \
        grad.reshape(c.shape)
    return grad - lam_nonneg * (c < 0).astype(c.dtype)


# ---- conservation law -----------------------------------------------------------------------
def conserved(params: dict, tau_w, tau_c) -> jax.Array:
    """Q = tau_w ||W^p||^2 - tau_c (c^p)^2 per path (per unit: over each row of W^p).

    With lam = 0 it is constant under gradient flow; with a regulariser dQ/dt = 2 c dR/dc.
    Control: tau_w1 W1 W1^T - tau_w2 W2^T W2 (H x H).
    """
    if "W1" in params:
        W1, W2 = params["W1"], params["W2"]
        return tau_w * W1 @ W1.T - tau_c * W2.T @ W2
    W, c = params["W"], params["c"]
    if c.ndim == 1:
        return tau_w * jnp.sum(W**2, axis=(1, 2)) - tau_c * c**2
    return tau_w * jnp.sum(W**2, axis=2) - tau_c * c**2


# ---- training -------------------------------------------------------------------------------
def _block(t, args):
    """Block index and target map of step count t (blocks past the plan repeat the last)."""
    n_blocks = args["plan"].shape[0]
    k = jnp.minimum(t // args["n_block"], n_blocks - 1)
    return k, args["maps"][args["plan"][k]]


def _crossing(state: dict, args: dict) -> jax.Array:
    """Update the running first crossing of loss < theta in the block of step count ``t``."""
    t, ttt = state["t"], state["ttt"]
    n_blocks = args["plan"].shape[0]
    raw = t // args["n_block"]
    k, target = _block(t, args)
    loss = population_loss(state["params"], target)
    elapsed = (t - raw * args["n_block"]).astype(ttt.dtype) * args["dt"].astype(ttt.dtype)
    new = (ttt[k] < 0) & (loss < args["thetas"]) & (raw < n_blocks)
    return ttt.at[k].set(jnp.where(new, elapsed, ttt[k]))


@cache
def make_trainer(arch: str, n_paths: int, d_in: int, d_out: int, gradient: str, batch_size: int,
                 gate_norm: str, dtype: str, sampler: str = "inputs"):
    """(init, step, observe) for :func:`learndyn.core.engine.simulate`, cached per shape.

    ``gradient="sgd"`` draws a fresh minibatch of ``batch_size`` inputs x ~ N(0, I) every step
    inside the compiled loop: literally (``sampler="inputs"``), or only its second moment
    X^T X / B from its Wishart law (``sampler="wishart"``, :func:`sample_chol`). The loss and
    its gradients see a batch only through that matrix, so both samplers give the same
    trajectories in distribution; the Wishart draw needs d_in (d_in + 1)/2 random numbers
    instead of B d_in (the inputs' random numbers dominate the run time on a CPU).
    ``gradient="population"`` uses the exact expected loss (deterministic).

    ``args`` (all arrays; a leading sweep axis when batched) holds ``maps`` (K, d_out, d_in),
    ``plan`` (n_blocks,) task per block, ``n_block`` steps per block, ``dt``, ``tau_w``,
    ``tau_c``, ``lam_nonneg``, ``lam_l1``, ``lam_l2``, ``thetas`` (loss thresholds),
    ``init_scale``, ``gate_init`` and ``base`` (M, d_out, d_in), the base teachers; optionally
    ``W_offset`` (P, d_out, d_in), added to the random initial weights, with ``c_init`` (the
    initial gates, replacing ``gate_init``).

    The state holds the parameters, the step count ``t``, ``ttt`` (n_blocks, n_thetas): the
    time from each block's start to the first population loss below each threshold (-1: not
    yet), and ``work`` = int 2 c dR/dc dt (gate-shaped), the regulariser's share of the drift of
    the conserved quantity.
    """
    dt_ = jnp.dtype(dtype)

    def init(key, args):
        params = init_params(key, arch, n_paths, d_in, d_out, init_scale=args["init_scale"],
                             gate_init=args["gate_init"], dtype=dt_)
        if "W_offset" in args and arch != "fully_connected":  # e.g. modules already in place
            params = {"W": params["W"] + args["W_offset"].astype(dt_),
                      "c": jnp.broadcast_to(args["c_init"].astype(dt_), params["c"].shape)}
        n_blocks, n_th = args["plan"].shape[0], args["thetas"].shape[0]
        gname = gate_regularised(params)
        state = {"params": params, "t": jnp.int32(0),
                 "ttt": -jnp.ones((n_blocks, n_th), dt_),
                 "work": jnp.zeros(params[gname].shape, dt_)}
        return {**state, "ttt": _crossing(state, args)}

    def step(state, key, t, args):
        params = state["params"]
        _, target = _block(state["t"], args)
        target = target.astype(dt_)
        if gradient == "sgd" and sampler == "wishart":
            grads = jax.grad(covariance_loss)(params, target,
                                              sample_chol(key, batch_size, d_in, dt_))
        elif gradient == "sgd":
            x = jax.random.normal(key, (batch_size, d_in), dt_)
            grads = jax.grad(data_loss)(params, x, x @ target.T)
        else:
            grads = population_grads(params, target)
        gname, wname = gate_regularised(params), weight_name(params)
        g = params[gname]
        rgrad = regulariser_grad(g, args["lam_nonneg"].astype(dt_), args["lam_l1"].astype(dt_),
                                 args["lam_l2"].astype(dt_), gate_norm)
        dt = args["dt"].astype(dt_)
        new = {wname: params[wname] - dt / args["tau_w"].astype(dt_) * grads[wname],
               gname: g - dt / args["tau_c"].astype(dt_) * (grads[gname] + rgrad)}
        work = state["work"] + 2.0 * dt * g * rgrad
        out = {"params": new, "t": state["t"] + 1, "ttt": state["ttt"], "work": work}
        return {**out, "ttt": _crossing(out, args)}

    def observe(state, args):
        params = state["params"]
        _, target = _block(state["t"], args)
        out = {"loss": population_loss(params, target.astype(dt_))}
        if arch == "fully_connected":
            out["conserved"] = conserved(params, args["tau_w"].astype(dt_),
                                         args["tau_c"].astype(dt_))  # (H, H); lam = 0 only
            out["W2"] = params["W2"]
            return out
        W, c = params["W"], params["c"]
        base = args["base"].astype(dt_)
        # row-wise cosine between teacher m and path p, averaged over rows: (M, P)
        dots = jnp.einsum("mij,pij->mpi", base, W)
        norms = (jnp.sqrt(jnp.sum(base**2, axis=2))[:, None, :]
                 * jnp.sqrt(jnp.sum(W**2, axis=2))[None, :, :])
        out["alignment"] = jnp.mean(dots / jnp.where(norms > 0, norms, 1.0), axis=-1)
        overlap = jnp.sum(base[0] ** 2)
        out["w"] = jnp.einsum("mij,pij->pm", base, W) / overlap  # span coordinates (P, M)
        out["gates"] = c
        out["conserved"] = conserved(params, args["tau_w"].astype(dt_),
                                     args["tau_c"].astype(dt_)) - state["work"]
        out["gram"] = jnp.einsum("pij,qij->pq", W, W)
        return out

    return init, step, observe
