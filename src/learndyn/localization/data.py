"""Inputs of Lufkin, Saxe & Grant (NeurIPS 2024): correlated fields on a ring with chosen marginals.

L sites on a ring, ring distance d_ij = min(|i-j|, L-|i-j|), latent covariance
C^xi_ij = exp(-d_ij^2 / xi^2) (C_ii = 1). C is circulant, C = U diag(lambda) U^T with U the real
Fourier basis; U and lambda are built once in float64 and lambda is clipped at 0 (for xi = 3 the
smallest eigenvalues are ~1e-9 and come out with either sign). A latent sample is
z = U diag(sqrt(lambda)) eps, eps ~ N(0, I_L).

Marginals (all unit variance, odd, so every single-site quantity is a 1-D Gaussian integral):

- :class:`NLGP` (Ingrosso & Goldt, PNAS 2022): x = erf(g z) / Z(g),
  Z(g)^2 = (2/pi) arcsin(2g^2 / (1 + 2g^2)); Sigma_ij = (2/pi) arcsin(2g^2 C_ij/(1+2g^2)) / Z^2.
- Gaussian copula x = Q(Phi(z)) with Q a unit-variance quantile function: :class:`Gaussian`,
  :class:`Uniform`, :class:`Laplace`, :class:`Bernoulli` (erf(100(u - 1/2)), rescaled) and
  :class:`Alg` (Q_k(u) = v / (1 - |v|^k)^(1/k) / sqrt(m2), v = 2u - 1, tails ~ |x|^-(k+1)).
  Covariance by the Mehler series Sigma(rho) = sum_{n odd} c_n^2 rho^n, c_n = E[T(z) h_n(z)]
  (h_n the normalised Hermite polynomials), computed by quadrature and summed to 1e-13.
- :class:`Elliptical`: x = r Lambda u / nu, Lambda = U diag(sqrt(lambda)), u uniform on the
  sphere, r >= 0 independent (``shell``: r = 1; ``artanh``: r = 2 + artanh(U), U ~ U(0, 1)),
  nu^2 = E[r^2] / L; Cov(x) = C^xi exactly.

Copula transforms are computed in float32-safe form: 1 - |v| = 2 Phi(-|z|) through
``log_ndtr``, so no sample ever maps to Q(1) = inf.

Task: two equiprobable classes with the same marginal; class y = 0 has xi0 (short range),
class y = 1 has xi1 (long range).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from ..core.config import ConfigError
from . import latent
from .latent import expect, hermite_coefficients, quadrature

__all__ = [
    "NLGP", "Alg", "Bernoulli", "Elliptical", "Gaussian", "Laplace", "Marginal", "Uniform",
    "correlation_map", "covariance", "expect", "finite_moment", "hermite_coefficients",
    "kurtosis", "parse", "ring_kernel",
    "quadrature", "ring_covariance", "ring_factor", "sample", "task_batch",
]


# ---- the ring -----------------------------------------------------------------------------
def _check_ring(L: int, xi: float) -> None:
    if int(L) != L or L < 3:
        raise ConfigError(f"field 'L': the ring needs at least 3 sites, got {L!r}")
    if not (xi > 0 and math.isfinite(xi)):
        raise ConfigError(f"field 'xi': correlation length must be > 0, got {xi!r}")


def ring_kernel(L: int, xi: float) -> np.ndarray:
    """exp(-d_ij^2 / xi^2) with the ring distance d_ij = min(|i-j|, L-|i-j|), float64 (L, L)."""
    _check_ring(L, xi)
    i = np.arange(L)
    d = np.abs(i[:, None] - i[None, :])
    d = np.minimum(d, L - d)
    return np.exp(-(d.astype(np.float64) ** 2) / xi**2)


def ring_covariance(L: int, xi: float) -> np.ndarray:
    """C^xi: the latent covariance actually sampled, Lambda Lambda^T (float64 (L, L)).

    It equals :func:`ring_kernel` wherever the kernel is positive semi-definite (to 1e-15 for
    L = 40, xi <= 3); on small rings with long correlations, where wrapping makes some Fourier
    eigenvalues negative, it is the kernel with those eigenvalues set to 0 and the diagonal
    scaled back to 1.
    """
    F = ring_factor(L, xi)
    return F @ F.T


@functools.cache
def _fourier_basis(L: int) -> np.ndarray:
    i = np.arange(L)
    cols = [np.full(L, 1.0 / np.sqrt(L))]
    for k in range(1, (L + 1) // 2):
        cols.append(np.sqrt(2.0 / L) * np.cos(2 * np.pi * k * i / L))
        cols.append(np.sqrt(2.0 / L) * np.sin(2 * np.pi * k * i / L))
    if L % 2 == 0:
        cols.append((-1.0) ** i / np.sqrt(L))
    return np.stack(cols, axis=1)


@functools.cache
def _factor(L: int, xi: float) -> np.ndarray:
    U = _fourier_basis(L)
    # U diagonalises every circulant: lambda_k = (U^T C U)_kk = sum_j C_0j cos(2 pi k j / L)
    lam = np.maximum(np.diag(U.T @ ring_kernel(L, xi) @ U), 0.0)
    lam = lam / (U[0] ** 2 @ lam)  # unit latent variance after clipping
    out = U * np.sqrt(lam)[None, :]
    out.setflags(write=False)
    return out


def ring_factor(L: int, xi: float) -> np.ndarray:
    """Lambda = U diag(sqrt(lambda)) (float64, read-only): z = Lambda eps has covariance C^xi."""
    _check_ring(L, xi)
    return _factor(int(L), float(xi))


# ---- marginal laws ------------------------------------------------------------------------
Draw = Callable[[jax.Array, jax.Array, int, dict], jax.Array]


def _positive(obj, name: str, bound: float, message: str) -> None:
    """Coerce field ``name`` to float and require it finite and > bound."""
    value = getattr(obj, name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (number > bound and math.isfinite(number)) or isinstance(value, bool):
        raise ConfigError(f"{message}, got {value!r}")
    object.__setattr__(obj, name, number)


def _latent(key, factor, n):
    return jax.random.normal(key, (n, factor.shape[0]), factor.dtype) @ factor.T


class Marginal:
    """Base of the marginal laws. Subclasses give ``label``, ``constants()`` (float64 numbers
    the transform needs) and either ``apply(z, c)`` (x = T(z), elementwise, odd) or their own
    ``draw``. ``draw(key, factor, n, c)`` is a module-level function (one compiled program per
    family, parameters traced), returning n samples of shape (n, L)."""

    label: str = ""

    def constants(self) -> dict[str, float]:
        return {}

    @staticmethod
    def apply(z, c):
        """The marginal's transform of a standard normal z (identity here: the Gaussian);
        each copula family overrides it."""
        return z

    @property
    def draw(self) -> Draw:
        return _copula_draw(type(self).apply)

    @property
    def family(self) -> str:
        return type(self).__name__

    def kurtosis(self) -> float:
        """E[x^4] (unit variance), by quadrature unless a subclass knows it exactly."""
        z, x, w = quadrature(self)
        return float(np.sum(w * x**4))

    def abs_mean(self) -> float:
        """E|x|."""
        z, x, w = quadrature(self)
        return float(np.sum(w * np.abs(x)))

    def correlation(self, rho: np.ndarray) -> np.ndarray:
        """Sigma(rho) = E[T(z1) T(z2)] for latent correlation rho (Mehler series)."""
        rho = np.asarray(rho, dtype=np.float64)
        top = float(np.max(np.abs(rho[np.abs(rho) < 1]), initial=0.0))
        n = 1 if top == 0 else int(min(np.ceil(np.log(1e-13) / np.log(top)) + 2, 20001))
        c = hermite_coefficients(self, n)
        left = 1.0 - np.sum(c**2)
        if top ** (n + 1) * max(left, 0.0) > 1e-10:
            raise ValueError(f"{self.label}: Mehler series does not converge at rho = {top}")
        out = np.polynomial.polynomial.polyval(rho, np.concatenate([[0.0], _interleave(c)]))
        return np.where(np.abs(rho) >= 1, np.sign(rho), out)


def _interleave(c_odd: np.ndarray) -> np.ndarray:
    """Power-series coefficients for orders 1, 2, ...: c_n^2 at odd n, 0 at even n."""
    out = np.zeros(2 * len(c_odd) - 1)
    out[::2] = c_odd**2
    return out


@functools.cache
def _copula_draw(apply) -> Draw:
    def draw(key, factor, n, c):
        return apply(_latent(key, factor, n), c)

    return draw


def _tail(z):
    """log(1 - |erf(z / sqrt 2)|) = log(2 Phi(-|z|)), stable for every z."""
    return jnp.log(2.0) + jax.scipy.special.log_ndtr(-jnp.abs(z))


@dataclass(frozen=True)
class NLGP(Marginal):
    """Nonlinear Gaussian process x = erf(g z) / Z(g): Gaussian as g -> 0, +-1 as g -> inf."""

    gain: float

    def __post_init__(self):
        _positive(self, "gain", 0.0, "NLGP field 'gain': must be > 0")

    @property
    def label(self) -> str:
        return f"NLGP g={self.gain:g}"

    def constants(self):
        g2 = 2.0 * self.gain**2
        return {"gain": float(self.gain),
                "scale": 1.0 / math.sqrt(2.0 / math.pi * math.asin(g2 / (1.0 + g2)))}

    @staticmethod
    def apply(z, c):
        return jax.lax.erf(c["gain"] * z) * c["scale"]

    def correlation(self, rho):
        g2 = 2.0 * self.gain**2
        z2 = 2.0 / math.pi * math.asin(g2 / (1.0 + g2))
        return 2.0 / math.pi * np.arcsin(g2 * np.asarray(rho, np.float64) / (1.0 + g2)) / z2


@dataclass(frozen=True)
class Gaussian(Marginal):
    """Standard normal marginal (kurtosis 3): the latent field itself."""

    label = "Gaussian"

    @staticmethod
    def apply(z, c):
        return z

    def kurtosis(self):
        return 3.0

    def abs_mean(self):
        return math.sqrt(2.0 / math.pi)

    def correlation(self, rho):
        return np.asarray(rho, np.float64)


@dataclass(frozen=True)
class Uniform(Marginal):
    """Uniform on [-sqrt 3, sqrt 3] (kurtosis 9/5): x = sqrt(3) erf(z / sqrt 2)."""

    label = "uniform"

    @staticmethod
    def apply(z, c):
        return math.sqrt(3.0) * jax.lax.erf(z / math.sqrt(2.0))

    def kurtosis(self):
        return 1.8

    def abs_mean(self):
        return math.sqrt(3.0) / 2.0

    def correlation(self, rho):
        return 6.0 / math.pi * np.arcsin(np.asarray(rho, np.float64) / 2.0)


@dataclass(frozen=True)
class Laplace(Marginal):
    """Unit-variance Laplace (kurtosis 6): x = sign(z) (-ln(1 - |2u - 1|)) / sqrt 2."""

    label = "Laplace"

    @staticmethod
    def apply(z, c):
        return jnp.sign(z) * (-_tail(z)) / math.sqrt(2.0)

    def kurtosis(self):
        return 6.0

    def abs_mean(self):
        return 1.0 / math.sqrt(2.0)


@dataclass(frozen=True)
class Bernoulli(Marginal):
    """Smoothed Rademacher: x = erf(100 (u - 1/2)) / c, u = Phi(z), c for unit variance."""

    label = "Bernoulli"

    def constants(self):
        return {"scale": _bernoulli_scale()}

    @staticmethod
    def apply(z, c):
        return jax.lax.erf(50.0 * jax.lax.erf(z / math.sqrt(2.0))) * c["scale"]


@functools.cache
def _bernoulli_scale() -> float:
    z, wz = latent.rule()
    x = special.erf(50.0 * special.erf(z / math.sqrt(2.0)))
    return 1.0 / math.sqrt(float(np.sum(2.0 * wz * latent.density(z) * x**2)))


@dataclass(frozen=True)
class Alg(Marginal):
    """Algebraic-tailed law: Q_k(u) = v / (1 - |v|^k)^(1/k) / sqrt(m2(k)), v = 2u - 1.

    m2(k) = B(3/k, 1 - 2/k)/k (finite for k > 2); kurtosis k B(5/k, 1-4/k) / B(3/k, 1-2/k)^2
    (finite for k > 4); k -> inf is the uniform law.
    """

    k: float

    def __post_init__(self):
        _positive(self, "k", 2.0, "Alg field 'k': must be > 2 (unit variance)")

    @property
    def label(self) -> str:
        return f"Alg({self.k:g})"

    def moment(self, n: float) -> float:
        """E|x|^n of the unit-variance law (inf for n >= k)."""
        k = float(self.k)
        if n >= k:
            return math.inf
        m2 = special.beta(3 / k, 1 - 2 / k) / k
        return float(special.beta((n + 1) / k, 1 - n / k) / k / m2 ** (n / 2))

    def constants(self):
        return {"k": float(self.k), "scale": 1.0 / math.sqrt(special.beta(3 / self.k,
                                                                          1 - 2 / self.k) / self.k)}

    @staticmethod
    def apply(z, c):
        k = c["k"]
        log_e = _tail(z)  # log(1 - |v|)
        # log(1 - |v|^k) = log(1 - (1 - e)^k); below e = 1e-13 it is log(k e) to 1e-12
        exact = jnp.log(-jnp.expm1(k * jnp.log1p(-jnp.exp(jnp.maximum(log_e, -30.0)))))
        log_den = jnp.where(log_e < -30.0, jnp.log(k) + log_e, exact)
        v = jax.lax.erf(jnp.abs(z) / math.sqrt(2.0))
        return jnp.sign(z) * v * jnp.exp(-log_den / k) * c["scale"]

    def kurtosis(self):
        return self.moment(4)

    def abs_mean(self):
        return self.moment(1)


@dataclass(frozen=True)
class Elliptical(Marginal):
    """x = r Lambda u / nu: covariance C^xi exactly, E[x | w.x] linear in w.x (no localization).

    ``radial="shell"``: r = 1 (marginal kurtosis 3L/(L+2) < 3); ``"artanh"``: r = 2 + artanh(U).
    """

    radial: Literal["shell", "artanh"] = "shell"
    single_site = False  # x_i is not a function of z_i alone

    def __post_init__(self):
        if self.radial not in ("shell", "artanh"):
            raise ConfigError(
                f"Elliptical field 'radial': 'shell' or 'artanh', got {self.radial!r}")

    @property
    def label(self) -> str:
        return f"elliptical ({self.radial})"

    @property
    def family(self) -> str:
        return f"Elliptical-{self.radial}"

    def radial_moment(self, n: int) -> float:
        """E[r^n] (artanh: quadrature of (2 + t)^n sech^2 t on t >= 0)."""
        if self.radial == "shell":
            return 1.0
        return _artanh_moment(n)

    def constants(self):
        return {"radial_rms": math.sqrt(self.radial_moment(2))}

    @property
    def draw(self) -> Draw:
        return _draw_shell if self.radial == "shell" else _draw_artanh

    def kurtosis(self, L: int | None = None) -> float:
        if L is None:
            raise TypeError("the elliptical marginal's kurtosis depends on L: pass L=")
        return self.radial_moment(4) / self.radial_moment(2) ** 2 * 3 * L / (L + 2)

    def abs_mean(self, L: int | None = None) -> float:
        if L is None:
            raise TypeError("the elliptical marginal's E|x| depends on L: pass L=")
        return self.radial_moment(1) / self.radial_moment(2) ** 0.5 * math.sqrt(L) * _sphere_abs(L)

    def correlation(self, rho):
        return np.asarray(rho, np.float64)


def _sphere_abs(L: int) -> float:
    """E|t| for t the first coordinate of a uniform point on S^(L-1)."""
    return math.exp(math.lgamma(L / 2) - math.lgamma((L + 1) / 2)) / math.sqrt(math.pi)


@functools.cache
def _artanh_moment(n: int) -> float:
    t, w = np.polynomial.legendre.leggauss(64)
    edges = np.linspace(0.0, 40.0, 81)
    a, b = edges[:-1, None], edges[1:, None]
    t, w = ((b - a) / 2 * t + (a + b) / 2).ravel(), ((b - a) / 2 * w).ravel()
    return float(np.sum(w * (2.0 + t) ** n / np.cosh(t) ** 2))


def _sphere(key, factor, n):
    eps = jax.random.normal(key, (n, factor.shape[0]), factor.dtype)
    u = eps / jnp.linalg.norm(eps, axis=1, keepdims=True)
    return (u @ factor.T) * jnp.sqrt(jnp.asarray(factor.shape[0], factor.dtype))


def _draw_shell(key, factor, n, c):
    return _sphere(key, factor, n)


def _draw_artanh(key, factor, n, c):
    k1, k2 = jax.random.split(key)
    u = jax.random.uniform(k2, (n, 1), factor.dtype)  # in [0, 1): artanh(u) is finite
    # (written as 0.5 (log1p(u) - log1p(-u)) this fused wrongly on XLA:CPU, jax 0.10.2, for
    # n >= 5000: r came out near 2; test_unit_variance_of_the_other_families guards it)
    r = 2.0 + jnp.arctanh(u)
    return _sphere(k1, factor, n) * r / c["radial_rms"]


def correlation_map(marginal: Marginal, rho) -> np.ndarray:
    """Sigma(rho): the correlation of x_i, x_j whose latents have correlation rho (float64)."""
    return marginal.correlation(rho)


def covariance(marginal: Marginal, *, L: int, xi: float) -> np.ndarray:
    """Exact covariance of x (float64 (L, L)): the marginal's map applied to C^xi, unit diagonal."""
    latent = ring_covariance(L, xi)[0].copy()  # circulant: one row determines all
    latent[0] = 1.0
    row = np.array(marginal.correlation(latent), dtype=np.float64)
    row[0] = 1.0
    i = np.arange(L)
    return row[(i[None, :] - i[:, None]) % L]


def kurtosis(marginal: Marginal, *, L: int | None = None) -> float:
    """Exact E[x^4] of one site (inf where undefined, e.g. Alg(k <= 4)); elliptical needs L."""
    if isinstance(marginal, Elliptical):
        return marginal.kurtosis(L)
    return marginal.kurtosis()


def finite_moment(marginal: Marginal, n: float) -> bool:
    """Whether E|x|^n is finite (only Alg(k) has heavy tails: finite for n < k)."""
    return not isinstance(marginal, Alg) or n < marginal.k


def parse(spec: str) -> Marginal:
    """A marginal from its name: ``nlgp:G``, ``alg:K``, ``gaussian``, ``uniform``, ``laplace``,
    ``bernoulli``, ``elliptical:shell`` or ``elliptical:artanh``."""
    name, _, arg = str(spec).strip().lower().partition(":")
    try:
        if name == "nlgp":
            return NLGP(float(arg))
        if name == "alg":
            return Alg(float(arg))
        if name == "elliptical":
            return Elliptical(arg or "shell")
        simple = {"gaussian": Gaussian, "uniform": Uniform, "laplace": Laplace,
                  "bernoulli": Bernoulli}
        if name in simple and not arg:
            return simple[name]()
    except ValueError as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"data set {spec!r}: parameter {arg!r} is not a number") from None
    raise ConfigError(f"unknown data set {spec!r}: use nlgp:G, alg:K, gaussian, uniform, "
                      "laplace, bernoulli, elliptical:shell or elliptical:artanh")


# ---- sampling -----------------------------------------------------------------------------
def sample(key: jax.Array, marginal: Marginal, *, n: int, L: int, xi: float,
           dtype=jnp.float32) -> jax.Array:
    """n samples (n, L) of one class (correlation length xi), in ``dtype``; jit-friendly."""
    factor = jnp.asarray(ring_factor(L, xi), dtype)
    c = {k: jnp.asarray(v, dtype) for k, v in marginal.constants().items()}
    return _sample(marginal.draw, int(n), key, factor, c)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _sample(draw, n, key, factor, c):
    return draw(key, factor, n, c)


def task_batch(key: jax.Array, draw: Draw, c: dict, factor0: jax.Array, factor1: jax.Array,
               n: int, *, balanced: bool = True) -> tuple[jax.Array, jax.Array]:
    """(x (n, L), y (n,)): class 0 from ``factor0`` (xi0), class 1 from ``factor1`` (xi1).

    ``balanced``: the first n//2 rows are class 0, the rest class 1; otherwise i.i.d.
    Bernoulli(1/2) labels (both classes drawn, one kept per row).
    """
    k0, k1, ky = jax.random.split(key, 3)
    dtype = factor0.dtype
    if balanced:
        h = n // 2
        x = jnp.concatenate([draw(k0, factor0, h, c), draw(k1, factor1, n - h, c)])
        y = jnp.concatenate([jnp.zeros(h, dtype), jnp.ones(n - h, dtype)])
        return x, y
    y = jax.random.bernoulli(ky, 0.5, (n,)).astype(dtype)
    x = jnp.where(y[:, None] > 0, draw(k1, factor1, n, c), draw(k0, factor0, n, c))
    return x, y
