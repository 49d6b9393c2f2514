r"""Two-point effective theory of representation learning (float64).

Reference: L. van Rossem, A. M. Saxe, *When Representations Align: Universality in Representation
Learning Dynamics*, ICML 2024 (arXiv:2402.09142).

A network is split at a hidden layer into an encoder and a decoder that are flexible enough to
move representations freely. For two inputs x_1, x_2 (difference dx) with targets differing by
dy*, linearise around the means: the representations differ by dh = D_h dx, the outputs by
dy^ = D_y dh. Gradient flow on (y-bar, D_h, D_y) with effective rates (eta_ybar, eta_h, eta_y) of
the loss L = 1/2 sum_i ||y^_i - y_i||^2 (the ``"half_sum"`` convention) keeps D_y along dh, and
the squared distances

    h = ||dh||^2,  y = ||dy^||^2,  w = ||dy^||^2 - <dy*, dy^>   (dx2 = ||dx||^2, dy2 = ||dy*||^2)

obey the closed system

.. math:: \dot h = -\eta_h\,dx2\,w,\qquad
          \dot y = -w\,(\eta_y h + \eta_h\,dx2\,y/h),

.. math:: \dot w = -\tfrac12\eta_y(3w - y + dy2)\,h - \tfrac12\eta_h\,dx2\,(y + w)\,w/h.

It conserves :math:`C = h/(\eta_h dx2) - y/(\eta_y h)` (the analogue of lambda-balance). At the
fixed point w = 0, y = dy2, so conservation of C gives

.. math:: h_\infty = \tfrac12 A_{high} + \sqrt{\tfrac14 A_{high}^2 + A_{low}^2},\quad
          A_{high} = h_0 - \tfrac{\eta_h}{\eta_y}\tfrac{dx2\,y_0}{h_0},\quad
          A_{low}^2 = \tfrac{\eta_h}{\eta_y}\,dx2\,dy2 .

Rich limit (A_high -> 0): h_inf -> sqrt(eta_h/eta_y) ||dx|| ||dy*||. Lazy limit (h0 >> A_low,
y0 << h0^2): h_inf ~ h0 + A_low^2/h0. With dy2 = 0 and A_high <= 0 the two representations merge
(h_inf = 0) and h -> 0 along the way.

Loss: ``"half_sum"`` L(t) = e^{-4 eta_ybar t} ||ybar(0) - ybar*||^2 + (2w - y + dy2)/4.
``"half_mse"`` (1/2 MSE over the two points with 1-D outputs = L/2, the reference's choice)
halves every effective rate: its (h, y, w) follow the ODE above with rates eta/2, and
L(t) = [2 e^{-2 eta_ybar t} ||ybar(0) - ybar*||^2 + w + (dy2 - y)/2] / 4.

Scalar-chain link: the 1-D chain dh = w1 dx, dy^ = w2 w1 dx at eta_h = eta_y = eta is the
1-1-1 lambda-balanced linear network of :mod:`learndyn.deep_linear` with lambda = w2^2 - w1^2,
a = w1 w2, target s = dy*/dx and time constant tau = 2/(eta dx2): y = a^2 dx2,
h = w1^2 dx2 = (sqrt(lambda^2 + 4a^2) - lambda) dx2/2, w = (a^2 - s a) dx2 and C = -lambda/eta
(:func:`scalar_chain`, using :func:`learndyn.deep_linear.theory.mode_trajectory`).

The (h, y, w) form divides by h and is singular where h -> 0 (a start whose outputs must
reverse, or dy2 = 0); it is integrated instead in the equivalent factor coordinates of
:func:`rhs` (u = +-sqrt(h), g = y/h, p = (y - w)/u), which are polynomial and pass smoothly
through h = 0. The default solver is Dopri8 (tight tolerances at modest cost); ``solver=
"kvaerno5"`` (implicit) is for stiff rate choices (eta_y h or eta_h dx2 g large against 1/T).
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core import ode
from ..core.config import ConfigError
from ..core.precision import float64
from ..deep_linear import theory as dl_theory
from ..deep_linear.model import split_squares

__all__ = [
    "CONVENTIONS",
    "chain_state",
    "conserved",
    "final_distance",
    "from_factors",
    "integrate",
    "lazy_limit",
    "loss",
    "ode_rates",
    "rhs",
    "rhs_hyw",
    "rich_limit",
    "scalar_chain",
    "solve_hyw",
    "to_factors",
]

Convention = Literal["half_sum", "half_mse"]
CONVENTIONS: tuple[str, ...] = ("half_sum", "half_mse")


def _f64(x):
    return jnp.asarray(x, dtype=jnp.float64)


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ConfigError(f"loss convention must be one of {', '.join(CONVENTIONS)}; "
                          f"got {convention!r}")


def ode_rates(eta_h, eta_y, convention: Convention = "half_sum"):
    """The rates that enter the ODE: as given (``"half_sum"``) or halved (``"half_mse"``)."""
    _check_convention(convention)
    factor = 1.0 if convention == "half_sum" else 0.5
    return eta_h * factor, eta_y * factor


def rhs_hyw(t, state, args):
    """The ODE as stated, in (h, y, w); ``args = (dx2, dy2, eta_h, eta_y)`` (half_sum rates)."""
    h, y, w = state
    dx2, dy2, eta_h, eta_y = args
    return (-eta_h * dx2 * w,
            -w * (eta_y * h + eta_h * dx2 * y / h),
            -0.5 * eta_y * (3.0 * w - y + dy2) * h - 0.5 * eta_h * dx2 * (y + w) * w / h)


def rhs(t, state, args):
    """The same ODE in factor coordinates (u, g, p), the form that is integrated.

    u = +-sqrt(h) (signed encoder gain along the fixed direction of dh), g = y/h = ||D_y||^2,
    p = (y - w)/u = <D_y dh/u, dy*>; then h = u^2, y = u^2 g, w = u^2 g - u p and

        du/dt = -eta_h dx2 (u g - p)/2,  dg/dt = -eta_y u (u g - p),
        dp/dt = -eta_y u (u p - dy2)/2.

    Polynomial (no 1/h): smooth through h = 0, where dh flips sign (h = 0 is a singularity of
    the (h, y, w) form only). ``args = (dx2, dy2, eta_h, eta_y)`` (half_sum rates).
    """
    u, g, p = state
    dx2, dy2, eta_h, eta_y = args
    err = u * g - p
    return -0.5 * eta_h * dx2 * err, -eta_y * u * err, -0.5 * eta_y * u * (u * p - dy2)


def to_factors(h, y, w):
    """(h, y, w) -> (u, g, p) with u = +sqrt(h) > 0."""
    u = jnp.sqrt(h)
    return u, y / h, (y - w) / u


def from_factors(u, g, p):
    """(u, g, p) -> (h, y, w) = (u^2, u^2 g, u^2 g - u p)."""
    h = u * u
    return h, h * g, h * g - u * p


_SOLVERS = {"dopri8": diffrax.Dopri8, "kvaerno5": diffrax.Kvaerno5}


@partial(jax.jit, static_argnames=("rtol", "atol", "solver", "max_steps"))
def _solve(h0, y0, w0, dx2, dy2, eta_h, eta_y, times, rtol, atol, solver, max_steps):
    factors = ode.solve(rhs, to_factors(h0, y0, w0), times, args=(dx2, dy2, eta_h, eta_y),
                        rtol=rtol, atol=atol, max_steps=max_steps, solver=_SOLVERS[solver](),
                        throw=False)
    return from_factors(*factors)


def solve_hyw(h0, y0, w0, dx2, dy2, eta_h, eta_y, times, *, rtol: float = 1e-10,
              atol: float = 1e-12, solver: Literal["dopri8", "kvaerno5"] = "dopri8",
              max_steps: int = 100_000) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(h, y, w) at ``times`` for one trajectory: jnp arrays of shape (len(times),).

    Scalars in (half_sum rates; see :func:`ode_rates`); the integration starts at ``times[0]``.
    Pure and jit/vmap/grad-safe (``vmap`` it over any argument, ``times`` included). It never
    raises on solver failure: a failed solve (step budget, non-finite state) is NaN throughout,
    so a fit can discard that parameter set. Integrated in the factor coordinates of
    :func:`rhs`; ``rtol``/``atol`` apply to (u, g, p).
    """
    if solver not in _SOLVERS:
        raise ConfigError(f"solver must be one of {', '.join(_SOLVERS)}; got {solver!r}")
    args = [_f64(a) for a in (h0, y0, w0, dx2, dy2, eta_h, eta_y)]
    return _solve(*args, _f64(times), rtol=float(rtol), atol=float(atol), solver=solver,
                  max_steps=int(max_steps))


def _concrete(x) -> np.ndarray | None:
    """x as numpy when it is a concrete value (None for a tracer)."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _validate(**values) -> None:
    rules = {"h0": "gt", "dx2": "gt", "eta_h": "gt", "eta_y": "gt", "dy2": "ge", "y0": "ge"}
    for name, x in values.items():
        arr = _concrete(x)
        if arr is None:
            continue
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"{name} must be finite, got {arr}")
        rule = rules.get(name)
        if rule == "gt" and not np.all(arr > 0):
            raise ConfigError(f"{name} must be > 0, got {arr}")
        if rule == "ge" and not np.all(arr >= 0):
            raise ConfigError(f"{name} must be >= 0, got {arr}")


REALISABLE_RTOL = 1e-4  # slack for measured (float32) distances in the Cauchy-Schwarz test


def _check_realisable(y0, w0, dy2) -> None:
    """<dy*, dy^> = y - w obeys (y - w)^2 <= y dy2 (Cauchy-Schwarz) for any real state."""
    values = [_concrete(x) for x in (y0, w0, dy2)]
    if any(v is None for v in values):
        return
    y0, w0, dy2 = values
    excess = (y0 - w0) ** 2 - y0 * dy2
    if np.any(excess > REALISABLE_RTOL * np.maximum((y0 - w0) ** 2, y0 * dy2) + 1e-300):
        raise ConfigError("initial (y0, w0) is not realisable: need (y0 - w0)^2 <= y0 dy2, since "
                          "y0 - w0 = <dy*, dy^>")


@float64
def integrate(h0, y0, w0, *, dx2, dy2, eta_h, eta_y, times,
              convention: Convention = "half_sum", rtol: float = 1e-10, atol: float = 1e-12,
              solver: Literal["dopri8", "kvaerno5"] = "dopri8") -> xr.Dataset:
    """Integrate the effective ODE; a Dataset with ``h``, ``y``, ``w`` over ``time``.

    All of h0, y0, w0, dx2, dy2, eta_h, eta_y may be arrays; they broadcast to a batch shape
    whose axes follow ``time`` as ``batch_0, batch_1, ...`` (one compiled, vmapped solve). Rates
    are in the given loss ``convention``. The solve starts at ``times[0]``; where it fails the
    values are NaN. Use :func:`solve_hyw` inside jit/vmap/grad.

    Raises:
        ConfigError: non-finite input, h0 <= 0, y0 < 0, dx2 <= 0, dy2 < 0, a rate <= 0,
            (y0 - w0)^2 > y0 dy2 (no real state has it), times not increasing, or an unknown
            convention/solver.
    """
    _check_convention(convention)
    _validate(h0=h0, y0=y0, w0=w0, dx2=dx2, dy2=dy2, eta_h=eta_h, eta_y=eta_y)
    _check_realisable(y0, w0, dy2)
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if t.size < 1 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ConfigError("times must be finite and strictly increasing")
    eta_h, eta_y = ode_rates(np.asarray(eta_h, np.float64), np.asarray(eta_y, np.float64),
                             convention)
    args = np.broadcast_arrays(*(np.asarray(a, np.float64)
                                 for a in (h0, y0, w0, dx2, dy2, eta_h, eta_y)))
    shape = args[0].shape
    flat = [jnp.asarray(a.reshape(-1)) for a in args]
    run = jax.vmap(lambda *a: solve_hyw(*a, t, rtol=rtol, atol=atol, solver=solver))
    h, y, w = (np.moveaxis(np.asarray(v), 0, -1).reshape((t.size,) + shape) for v in run(*flat))
    dims = ("time",) + tuple(f"batch_{i}" for i in range(len(shape)))
    return xr.Dataset({"h": (dims, h), "y": (dims, y), "w": (dims, w)}, coords={"time": t},
                      attrs={"variables": "h = ||dh||^2, y = ||dy^||^2, "
                             "w = ||dy^||^2 - <dy*, dy^>", "convention": convention})


def conserved(h, y, *, dx2, eta_h, eta_y):
    """C = h/(eta_h dx2) - y/(eta_y h) (half_sum rates; constant along the ODE)."""
    return h / (eta_h * dx2) - y / (eta_y * h)


def final_distance(h0, y0, *, dx2, dy2, eta_h, eta_y):
    """h_inf = A_high/2 + sqrt(A_high^2/4 + A_low^2), the t -> inf squared distance ||dh||^2.

    A_high = h0 - (eta_h/eta_y) dx2 y0/h0, A_low^2 = (eta_h/eta_y) dx2 dy2 (only the rate ratio
    enters, so either convention). For A_high < 0 it is evaluated as
    A_low^2/(sqrt(A_high^2/4 + A_low^2) - A_high/2) (no cancellation); dy2 = 0 with
    A_high <= 0 gives 0 (the representations merge). jnp in, jnp out; broadcasts.
    """
    h0, y0, dx2, dy2, eta_h, eta_y = _broadcast(h0, y0, dx2, dy2, eta_h, eta_y)
    ratio = eta_h / eta_y
    a_high = h0 - ratio * dx2 * y0 / h0
    a_low2 = ratio * dx2 * dy2
    root = jnp.sqrt(0.25 * a_high**2 + a_low2)
    den = root - 0.5 * a_high
    merged = jnp.where(den > 0, a_low2 / jnp.where(den > 0, den, 1.0), 0.0)
    return jnp.where(a_high >= 0, 0.5 * a_high + root, merged)


def rich_limit(*, dx2, dy2, eta_h, eta_y):
    """Small-init limit sqrt(eta_h/eta_y) ||dx|| ||dy*|| (= A_low)."""
    return jnp.sqrt(_f64(eta_h) / _f64(eta_y) * _f64(dx2) * _f64(dy2))


def lazy_limit(h0, *, dx2, dy2, eta_h, eta_y):
    """Large-init approximation h0 + A_low^2/h0 (valid for h0 >> A_low and y0 << h0^2)."""
    h0 = _f64(h0)
    return h0 + _f64(eta_h) / _f64(eta_y) * _f64(dx2) * _f64(dy2) / h0


def _broadcast(*arrays):
    """Explicit numpy-style broadcasting (safe under jax_numpy_rank_promotion='raise')."""
    arrays = [_f64(a) for a in arrays]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    return [jnp.broadcast_to(a, shape) for a in arrays]


def _time_like(times, x):
    """``times`` shaped to broadcast against x whose leading axis is time (explicitly)."""
    t = _f64(times)
    x = _f64(x)
    if t.ndim == 1 and x.ndim >= 1 and t.shape[0] == x.shape[0]:
        t = t.reshape((-1,) + (1,) * (x.ndim - 1))
    shape = np.broadcast_shapes(t.shape, x.shape)
    return jnp.broadcast_to(t, shape), jnp.broadcast_to(x, shape)


def loss(y, w, *, dy2, times=0.0, eta_mean=0.0, mean_gap0=0.0,
         convention: Convention = "half_sum"):
    """Training loss from (y, w) and the mean mode.

    ``mean_gap0`` = ||ybar(0) - ybar*||^2; ``eta_mean`` is eta_ybar in the chosen convention;
    ``times`` is a scalar or, for y with a leading time axis, a vector along it.

    half_sum: e^{-4 eta t} mean_gap0 + (2w - y + dy2)/4;
    half_mse: [2 e^{-2 eta t} mean_gap0 + w + (dy2 - y)/2]/4.
    """
    _check_convention(convention)
    t, y = _time_like(times, y)
    t, y, w, gap, eta, dy2 = _broadcast(t, y, w, mean_gap0, eta_mean, dy2)
    if convention == "half_sum":
        return jnp.exp(-4.0 * eta * t) * gap + 0.25 * (2.0 * w - y + dy2)
    return 0.25 * (2.0 * jnp.exp(-2.0 * eta * t) * gap + w + 0.5 * (dy2 - y))


# ---- link to the lambda-balanced scalar chain (deep_linear) --------------------------------
def chain_state(a, lam, *, s, dx2):
    """(h, y, w) of the 1-D chain with product a = w1 w2 and lambda = w2^2 - w1^2.

    h = w1^2 dx2 with w1^2 = (sqrt(lambda^2 + 4a^2) - lambda)/2 (computed without cancellation
    by :func:`learndyn.deep_linear.model.split_squares`), y = a^2 dx2, w = (a^2 - s a) dx2.
    """
    a, lam = _f64(a), _f64(lam)
    shape = np.broadcast_shapes(a.shape, lam.shape)
    a, lam = jnp.broadcast_to(a, shape), jnp.broadcast_to(lam, shape)
    w1sq, _ = split_squares(a**2, lam)
    return w1sq * dx2, a**2 * dx2, (a**2 - s * a) * dx2


def scalar_chain(s, a0, lam, times, *, eta: float, dx2: float) -> dict:
    """The chain's (h, y, w, a) over ``times`` from deep_linear's lambda-balanced mode solution.

    a(t) = :func:`learndyn.deep_linear.theory.mode_trajectory` (s, a0, lam, tau = 2/(eta dx2));
    ``s`` = dy*/dx (signed), ``a0`` = w1 w2 at t = 0. Equal rates eta_h = eta_y = eta.
    Returns ``{"a", "h", "y", "w"}`` of shape (len(times),) (scalars in; for an array of
    lambda values (times, lam)), the invariant ``"C"`` = -lambda/eta and ``"h_final"``, the
    final representation W1^T W1 dx2 of :func:`learndyn.deep_linear.theory.final_representations`
    (Lambda - lambda/2 for the 1-D task).
    """
    a = dl_theory.mode_trajectory(s, a0, times, lam=lam, tau=2.0 / (eta * dx2))
    h, y, w = chain_state(a, lam, s=s, dx2=dx2)
    final = np.array([dl_theory.final_representations(np.array([[s]]), x)["W1tW1"][0, 0]
                      for x in np.ravel(lam)]).reshape(np.shape(lam)) * dx2
    return {"a": a, "h": h, "y": y, "w": w, "C": -_f64(lam) / eta, "h_final": final}
