"""Deep linear networks f(x) = W_D ... W_1 x (no biases), as tuples of weight matrices.

Initialisations (Saxe, McClelland & Ganguli, ICLR 2014):

- aligned, balanced: W_l = R_l diag(a0) R_{l-1}^T on the r task modes, with R_0 = V, R_D = U
  (the task's singular vectors) and hidden R_l (N_h x r) with random orthonormal columns, so the
  product is U diag(a0^D) V^T: every mode starts at u0 = a0^D and stays decoupled;
- random: i.i.d. N(0, scale^2) entries (small scale = rich regime);
- lambda-balanced (two layers; Domine et al., ICLR 2025): W1 = R S1 V0^T, W2 = U0 S2 R^T with
  W2^T W2 - W1 W1^T = lambda I, product singular values a = s1 s2 (:func:`lambda_balanced_init`).

Loss: L(W) = (c/2) ||Y - W_D...W_1 X||_F^2.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import ConfigError

__all__ = [
    "check_lambda_dims",
    "haar",
    "init_aligned",
    "init_random",
    "lambda_balanced_init",
    "loss",
    "orthogonal_factor",
    "product",
    "saddle_free",
    "split_squares",
]

Weights = tuple[jax.Array, ...]


def product(weights: Sequence[jax.Array]) -> jax.Array:
    """W_D ... W_1 for weights ordered (W_1, ..., W_D)."""
    out = weights[0]
    for w in weights[1:]:
        out = w @ out
    return out


def loss(weights: Sequence[jax.Array], batch: dict) -> jax.Array:
    """(c/2) ||Y - W_prod X||_F^2 with ``batch = {"X", "Y", "c"}`` (cast to the weights' dtype)."""
    dtype = weights[0].dtype
    X, Y = batch["X"].astype(dtype), batch["Y"].astype(dtype)
    residual = Y - product(weights) @ X
    return 0.5 * batch["c"].astype(dtype) * jnp.sum(residual**2)


def init_aligned(key: jax.Array, U: jax.Array, V: jax.Array, *, n_hidden: int, depth: int,
                 u0: jax.Array, dtype=jnp.float32) -> Weights:
    """Balanced weights aligned with the task modes; product mode strengths all equal ``u0``."""
    r = U.shape[1]
    a0 = u0 ** (1.0 / depth)
    frames = [V]
    for k in jax.random.split(key, depth - 1):
        q, _ = jnp.linalg.qr(jax.random.normal(k, (n_hidden, r), dtype=jnp.float64))
        frames.append(q)
    frames.append(U)
    return tuple(
        (a0 * frames[l + 1] @ frames[l].T).astype(dtype) for l in range(depth)
    )


def init_random(key: jax.Array, dims: Sequence[int], *, scale: jax.Array,
                dtype=jnp.float32) -> Weights:
    """Weights W_l of shape (dims[l+1], dims[l]) with i.i.d. N(0, scale^2) entries."""
    keys = jax.random.split(key, len(dims) - 1)
    return tuple(
        (scale * jax.random.normal(k, (dims[l + 1], dims[l]), dtype=jnp.float64)).astype(dtype)
        for l, k in enumerate(keys)
    )


# ---- lambda-balanced two-layer networks ---------------------------------------------------
def check_lambda_dims(n_in: int, n_hidden: int, n_out: int, lam: float) -> None:
    """Raise :class:`ConfigError` unless W2^T W2 - W1 W1^T = lambda I is possible.

    Hidden directions beyond N_i carry no input weight, so their output weights need
    |w2|^2 = lambda >= 0; beyond N_o they carry no output weight and need |w1|^2 = -lambda >= 0.
    Hence N_h > N_i requires lambda >= 0 and N_h > N_o requires lambda <= 0 (both: lambda = 0,
    the extra hidden units then being dead).
    """
    dims = (n_in, n_hidden, n_out)
    if any(int(d) != d or d < 1 for d in dims):
        raise ConfigError(f"network dimensions must be positive integers, got {dims}")
    lam = float(lam)
    if not np.isfinite(lam):
        raise ConfigError(f"lambda must be finite, got {lam}")
    if n_hidden > n_in and lam < 0:
        raise ConfigError(f"lambda-balanced weights with N_h = {n_hidden} > N_i = {n_in} need "
                          f"lambda >= 0, got lambda = {lam:g}")
    if n_hidden > n_out and lam > 0:
        raise ConfigError(f"lambda-balanced weights with N_h = {n_hidden} > N_o = {n_out} need "
                          f"lambda <= 0, got lambda = {lam:g}")


def split_squares(a2, lam):
    """(w1^2, w2^2) = ((r - lambda)/2, (r + lambda)/2), r = sqrt(lambda^2 + 4 a2), stably.

    The pair satisfies w2^2 - w1^2 = lambda and w1 w2 = sqrt(a2); the small member is computed as
    a2 / (large member), avoiding the cancellation of r - |lambda| when |lambda| >> sqrt(a2).
    numpy in, numpy out; jax arrays (or tracers) in, jax arrays out.
    """
    xp = jnp if isinstance(a2, jax.Array) or isinstance(lam, jax.Array) else np
    a2, lam = xp.asarray(a2, dtype=xp.float64), xp.asarray(lam, dtype=xp.float64)
    big = (xp.sqrt(lam**2 + 4.0 * a2) + xp.abs(lam)) / 2.0
    small = xp.where(big > 0, a2 / xp.where(big > 0, big, 1.0), 0.0)
    return xp.where(lam >= 0, small, big), xp.where(lam >= 0, big, small)


@partial(jax.jit, static_argnums=1)
def haar(key: jax.Array, n: int) -> jax.Array:
    """A Haar-random n x n orthogonal matrix (float64)."""
    return orthogonal_factor(jax.random.normal(key, (n, n), dtype=jnp.float64))


def orthogonal_factor(g: jax.Array) -> jax.Array:
    """Q of the QR decomposition of a square ``g`` with signs fixed (diag R > 0).

    For ``g`` with i.i.d. Gaussian entries, Q is Haar-distributed on O(n).
    """
    q, r = jnp.linalg.qr(g)
    return q * jnp.sign(jnp.diag(r))[None, :]


@jax.jit
def saddle_free(U0: jax.Array, V0: jax.Array, sigma_yx: jax.Array) -> jax.Array:
    """U0 with its first column negated if det(U^T U0 V0^T V) < 0 (Sigma_yx = U S V^T square).

    With N_i = N_o, balanced weights W2 W1 = U0 diag(a) V0^T start exactly on a saddle at
    lambda = 0 when the orthogonal matrix U^T U0 V0^T V has an eigenvalue -1 (B of the B2 form
    is then singular and one direction is never learned), and det = -1 forces such an eigenvalue.
    Haar-random U0, V0 land there with probability 1/2; this flip keeps the draw generic.
    """
    U, _, Vt = jnp.linalg.svd(jnp.asarray(sigma_yx, jnp.float64))
    sign = jnp.sign(jnp.linalg.det(U.T @ U0 @ V0.T @ Vt.T))
    flip = jnp.ones(U0.shape[1]).at[0].set(jnp.where(sign < 0, -1.0, 1.0))
    return U0 * flip[None, :]


def _concrete(x) -> float | None:
    try:
        return float(x)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return None


def lambda_balanced_init(key: jax.Array, dims: Sequence[int], lam, *, a=None, scale=None,
                         U0=None, V0=None, R=None, dtype=jnp.float64) -> Weights:
    r"""Two-layer weights (W1, W2) with W2^T W2 - W1 W1^T = lambda I exactly.

    .. math:: W_1 = R S_1 V_0^T,\quad W_2 = U_0 S_2 R^T,\quad
              s_1 = \sqrt{(\sqrt{\lambda^2 + 4a^2} - \lambda)/2},\quad
              s_2 = \sqrt{(\sqrt{\lambda^2 + 4a^2} + \lambda)/2}

    so s2^2 - s1^2 = lambda and s1 s2 = a: the product is W2 W1 = U0 diag(a) V0^T. Hidden
    directions beyond min(N_i, N_h, N_o) get s2 = sqrt(lambda) (lambda > 0) or
    s1 = sqrt(-lambda) (lambda < 0).

    Args:
        key: PRNG key for the rotations left as None (and for ``a`` when drawn).
        dims: (N_i, N_h, N_o).
        lam: lambda (a traced value is allowed; a concrete one is checked against the
            dimensions with :func:`check_lambda_dims`).
        a: product singular values (scalar, or min(dims) values), or None to draw them as the
            singular values of an N_o x N_i matrix of i.i.d. N(0, scale^2) entries.
        scale: see ``a``.
        U0 (N_o x N_o), V0 (N_i x N_i), R (N_h x N_h): orthogonal matrices; Haar-random from
            ``key`` when None (U0, V0 = the task's singular vectors gives an aligned init).
        dtype: dtype of the returned weights (computed in float64).

    Raises:
        ConfigError: dimensions and lambda inconsistent, or neither ``a`` nor ``scale`` given.
    """
    n_in, n_hidden, n_out = (int(d) for d in dims)
    lam_value = _concrete(lam)
    if lam_value is not None:
        check_lambda_dims(n_in, n_hidden, n_out, lam_value)
    if a is None and scale is None:
        raise ConfigError("lambda_balanced_init needs the product singular values a or a scale")
    W1, W2 = _balanced_weights(key, (n_in, n_hidden, n_out), lam, a, scale, U0, V0, R)
    return W1.astype(dtype), W2.astype(dtype)


@partial(jax.jit, static_argnums=1)
def _balanced_weights(key, dims, lam, a, scale, U0, V0, R):
    """The jitted body of :func:`lambda_balanced_init` (None arguments are drawn)."""
    n_in, n_hidden, n_out = dims
    p = min(dims)
    k_u, k_v, k_r, k_a = jax.random.split(key, 4)
    if a is None:
        g = jax.random.normal(k_a, (n_out, n_in), dtype=jnp.float64)
        a = jnp.asarray(scale, jnp.float64) * jnp.linalg.svd(g, compute_uv=False)[:p]
    a = jnp.broadcast_to(jnp.asarray(a, jnp.float64), (p,))
    lam = jnp.asarray(lam, jnp.float64)
    s1sq, s2sq = split_squares(a**2, lam)
    extra = jnp.arange(p, n_hidden)
    s1 = jnp.concatenate([jnp.sqrt(s1sq), jnp.where(extra < n_in, jnp.sqrt(jnp.maximum(-lam, 0.0)),
                                                    0.0)])
    s2 = jnp.concatenate([jnp.sqrt(s2sq), jnp.where(extra < n_out, jnp.sqrt(jnp.maximum(lam, 0.0)),
                                                    0.0)])
    k1, k2 = min(n_hidden, n_in), min(n_out, n_hidden)
    S1 = jnp.zeros((n_hidden, n_in)).at[jnp.arange(k1), jnp.arange(k1)].set(s1[:k1])
    S2 = jnp.zeros((n_out, n_hidden)).at[jnp.arange(k2), jnp.arange(k2)].set(s2[:k2])
    U0 = haar(k_u, n_out) if U0 is None else jnp.asarray(U0, jnp.float64)
    V0 = haar(k_v, n_in) if V0 is None else jnp.asarray(V0, jnp.float64)
    R = haar(k_r, n_hidden) if R is None else jnp.asarray(R, jnp.float64)
    return R @ S1 @ V0.T, U0 @ S2 @ R.T
