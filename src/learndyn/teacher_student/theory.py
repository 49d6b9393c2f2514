r"""Order-parameter theory of online SGD in two-layer teacher-student networks (float64).

References: S. Goldt, M. S. Advani, A. M. Saxe, F. Krzakala, L. Zdeborova, *Dynamics of
stochastic gradient descent for two-layer neural networks in the teacher-student setup*,
NeurIPS 2019 (arXiv:1906.08632); D. Saad & S. A. Solla, PRL 74, 4337 (1995) and PRE 52, 4225
(1995); M. Biehl & H. Schwarze, J. Phys. A 28, 643 (1995).

A student phi(x) = sum_k v_k g(w_k x / sqrt N) learns from a teacher
phi*(x) = sum_m v*_m g(w*_m x / sqrt N) with labels y = phi*(x) + sigma zeta. With the order
parameters Q_ik = w_i w_k / N, R_in = w_i w*_n / N, T_nm = w*_n w*_m / N the local fields
(lambda_1..K, rho_1..M) are Gaussian with covariance Omega = [[Q, R], [R^T, T]]. Writing
a = (v, -v*) for the signed output weights of all K + M fields, the generalisation error is

.. math::

    \epsilon_g = \tfrac12 \langle(\phi - \phi^*)^2\rangle
               = \tfrac12 \sum_{b,c} a_b a_c I_2(b, c),

and, as N -> infinity with t = steps / N, SGD with first-layer step lr/sqrt(N), second-layer
step lr_v/N and weight decay w <- (1 - kappa/N) w, v <- (1 - kappa/N) v follows

.. math::

    \dot R_{in} &= -\kappa R_{in} + \eta v_i F_{in}, \qquad
        F_{ic} = -\sum_b a_b I_3(i, c, b), \\
    \dot Q_{ik} &= -2\kappa Q_{ik} + \eta (v_i F_{ik} + v_k F_{ki})
        + \eta^2 v_i v_k \Big[\sum_{b,c} a_b a_c I_4(i, k, b, c) + \sigma^2 J_2(i, k)\Big], \\
    \dot v_i &= -\kappa v_i - \eta_v \sum_b a_b I_2(i, b) \qquad \text{(second layer trained)},

with the Gaussian averages of :mod:`learndyn.teacher_student.integrals` (erf and linear in
closed form; ReLU in closed form except I4, a one-dimensional quadrature accurate to ~1e-9).

The public entry points compute in float64 whatever the caller's JAX mode
(:func:`learndyn.core.precision.float64`): :func:`generalisation_error`; :func:`integrate`
(adaptive Dormand-Prince 8 from any initial order parameters, in particular a simulation's own;
rtol 1e-10, 1e-8 for ReLU, whose right-hand side carries rounding noise from the regularised I4
quadrature: at 1e-10 the step-size control chases it, 1509 steps against 81 for t to 100 at
K = M = 2, for the same eps_g within 2e-9); :func:`fixed_point` (Gauss-Newton on the
right-hand side, accepted on the residual); the laws :func:`erf_floor_law`,
:func:`linear_floor_law` and the exact linear trajectory :func:`linear_error`. :func:`rhs` and
:func:`eg` are traceable (jnp in, jnp out) for use inside jit and vmap.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core import ode
from ..core.config import ConfigError
from ..core.precision import float64
from .integrals import ACTIVATIONS, FUNCTIONS, has_i4

__all__ = [
    "FIXED_POINTS",
    "FixedPoint",
    "RTOL",
    "OrderParameters",
    "check_order_parameters",
    "denoising_state",
    "drift",
    "eg",
    "erf_floor_law",
    "fixed_point",
    "generalisation_error",
    "integrate",
    "linear_error",
    "linear_floor_law",
    "rhs",
]


class OrderParameters(NamedTuple):
    """The dynamical order parameters (T and v* are constants passed separately)."""

    Q: jax.Array  # (K, K)
    R: jax.Array  # (K, M)
    v: jax.Array  # (K,)


RTOL = {"erf": 1e-10, "linear": 1e-10, "relu": 1e-8}  # default ODE tolerances (module docstring)
#: activations whose fixed points :func:`fixed_point` finds (the ReLU I4 quadrature has no
#: finite Jacobian at the singular covariances of specialised students)
FIXED_POINTS = ("erf", "linear")


def _check_activation(activation: str, *, ode_needed: bool = False) -> None:
    if activation not in FUNCTIONS:
        raise ConfigError(f"unknown activation '{activation}'; activations are: "
                          + ", ".join(ACTIVATIONS))
    if ode_needed and not has_i4(activation):
        raise ConfigError(f"activation '{activation}': the ODE needs I4, which learndyn does "
                          "not have for it")


def _omega(Q, R, T):
    top = jnp.concatenate([Q, R], axis=1)
    bottom = jnp.concatenate([R.T, T], axis=1)
    return jnp.concatenate([top, bottom], axis=0)


def _i2_matrix(omega, activation):
    d = jnp.diag(omega)
    return FUNCTIONS[activation]["I2"](d[:, None], omega, d[None, :])


def eg(Q, R, T, v, vstar, activation: str = "erf") -> jax.Array:
    """eps_g of one set of order parameters, traceable (jnp in, jnp out; use inside jit and
    vmap). :func:`generalisation_error` is the batched float64 front door."""
    a = jnp.concatenate([v, -vstar])
    return 0.5 * a @ _i2_matrix(_omega(Q, R, T), activation) @ a


@partial(jax.jit, static_argnames="activation")
def _eg_batched(Q, R, T, v, vstar, activation):
    f = jnp.vectorize(partial(eg, activation=activation),
                      signature="(k,k),(k,m),(m,m),(k),(m)->()")
    return f(Q, R, T, v, vstar)


@float64
def generalisation_error(Q, R, T, v, vstar, activation: str = "erf"):
    r"""eps_g = 1/2 <(phi(x) - phi*(x))^2> from the order parameters (noise-free teacher).

    Exact for any N given the overlaps: the fields are exactly Gaussian for Gaussian inputs.
    erf: (1/pi) sum_ik v_i v_k arcsin(Q_ik / sqrt((1+Q_ii)(1+Q_kk))) + teacher term
    - (2/pi) sum_in v_i v*_n arcsin(R_in / sqrt((1+Q_ii)(1+T_nn))); linear:
    1/2 (v^T Q v + v*^T T v* - 2 v^T R v*); ReLU: the same sum with the arc-cosine kernel.

    Args:
        Q: (..., K, K), R: (..., K, M), T: (..., M, M), v: (..., K), vstar: (..., M); leading
            dimensions broadcast (e.g. seeds and times).
        activation: ``"erf"``, ``"relu"`` or ``"linear"``.

    Returns:
        eps_g with the leading shape, float64.

    Example:
        >>> float(generalisation_error(np.eye(2), np.zeros((2, 2)), np.eye(2),
        ...                            np.ones(2), np.ones(2)))  # symmetric point: 2/3
        0.666...
    """
    _check_activation(activation)
    args = [jnp.asarray(x, dtype=jnp.float64) for x in (Q, R, T, v, vstar)]
    core = (2, 2, 2, 1, 1)
    batch = np.broadcast_shapes(*(x.shape[:x.ndim - c] for x, c in zip(args, core)))
    args = [jnp.broadcast_to(x, batch + x.shape[x.ndim - c:]) for x, c in zip(args, core)]
    return _eg_batched(*args, activation=activation)


def _field_averages(Q, R, T, v, vstar, activation):
    """F_ic = -sum_b a_b I3(i, c, b), the I4 bracket, J2 and the I2 row sums of the RHS."""
    f = FUNCTIONS[activation]
    K = Q.shape[0]
    om = _omega(Q, R, T)
    d = jnp.diag(om)
    ds = d[:K]
    a = jnp.concatenate([v, -vstar])
    S = om[:K, :]  # (K, n) covariances of student fields with all fields
    i3 = f["I3"](ds[:, None, None], S[:, :, None], S[:, None, :], d[None, :, None],
                 om[None, :, :], d[None, None, :])  # (K, n, n): I3(i, c, b)
    F = -(i3 @ a)
    # I4(i, k, b, c) is symmetric in (i, k) and in (b, c): evaluate i <= k, b <= c only
    ik, bc = np.triu_indices(K), np.triu_indices(len(d))
    i, k = (x[:, None] for x in ik)
    b, c = (x[None, :] for x in bc)
    i4 = f["I4"](ds[i], Q[i, k], S[i, b], S[i, c], ds[k], S[k, b], S[k, c], d[b], om[b, c],
                 d[c])  # (pairs i <= k, pairs b <= c)
    upper = i4 @ (np.where(bc[0] == bc[1], 1.0, 2.0) * a[bc[0]] * a[bc[1]])
    bracket = jnp.zeros((K, K)).at[ik].set(upper)
    bracket = bracket + jnp.triu(bracket, 1).T
    j2 = f["J2"](ds[:, None], Q, ds[None, :])
    g2 = _i2_matrix(om, activation)[:K, :] @ a
    return F, bracket, j2, g2


def rhs(t, state: OrderParameters, args) -> OrderParameters:
    """d(Q, R, v)/dt of the ODEs in the module docstring (v constant if not trained).

    ``args = (T, vstar, params, activation, train_second_layer)`` with
    ``params = (lr, lr2, sigma, weight_decay)`` (floats or float64 scalars).
    """
    del t
    T, vstar, params, activation, train_v = args
    lr, lr2, sigma, kappa = params
    Q, R, v = state
    K = Q.shape[0]
    F, bracket, j2, g2 = _field_averages(Q, R, T, v, vstar, activation)
    vF = v[:, None] * F[:, :K]
    dQ = lr * (vF + vF.T) + lr**2 * (v[:, None] * v[None, :]) * (bracket + sigma**2 * j2)
    dQ = dQ - 2.0 * kappa * Q
    dR = lr * v[:, None] * F[:, K:] - kappa * R
    dv = (-lr2 * g2 - kappa * v) if train_v else jnp.zeros_like(v)
    return OrderParameters(dQ, dR, dv)


@float64
@partial(jax.jit, static_argnames=("activation", "train_second_layer"))
def drift(state: OrderParameters, T, vstar, params, *, activation: str = "erf",
          train_second_layer: bool = False) -> OrderParameters:
    """Compiled :func:`rhs` at ``state``; ``params = (lr, lr2, sigma, weight_decay)``."""
    return rhs(0.0, state, (T, vstar, params, activation, train_second_layer))


@partial(jax.jit, static_argnames=("activation", "train_v", "rtol"))
def _solve(Q0, R0, T, v0, vstar, params, times, activation, train_v, rtol):
    args = (T, vstar, params, activation, train_v)
    ys = ode.solve(rhs, OrderParameters(Q0, R0, v0), times, args=args, rtol=rtol)
    errors = jax.vmap(lambda Q, R, v: eg(Q, R, T, v, vstar, activation))(ys.Q, ys.R, ys.v)
    return ys, errors


def check_order_parameters(Q, R, T, *, name: str = "initial order parameters",
                           atol: float = 1e-9) -> None:
    """Raise :class:`ConfigError` unless [[Q, R], [R^T, T]] is a symmetric PSD covariance."""
    Q, R, T = (np.asarray(x, dtype=np.float64) for x in (Q, R, T))
    K, M = R.shape
    if Q.shape != (K, K) or T.shape != (M, M):
        raise ConfigError(f"{name}: shapes Q {Q.shape}, R {R.shape}, T {T.shape} do not fit "
                          "(K, K), (K, M), (M, M)")
    om = np.block([[Q, R], [R.T, T]])
    if not np.all(np.isfinite(om)):
        raise ConfigError(f"{name}: not finite")
    scale = max(1.0, float(np.abs(om).max()))
    if not np.allclose(om, om.T, rtol=0.0, atol=atol * scale):
        raise ConfigError(f"{name}: Q and T must be symmetric")
    low = float(np.linalg.eigvalsh(0.5 * (om + om.T)).min())
    if low < -atol * scale:
        raise ConfigError(f"{name}: [[Q, R], [R^T, T]] is not positive semi-definite "
                          f"(smallest eigenvalue {low:.3g})")


@float64
def integrate(Q0, R0, T, v0, vstar, *, lr: float, sigma: float = 0.0, times,
              activation: str = "erf", train_second_layer: bool = False,
              lr2: float | None = None, weight_decay: float = 0.0,
              rtol: float | None = None) -> xr.Dataset:
    """Integrate the order-parameter ODEs from (Q0, R0, v0) and return them with eps_g.

    Args:
        Q0 (K, K), R0 (K, M), T (M, M), v0 (K,), vstar (M,): initial order parameters, e.g. a
            simulation's own at t = 0 (validated: [[Q, R], [R^T, T]] symmetric PSD).
        lr: first-layer learning rate eta (step lr/sqrt(N) in the simulation).
        sigma: output-noise standard deviation.
        times: increasing output times (t = steps / N), the first one the start.
        activation: ``"erf"``, ``"relu"`` or ``"linear"``.
        train_second_layer: integrate v too (step lr2/N in the simulation).
        lr2: second-layer rate eta_v (default ``lr``).
        weight_decay: kappa.
        rtol: relative tolerance of the adaptive solver (atol 1e-12); default :data:`RTOL`
            of the activation. Looser is faster (e.g. 1e-6 for plots).

    Returns:
        Dataset with ``eg`` (time), ``Q`` (time, student, student2), ``R`` (time, student,
        teacher), ``v`` (time, student) over coordinate ``time``.
    """
    _check_activation(activation, ode_needed=True)
    if lr < 0 or sigma < 0 or weight_decay < 0 or (lr2 is not None and lr2 < 0):
        raise ConfigError("lr, lr2, sigma and weight_decay must be non-negative")
    Q0, R0, T, v0, vstar = (jnp.asarray(x, dtype=jnp.float64) for x in (Q0, R0, T, v0, vstar))
    check_order_parameters(Q0, R0, T)
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ConfigError("times: need at least two strictly increasing times")
    params = tuple(jnp.float64(x) for x in (lr, lr if lr2 is None else lr2, sigma, weight_decay))
    rtol = RTOL[activation] if rtol is None else float(rtol)
    if not 0 < rtol < 1:
        raise ConfigError(f"rtol: must be in (0, 1), got {rtol}")
    ys, eg = _solve(Q0, R0, T, v0, vstar, params, jnp.asarray(times), activation,
                    bool(train_second_layer), rtol)
    return xr.Dataset(
        {
            "eg": ("time", np.asarray(eg)),
            "Q": (("time", "student", "student2"), np.asarray(ys.Q)),
            "R": (("time", "student", "teacher"), np.asarray(ys.R)),
            "v": (("time", "student"), np.asarray(ys.v)),
        },
        coords={"time": times},
    )


# ---- fixed points ---------------------------------------------------------------------------
def _pack(state: OrderParameters, train_v: bool) -> jax.Array:
    K = state.Q.shape[0]
    iu = np.triu_indices(K)
    parts = [state.Q[iu], state.R.ravel()] + ([state.v] if train_v else [])
    return jnp.concatenate(parts)


def _unpack(y, K, M, v_fixed, train_v) -> OrderParameters:
    iu = np.triu_indices(K)
    n_q = len(iu[0])
    upper = jnp.zeros((K, K)).at[iu].set(y[:n_q])
    Q = upper + jnp.triu(upper, 1).T
    R = y[n_q:n_q + K * M].reshape(K, M)
    v = y[n_q + K * M:] if train_v else v_fixed
    return OrderParameters(Q, R, v)


class FixedPoint(NamedTuple):
    """A fixed point of the ODEs: the state, its eps_g, residual and stability."""

    state: OrderParameters
    eg: float
    residual: float  # max |RHS| at the returned state
    max_real_eigenvalue: float  # of the Jacobian (packed coordinates)
    converged: bool  # residual below the acceptance threshold


@partial(jax.jit, static_argnames=("K", "M", "activation", "train_v"))
def _packed_rhs_and_jacobian(y, T, v_fixed, vstar, params, K, M, activation, train_v):
    def f(y):
        state = _unpack(y, K, M, v_fixed, train_v)
        return _pack(rhs(0.0, state, (T, vstar, params, activation, train_v)), train_v)

    return f(y), jax.jacfwd(f)(y)


@float64
def fixed_point(Q, R, T, v, vstar, *, lr: float, sigma: float = 0.0,
                activation: str = "erf", train_second_layer: bool = False,
                lr2: float | None = None, weight_decay: float = 0.0,
                tol: float | None = None, max_iter: int = 100) -> FixedPoint:
    """A fixed point of the ODEs near (Q, R, v): damped Gauss-Newton with least-squares steps.

    Least-squares (pseudo-inverse) steps cope with the nearly singular Jacobian of
    over-parameterised students (how copies of one teacher unit share it is nearly neutral).
    The result is accepted when max |RHS| < ``tol`` (default 1e-6 lr^2 sigma^2, or 1e-15 when
    sigma = 0): solvers' own convergence flags are unreliable at these tiny scales.
    """
    _check_activation(activation, ode_needed=True)
    Q, R, T, v, vstar = (jnp.asarray(x, dtype=jnp.float64) for x in (Q, R, T, v, vstar))
    K, M = R.shape
    train_v = bool(train_second_layer)
    params = tuple(jnp.float64(x) for x in (lr, lr if lr2 is None else lr2, sigma, weight_decay))
    if tol is None:
        tol = 1e-6 * lr**2 * sigma**2 if sigma > 0 else 1e-15
    y = _pack(OrderParameters(Q, R, v), train_v)

    def evaluate(y):
        F, J = _packed_rhs_and_jacobian(y, T, v, vstar, params, K, M, activation, train_v)
        return np.asarray(F), np.asarray(J)

    F, J = evaluate(y)
    for _ in range(max_iter):
        if np.max(np.abs(F)) < tol:
            break
        step = np.linalg.lstsq(J, -F, rcond=1e-13)[0]
        scale = 1.0
        for _ in range(30):  # backtrack until the residual norm decreases
            y_new = y + scale * step
            F_new, J_new = evaluate(y_new)
            if np.all(np.isfinite(F_new)) and np.linalg.norm(F_new) < np.linalg.norm(F):
                break
            scale *= 0.5
        else:
            break
        y, F, J = y_new, F_new, J_new
    state = _unpack(jnp.asarray(y), K, M, v, train_v)
    residual = float(np.max(np.abs(F)))
    eig = np.linalg.eigvals(J)
    return FixedPoint(
        state,
        float(eg(state.Q, state.R, T, state.v, vstar, activation)),
        residual,
        float(np.max(eig.real)),
        residual < tol,
    )


def denoising_state(T, vstar, K: int) -> OrderParameters:
    """Both-layer denoising configuration for K = c M: student i copies teacher i mod M.

    Q_ik = T_{n(i) n(k)}, R_in = T_{n(i) n}, v_i = v*_{n(i)} / c: the student function equals
    the teacher's, so every bracket of the ODEs vanishes (a fixed point at sigma = 0).
    """
    T, vstar = np.asarray(T, dtype=np.float64), np.asarray(vstar, dtype=np.float64)
    M = len(vstar)
    if K % M:
        raise ValueError(f"K = {K} is not a multiple of M = {M}")
    n = np.arange(K) % M
    return OrderParameters(jnp.asarray(T[np.ix_(n, n)]), jnp.asarray(T[n]),
                           jnp.asarray(vstar[n] / (K // M)))


def erf_floor_law(K: int, M: int, lr, sigma):
    """Small-lr final error (erf, first layer, v = v* = 1, T = I): lr sigma^2/(2pi) (L + M/sqrt3).

    Each specialised unit feels the noise through J2 = 2/(pi sqrt 3); each of the L = K - M
    surplus units shrinks to Q_jj ~ lr sigma^2/2 and adds ~ lr sigma^2/(2 pi).
    """
    return np.asarray(lr) * np.asarray(sigma) ** 2 / (2 * np.pi) * ((K - M) + M / np.sqrt(3.0))


def linear_floor_law(K: int, lr, sigma):
    """Exact final error, linear, first layer only, v = 1: K lr sigma^2 / (2 (2 - K lr)).

    The student acts as one perceptron with rate K lr; with e = 2 eps_g,
    de/dt = -2 K lr e + K^2 lr^2 (e + sigma^2) (stable for K lr < 2).
    """
    K, lr = np.asarray(K, dtype=np.float64), np.asarray(lr, dtype=np.float64)
    return K * lr * np.asarray(sigma) ** 2 / (2.0 * (2.0 - K * lr))


def linear_error(eg0, K: int, lr, sigma, times, *, v: float = 1.0) -> np.ndarray:
    """Exact eps_g(t) of a linear student trained on the first layer only (v fixed, no weight
    decay), from eps_g(0) = ``eg0``: the K units act as one perceptron with rate K v^2 lr, so
    e = 2 eps_g obeys de/dt = -2 a e + a^2 (e + sigma^2) with a = K v^2 lr, and

        eps_g(t) = eps* + (eg0 - eps*) exp(-(2a - a^2) t),  eps* = a sigma^2 / (2 (2 - a)),

    the solution of the full ODE for Q, R from any start (``eg0`` (...,) broadcasts against
    ``times`` (T,) as (..., T)). The error relaxes only for a < 2.
    """
    a = K * v**2 * np.asarray(lr, dtype=np.float64)
    star = a * np.asarray(sigma, dtype=np.float64) ** 2 / (2.0 * (2.0 - a))
    decay = np.exp(-(2.0 * a - a**2) * np.asarray(times, dtype=np.float64))
    return star + (np.asarray(eg0, dtype=np.float64)[..., None] - star) * decay
