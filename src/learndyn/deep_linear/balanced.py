r"""Exact learning dynamics of lambda-balanced two-layer linear networks (float64).

References: C. C. J. Dominé, N. Anguita, A. M. Proca, L. Braun, D. Kunin, P. A. M. Mediano,
A. M. Saxe, *From Lazy to Rich: Exact Learning Dynamics in Deep Linear Networks*, ICLR 2025
(arXiv:2409.14623); L. Braun et al., NeurIPS 2022 (the lambda = 0 form); K. Fukumizu 1998 (the
matrix Riccati solution). Public through :mod:`learndyn.deep_linear.theory`.

Network f(x) = W2 W1 x with W1 (N_h x N_i), W2 (N_o x N_h), whitened inputs (Sigma_xx = I) and
gradient flow tau dW1/dt = W2^T (Sigma_yx - W2 W1), tau dW2/dt = (Sigma_yx - W2 W1) W1^T. The
weights are *lambda-balanced* when W2^T W2 - W1 W1^T = lambda I; gradient flow conserves this.

**B1 (Riccati).** Q = [W1^T; W2] ((N_i + N_o) x N_h) and

.. math:: QQ^T = \begin{bmatrix} W_1^TW_1 & W_1^TW_2^T\\ W_2W_1 & W_2W_2^T\end{bmatrix},\quad
          F = \begin{bmatrix} -\tfrac\lambda2 I & \Sigma_{yx}^T\\ \Sigma_{yx} & \tfrac\lambda2 I
          \end{bmatrix},\quad \tau\tfrac{d}{dt}QQ^T = F\,QQ^T + QQ^T F - (QQ^T)^2,

solved by :math:`QQ^T(t) = e^{Ft}Q_0[I + \tfrac12 Q_0^T F^{-1}(e^{2Ft} - I) Q_0]^{-1}Q_0^Te^{Ft}`
(:func:`qqt_oneshot`; it loses all accuracy in float64 once Lambda_max t exceeds ~5-10). F has
eigenvalues +-Lambda_alpha, Lambda_alpha = sqrt(s_alpha^2 + lambda^2/4), and +-lambda/2.

**B2 (stable diagonal form, N_i = N_h = N_o; :func:`qqt_diagonal`).** Per mode
X = lambda / (sqrt(lambda^2 + 4 s^2) + 2 s) (no division by lambda), A = (1 + X^2)^(-1/2),
G = A(1 - X), H = A(1 + X); B = W2(0)^T U H + W1(0) V G, C = W2(0)^T U G - W1(0) V H. With
E = diag(e^{-Lambda t/tau}) and K = E C^T B^{-T} E,

.. math:: Z = \begin{bmatrix} V(G - HK)\\ U(H + GK)\end{bmatrix},\quad
          M = 4EB^{-1}B^{-T}E + (I - E^2)\Lambda^{-1} + EB^{-1}C(I - E^2)\Lambda^{-1}C^TB^{-T}E,
          \quad QQ^T = Z M^{-1} Z^T.

Only decaying exponentials appear. It needs B invertible (fails for an anti-aligned start).

**B3 (chunked factor propagation, any dims; :func:`qqt_propagate`).** Keep an N_h-column factor
Q~ (Q~ = Q0 at t = 0); per step Delta with Lambda_max Delta/tau <= 2: S = I + 1/2 Q~^T K(Delta) Q~
= L L^T (Cholesky), Q~ <- e^{F Delta} Q~ L^{-T}. Then Q~ Q~^T = QQ^T(t) exactly, and Q~ equals Q up
to a rotation of the hidden units (:func:`propagate_weights` returns it as weights).

B4-B6 live in :mod:`learndyn.deep_linear.balanced_modes`:

**B4 (one aligned mode; :func:`mode_trajectory`).** tau da/dt = sqrt(lambda^2 + 4a^2)(s - a),
solved in cosh/sinh form, evaluated with e^{-Lambda t} only; lambda = 0 is Saxe's sigmoid.

**B5 (product only, equal dims; :func:`product_rhs`).**
tau dW/dt = (WW^T + lambda^2/4)^{1/2}(Sigma_yx - W) + (Sigma_yx - W)(W^TW + lambda^2/4)^{1/2}:
a function of lambda^2, so the network function and the loss are equal for +lambda and -lambda.

**B6 (t -> infinity; :func:`final_representations`).** W2 W1 -> Sigma_yx,
W1^T W1 -> V (Lambda - lambda/2) V^T, W2 W2^T -> U (Lambda + lambda/2) U^T on the task subspace.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..core import ode
from ..core.config import ConfigError
from ..core.precision import float64
from .balanced_modes import checked_times
from .flow import flow_field

__all__ = [
    "COND_MAX",
    "b_condition",
    "f_matrix",
    "gradient_flow",
    "gradient_flow_many",
    "lambda_of",
    "mode_constants",
    "propagate_weights",
    "qqt_diagonal",
    "qqt_oneshot",
    "qqt_propagate",
    "qqt_trajectory",
    "representations",
]

COND_MAX = 1e12  # B2 falls back to B3 when cond(B) exceeds this


def _f64(x):
    return jnp.asarray(x, dtype=jnp.float64)


# ---- weights and their blocks -------------------------------------------------------------
def representations(W1, W2) -> dict:
    """The blocks of QQ^T: ``W2W1`` (function), ``W1tW1`` (input side), ``W2W2t`` (output side).

    Leading batch axes are allowed (the same on both). numpy in, numpy out.
    """
    xp = jnp if isinstance(W1, jax.Array) or isinstance(W2, jax.Array) else np
    W1, W2 = xp.asarray(W1, dtype=xp.float64), xp.asarray(W2, dtype=xp.float64)
    return {"W2W1": W2 @ W1, "W1tW1": xp.swapaxes(W1, -1, -2) @ W1,
            "W2W2t": W2 @ xp.swapaxes(W2, -1, -2)}


def lambda_of(W1, W2, *, tol: float = 1e-8) -> np.ndarray:
    """lambda with W2^T W2 - W1 W1^T = lambda I (per leading batch index).

    Raises :class:`ConfigError` if the weights are not lambda-balanced: the largest entry of
    W2^T W2 - W1 W1^T - lambda I must be at most ``tol`` times max(1, largest entry of W2^T W2
    and W1 W1^T).
    """
    single = np.asarray(W1).dtype == np.float32 or np.asarray(W2).dtype == np.float32
    W1, W2 = np.asarray(W1, np.float64), np.asarray(W2, np.float64)
    if W1.shape[:-2] != W2.shape[:-2] or W1.shape[-2] != W2.shape[-1]:
        raise ConfigError(f"weights W1 {W1.shape} and W2 {W2.shape} do not form a two-layer net "
                          "(W1: N_h x N_i, W2: N_o x N_h)")
    a = np.swapaxes(W2, -1, -2) @ W2
    b = W1 @ np.swapaxes(W1, -1, -2)
    diff = a - b
    nh = W1.shape[-2]
    lam = np.trace(diff, axis1=-2, axis2=-1) / nh
    err = np.max(np.abs(diff - lam[..., None, None] * np.eye(nh)), axis=(-2, -1))
    scale = np.maximum(1.0, np.maximum(np.abs(a).max(axis=(-2, -1)), np.abs(b).max(axis=(-2, -1))))
    if np.any(err > tol * scale):
        raise ConfigError(f"weights are not lambda-balanced: max|W2^T W2 - W1 W1^T - lambda I| = "
                          f"{float(np.max(err)):.3g} > tol = {tol:g} (x scale)"
                          + ("; the weights are float32: build them under "
                             "jax.enable_x64(True)" if single else ""))
    return lam


def _check_task(W1, W2, sigma_yx):
    n_h, n_i = W1.shape[-2:]
    n_o = W2.shape[-2]
    if sigma_yx.shape != (n_o, n_i):
        raise ConfigError(f"sigma_yx has shape {sigma_yx.shape}; the weights need ({n_o}, {n_i})")
    return n_i, n_h, n_o


def mode_constants(s, lam):
    """Per-mode X, G, H and Lambda of B2 (numpy; ``s`` broadcasts against ``lam``).

    X = lambda / (sqrt(lambda^2 + 4 s^2) + 2 s) (the cancellation-free form of
    (sqrt(lambda^2 + 4 s^2) - 2 s)/lambda; X = 0 when s = lambda = 0), A = (1 + X^2)^{-1/2},
    G = A(1 - X), H = A(1 + X), Lambda = sqrt(s^2 + lambda^2/4).
    """
    s, lam = np.broadcast_arrays(np.asarray(s, np.float64), np.asarray(lam, np.float64))
    root = np.sqrt(lam**2 + 4.0 * s**2)
    den = root + 2.0 * s
    X = np.divide(lam, den, out=np.zeros_like(den), where=den > 0)
    A = 1.0 / np.sqrt(1.0 + X**2)
    return X, A * (1.0 - X), A * (1.0 + X), root / 2.0


def _frame(sigma_yx):
    """Full SVD Sigma_yx = U diag(s) V^T (square U, V; s padded with zeros to N)."""
    U, s, Vt = np.linalg.svd(np.asarray(sigma_yx, np.float64), full_matrices=True)
    return U, s, Vt.T


def _b_matrix(W1, W2, U, s, V, lam):
    """B and C of B2 for weights with leading batch axes (lam broadcast over them)."""
    lam = np.asarray(lam, np.float64)[..., None]
    _, G, H, _ = mode_constants(s, lam)  # (..., N)
    W2tU = np.swapaxes(W2, -1, -2) @ U
    W1V = W1 @ V
    G, H = G[..., None, :], H[..., None, :]
    return W2tU * H + W1V * G, W2tU * G - W1V * H


def _blocks(P, n_in):
    return {"W2W1": P[..., n_in:, :n_in], "W1tW1": P[..., :n_in, :n_in],
            "W2W2t": P[..., n_in:, n_in:]}


def _weights(W1, W2):
    W1, W2 = np.asarray(W1, np.float64), np.asarray(W2, np.float64)
    if W1.shape[:-2] != W2.shape[:-2]:
        raise ConfigError(f"W1 {W1.shape} and W2 {W2.shape} have different batch axes")
    return W1, W2


def b_condition(W1_0, W2_0, sigma_yx, lam) -> np.ndarray:
    """cond(B) of B2 per batch element (inf when B is singular)."""
    U, s, V = _frame(sigma_yx)
    W1, W2 = _weights(W1_0, W2_0)
    B, _ = _b_matrix(W1, W2, U, s, V, np.broadcast_to(lam, W1.shape[:-2]))
    return np.linalg.cond(B)


def _tr(A):
    return np.swapaxes(A, -1, -2)


def qqt_diagonal(W1_0, W2_0, sigma_yx, times, tau: float = 1.0, *, lam=None) -> dict:
    """QQ^T(t) by the stable diagonal form B2 (N_i = N_h = N_o only).

    Args:
        W1_0, W2_0: lambda-balanced initial weights, optionally with equal leading batch axes.
        sigma_yx: the task's input-output correlation (N_o x N_i), inputs whitened.
        times: times >= 0 (any order); tau: time constant.
        lam: lambda per batch element; read off the weights (:func:`lambda_of`) if None.

    Returns:
        ``{"W2W1", "W1tW1", "W2W2t"}``, each of shape (*batch, len(times), rows, cols).

    Raises:
        ConfigError: unequal dimensions, unbalanced weights, or B singular (cond > 1e12; use
            :func:`qqt_propagate`).
    """
    W1, W2 = _weights(W1_0, W2_0)
    sigma_yx = np.asarray(sigma_yx, np.float64)
    n_i, n_h, n_o = _check_task(W1, W2, sigma_yx)
    if not n_i == n_h == n_o:
        raise ConfigError(f"the diagonal form B2 needs N_i = N_h = N_o, got ({n_i}, {n_h}, {n_o}); "
                          "use qqt_propagate")
    lam = lambda_of(W1, W2) if lam is None else np.broadcast_to(lam, W1.shape[:-2])
    U, s, V = _frame(sigma_yx)
    B, C = _b_matrix(W1, W2, U, s, V, lam)
    cond = np.linalg.cond(B)
    if np.any(~(cond <= COND_MAX)):
        raise ConfigError(f"B2 needs B invertible; cond(B) = {float(np.max(cond)):.3g} > "
                          f"{COND_MAX:g} (e.g. an anti-aligned start): use qqt_propagate")
    _, G, H, Lam = mode_constants(s, np.asarray(lam)[..., None])  # (..., N)
    Binv = np.linalg.inv(B)
    BB = (Binv @ _tr(Binv))[..., None, :, :]  # (..., 1, N, N)
    D = (Binv @ C)[..., None, :, :]  # B^{-1} C; K = E D^T E
    t = checked_times(times)[:, None] / tau  # (T, 1)
    Lam = Lam[..., None, :]  # (..., 1, N)
    e = np.exp(-Lam * t)  # (..., T, N)
    full = np.broadcast_to(2.0 * t, e.shape).copy()
    q = np.divide(-np.expm1(-2.0 * Lam * t), Lam, out=full, where=np.broadcast_to(Lam > 0, e.shape))
    # q = (1 - E^2) / Lambda, equal to 2t at Lambda = 0
    outer = e[..., :, None] * e[..., None, :]
    K = outer * _tr(D)
    M = 4.0 * outer * BB + outer * ((D * q[..., None, :]) @ _tr(D))
    M += q[..., :, None] * np.eye(n_i)
    G, H = G[..., None, :, None], H[..., None, :, None]  # scale rows
    Z = np.concatenate([V @ (np.eye(n_i) * G - H * K), U @ (np.eye(n_i) * H + G * K)], axis=-2)
    L = np.linalg.cholesky(M)
    Y = np.linalg.solve(L, _tr(Z))
    return _blocks(_tr(Y) @ Y, n_i)


# ---- B3: chunked factor propagation (any dims) --------------------------------------------
def f_matrix(sigma_yx, lam):
    """F = [[-lambda/2 I, Sigma_yx^T], [Sigma_yx, lambda/2 I]] (symmetric; numpy)."""
    sigma_yx = np.asarray(sigma_yx, np.float64)
    n_o, n_i = sigma_yx.shape
    return np.block([[-lam / 2.0 * np.eye(n_i), sigma_yx.T],
                     [sigma_yx, lam / 2.0 * np.eye(n_o)]])


def _grid(times: np.ndarray, dt_max: float):
    """A grid from 0 through every time with steps <= dt_max; index of each time in it."""
    grid, where = [0.0], np.empty(len(times), dtype=np.int64)
    for k in np.argsort(times, kind="stable"):
        tk, prev = float(times[k]), grid[-1]
        if tk > prev:
            n = max(1, int(np.ceil((tk - prev) / dt_max - 1e-9))) if np.isfinite(dt_max) else 1
            grid.extend((prev + (tk - prev) * np.arange(1, n + 1) / n).tolist())
            grid[-1] = tk
        where[k] = len(grid) - 1
    return np.asarray(grid), where


def _spectral(f, E, x):
    """E diag(x) E^T for stacks of eigen-decompositions."""
    return (E * x[..., None, :]) @ _tr(E)


def _propagate(W1_0, W2_0, sigma_yx, times, tau, max_step, lam):
    """The factor Q~(t) at ``times``: shape (*batch, T, N_i + N_o, N_h)."""
    W1, W2 = _weights(W1_0, W2_0)
    sigma_yx = np.asarray(sigma_yx, np.float64)
    _check_task(W1, W2, sigma_yx)
    lam = lambda_of(W1, W2) if lam is None else np.broadcast_to(lam, W1.shape[:-2])
    f, E = np.linalg.eigh(np.vectorize(lambda l: f_matrix(sigma_yx, l),
                                       signature="()->(n,n)")(np.asarray(lam, np.float64)))
    f_max = float(np.max(np.abs(f), initial=0.0))
    grid, where = _grid(checked_times(times) / tau, max_step / f_max if f_max > 0 else np.inf)
    Q = np.concatenate([_tr(W1), W2], axis=-2)
    eye = np.eye(Q.shape[-1])
    steps = {}
    out = np.empty(Q.shape[:-2] + (len(grid),) + Q.shape[-2:])
    out[..., 0, :, :] = Q
    for i, d in enumerate(np.diff(grid), start=1):
        key = round(d, 15)
        if key not in steps:  # equal steps within an interval share e^{F d} and K(d)
            g = np.divide(np.expm1(2.0 * f * d), f, out=np.full_like(f, 2.0 * d), where=f != 0)
            steps = {key: (_spectral(f, E, np.exp(f * d)), _spectral(f, E, g))}
        ex, K = steps[key]
        L = np.linalg.cholesky(eye + 0.5 * _tr(Q) @ K @ Q)
        Q = _tr(np.linalg.solve(L, _tr(ex @ Q)))  # e^{F d} Q L^{-T}
        out[..., i, :, :] = Q
    return out[..., where, :, :]


def qqt_propagate(W1_0, W2_0, sigma_yx, times, tau: float = 1.0, *, max_step: float = 2.0,
                  lam=None) -> dict:
    """QQ^T(t) by chunked factor propagation B3 (any dimensions, any B).

    Steps Delta satisfy Lambda_max Delta / tau <= ``max_step``; arguments and return value as in
    :func:`qqt_diagonal`.
    """
    Q = _propagate(W1_0, W2_0, sigma_yx, times, tau, max_step, lam)
    return _blocks(Q @ _tr(Q), np.shape(W1_0)[-1])


def propagate_weights(W1_0, W2_0, sigma_yx, times, tau: float = 1.0, *, max_step: float = 2.0):
    """Weights (W1(t), W2(t)) under gradient flow, up to a rotation of the hidden units.

    The B3 factor Q~ = [W1^T; W2] O(t) with O(t) orthogonal: the returned weights have exactly
    the function and representations of the network at time t, are lambda-balanced with the
    same lambda, and can start a new closed-form segment (e.g. after a change of task).
    Shapes (*batch, len(times), N_h, N_i) and (*batch, len(times), N_o, N_h).
    """
    n_i = np.shape(W1_0)[-1]
    Q = _propagate(W1_0, W2_0, sigma_yx, times, tau, max_step, None)
    return _tr(Q[..., :n_i, :]), Q[..., n_i:, :]


def qqt_trajectory(W1_0, W2_0, sigma_yx, times, tau: float = 1.0, *, method: str = "auto",
                   tol: float = 1e-8) -> dict:
    r"""The exact function and representations of a lambda-balanced two-layer net over time.

    .. math:: QQ^T(t) = \begin{bmatrix} W_1^TW_1 & \cdot\\ W_2W_1 & W_2W_2^T\end{bmatrix}(t),
              \quad \tau\tfrac{d}{dt}QQ^T = F\,QQ^T + QQ^TF - (QQ^T)^2

    lambda is read off the initial weights (W2^T W2 - W1 W1^T = lambda I, checked to ``tol``).
    ``method="auto"`` uses the diagonal form B2 for N_i = N_h = N_o when cond(B) <= 1e12 and
    chunked factor propagation B3 otherwise; ``"diagonal"`` or ``"propagate"`` force one. Both
    are stable for all t and exact at lambda = 0 (no division by lambda).

    Args:
        W1_0: (..., N_h, N_i) and W2_0: (..., N_o, N_h) initial weights (equal batch axes).
        sigma_yx: (N_o, N_i) input-output correlation (inputs whitened, Sigma_xx = I).
        times: times >= 0 at which to evaluate; tau: time constant of the flow.

    Returns:
        dict of numpy arrays ``W2W1`` (..., T, N_o, N_i), ``W1tW1`` (..., T, N_i, N_i),
        ``W2W2t`` (..., T, N_o, N_o).

    Raises:
        ConfigError: weights not lambda-balanced, or shapes inconsistent with ``sigma_yx``.
    """
    W1, W2 = _weights(W1_0, W2_0)
    lam = lambda_of(W1, W2, tol=tol)
    sigma_yx = np.asarray(sigma_yx, np.float64)
    n_i, n_h, n_o = _check_task(W1, W2, sigma_yx)
    if method not in ("auto", "diagonal", "propagate"):
        raise ValueError(f"method must be 'auto', 'diagonal' or 'propagate', got {method!r}")
    if method == "auto":
        equal = n_i == n_h == n_o
        ok = equal and bool(np.all(b_condition(W1, W2, sigma_yx, lam) <= COND_MAX))
        method = "diagonal" if ok else "propagate"
    if method == "diagonal":
        return qqt_diagonal(W1, W2, sigma_yx, times, tau, lam=lam)
    return qqt_propagate(W1, W2, sigma_yx, times, tau, lam=lam)


def qqt_oneshot(W1_0, W2_0, sigma_yx, times, tau: float = 1.0) -> dict:
    """B1 evaluated directly. Accurate only while Lambda_max t/tau <~ 5 (float64 trap).

    Kept as the reference formula and to show the trap (see the tests): the e^{+Lambda t}
    factors cancel, so errors grow like e^{2 Lambda t} eps; NaN where the inner matrix is
    numerically singular (cond >= 1e16).
    """
    W1, W2 = _weights(W1_0, W2_0)
    lam = lambda_of(W1, W2)
    f, E = np.linalg.eigh(np.vectorize(lambda l: f_matrix(sigma_yx, l),
                                       signature="()->(n,n)")(lam))
    Q0 = np.concatenate([_tr(W1), W2], axis=-2)[..., None, :, :]
    t = checked_times(times)[:, None] / tau
    f, E = f[..., None, :], E[..., None, :, :]
    g = np.divide(np.expm1(2.0 * f * t), f, out=np.broadcast_to(2.0 * t, np.broadcast_shapes(
        f.shape, t.shape)).copy(), where=f != 0)
    A = _spectral(f, E, np.exp(f * t)) @ Q0
    inner = np.eye(Q0.shape[-1]) + 0.5 * _tr(Q0) @ _spectral(f, E, g) @ Q0
    with np.errstate(all="ignore"):
        cond = np.linalg.cond(inner)
        inner = np.where((cond < 1e16)[..., None, None], inner, np.eye(inner.shape[-1]))
        P = A @ np.linalg.solve(inner, _tr(A))
    return _blocks(np.where((cond < 1e16)[..., None, None], P, np.nan), W1.shape[-1])


# ---- numerical reference ------------------------------------------------------------------
def _flow_rhs(t, y, args):
    sigmas, tau = args
    return [jax.vmap(lambda W1, W2, s=sigma: flow_field(W1, W2, s, tau=tau))(*w)
            for sigma, w in zip(sigmas, y)]


@float64
def gradient_flow_many(nets, times, tau: float = 1.0, *, rtol: float = 1e-11,
                       atol: float = 1e-13) -> list:
    """:func:`gradient_flow` for several networks (any shapes) in one integration.

    ``nets`` is a list of (W1_0, W2_0, sigma_yx); one solve (one compilation) covers them all.
    Returns a list of (W1(t), W2(t)) numpy pairs.
    """
    t = checked_times(times)
    if np.any(np.diff(t) <= 0):
        raise ValueError("gradient_flow needs strictly increasing times")
    grid = t if t[0] == 0 else np.concatenate([[0.0], t])
    y0, sigmas, batches = [], [], []
    for W1_0, W2_0, sigma_yx in nets:
        W1, W2 = _weights(W1_0, W2_0)
        _check_task(W1, W2, np.asarray(sigma_yx))
        batches.append(W1.shape[:-2])
        y0.append((W1.reshape((-1,) + W1.shape[-2:]), W2.reshape((-1,) + W2.shape[-2:])))
        sigmas.append(_f64(sigma_yx))
    ys = ode.solve(_flow_rhs, y0, grid, args=(sigmas, tau), rtol=rtol, atol=atol)
    out = []
    for batch, pair in zip(batches, ys):
        W1t, W2t = (np.moveaxis(np.asarray(y)[len(grid) - len(t):], 0, 1) for y in pair)
        out.append((W1t.reshape(batch + W1t.shape[1:]), W2t.reshape(batch + W2t.shape[1:])))
    return out


def gradient_flow(W1_0, W2_0, sigma_yx, times, tau: float = 1.0, *, rtol: float = 1e-11,
                  atol: float = 1e-13):
    """Float64 numerical integration of gradient flow (core.ode.solve, 8th-order Dormand-Prince).

    tau dW1/dt = W2^T (Sigma_yx - W2 W1), tau dW2/dt = (Sigma_yx - W2 W1) W1^T from the given
    weights (balanced or not; leading batch axes allowed) at t = 0; the reference the closed
    forms are tested against. Returns numpy (W1(t), W2(t)) of shapes (*batch, len(times), N_h,
    N_i) and (*batch, len(times), N_o, N_h).
    """
    return gradient_flow_many([(W1_0, W2_0, sigma_yx)], times, tau, rtol=rtol, atol=atol)[0]
