"""Data of the localization family: ring covariance, marginal moments, covariances, sampling."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from learndyn.core.config import ConfigError
from learndyn.localization import data, latent

INDEPENDENT = 0.05  # correlation length at which ring sites are independent (C_01 = e^-400)


def _iid(marginal, n=25000, L=40, seed=0, dtype=jnp.float64):
    """n x L = 1e6 independent float64 samples of one site's marginal."""
    return np.asarray(data.sample(jax.random.key(seed), marginal, n=n, L=L, xi=INDEPENDENT,
                                  dtype=dtype)).ravel()


def test_ring_factor_reproduces_the_kernel():
    for L, xi in ((40, 3.0), (41, 1.0), (40, 1.0)):
        F = data.ring_factor(L, xi)
        K = data.ring_kernel(L, xi)
        assert np.abs(F @ F.T - K).max() < 1e-12
        assert np.abs(data.ring_covariance(L, xi) - K).max() < 1e-12
        assert K[0, 1] == pytest.approx(math.exp(-1 / xi**2)) and np.all(np.diag(K) == 1)
        assert K[0, L - 1] == K[0, 1]  # ring distance
    # a kernel made indefinite by wrapping: clipped, unit diagonal, still close
    C, K = data.ring_covariance(12, 2.5), data.ring_kernel(12, 2.5)
    assert np.linalg.eigvalsh(K).min() < -1e-5
    assert np.linalg.eigvalsh(C).min() > -1e-12 and np.allclose(np.diag(C), 1.0)
    assert np.abs(C - K).max() < 1e-3


@pytest.mark.parametrize("make, field", [
    (lambda: data.NLGP(0.0), "gain"), (lambda: data.NLGP(-1), "gain"),
    (lambda: data.Alg(2), "'k'"), (lambda: data.Alg(1.5), "'k'"),
    (lambda: data.Elliptical("cube"), "radial"),
    (lambda: data.ring_covariance(2, 1.0), "'L'"), (lambda: data.ring_covariance(40, 0.0), "xi"),
    (lambda: data.parse("student:3"), "student"), (lambda: data.parse("alg:x"), "alg:x"),
])
def test_bad_parameters_give_one_line_naming_the_field(make, field):
    with pytest.raises(ConfigError, match=field) as err:
        make()
    assert "\n" not in str(err.value)


def test_exact_kurtosis_values():
    assert data.kurtosis(data.Alg(4)) == math.inf  # undefined: reported infinite, not sampled
    assert data.kurtosis(data.Alg(5)) == pytest.approx(4.2853, abs=1e-4)
    assert data.kurtosis(data.Alg(6)) == pytest.approx(2.9220, abs=1e-4)
    assert data.kurtosis(data.Alg(1e6)) == pytest.approx(1.8, abs=1e-4)
    assert data.kurtosis(data.Elliptical("shell"), L=40) == pytest.approx(3 * 40 / 42)
    assert data.kurtosis(data.NLGP(0.01)) == pytest.approx(3.0, abs=1e-3)
    assert data.kurtosis(data.NLGP(1e4)) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(TypeError, match="L"):
        data.kurtosis(data.Elliptical())


def _log_weight_moment(marginal, n):
    """E|x|^n by the latent quadrature in log space (no overflow in heavy tails)."""
    z, x, _ = data.quadrature(marginal)
    z_all, wz = latent.rule()
    logw = np.log(2 * wz) - z_all**2 / 2 - 0.5 * math.log(2 * math.pi)
    return float(np.sum(np.exp(n * np.log(np.abs(x)) + logw)))


@pytest.mark.parametrize("k", [4.5, 5, 6, 10, 30])
def test_alg_beta_moments_equal_quadrature(k):
    m = data.Alg(k)
    assert _log_weight_moment(m, 2) == pytest.approx(1.0, abs=1e-10)
    assert abs(_log_weight_moment(m, 4) - data.kurtosis(m)) <= 1e-6
    assert abs(_log_weight_moment(m, 1) - m.abs_mean()) <= 1e-10


@pytest.mark.parametrize("marginal, tol", [
    (data.NLGP(0.01), 0.03), (data.NLGP(1.0), 0.03), (data.NLGP(100.0), 0.03),
    (data.Uniform(), 0.02), (data.Laplace(), 0.3), (data.Alg(10), 0.05), (data.Alg(30), 0.05),
    (data.Gaussian(), 0.05), (data.Bernoulli(), 0.03),
])
def test_generator_moments_1e6_samples(marginal, tol):
    """Unit variance within 0.01 and sample kurtosis within ``tol`` of the exact value (1e6
    independent samples: standard errors <= 0.01 except Laplace, ~0.05)."""
    x = _iid(marginal)
    assert abs(x.var() - 1.0) < 0.01
    assert abs(np.mean(x**4) / x.var() ** 2 - data.kurtosis(marginal)) < tol
    assert abs(x.mean()) < 0.005


@pytest.mark.parametrize("marginal", [data.Alg(4.5), data.Alg(5), data.Elliptical("shell"),
                                      data.Elliptical("artanh")])
def test_unit_variance_of_the_other_families(marginal):
    assert abs(_iid(marginal).var() - 1.0) < 0.01


def test_float32_copula_tails_stay_finite():
    """Phi(z) rounds to 1 in float32 for z > 5.3; the stable transforms never reach Q(1)."""
    z = np.array([-12.0, -9.0, -6.0, -5.4, -1e-3, 0.0, 1e-3, 5.4, 6.0, 9.0, 12.0])
    for m in (data.Alg(4.5), data.Alg(30), data.Laplace(), data.Uniform(), data.Bernoulli()):
        c32 = {k: jnp.float32(v) for k, v in m.constants().items()}
        c64 = {k: jnp.float64(v) for k, v in m.constants().items()}
        apply = jax.jit(type(m).apply)
        x32 = np.asarray(apply(jnp.asarray(z, jnp.float32), c32), np.float64)
        x64 = np.asarray(apply(jnp.asarray(z), c64))
        assert np.all(np.isfinite(x32)) and np.all(np.diff(x32) >= 0), m
        assert np.allclose(x32, x64, rtol=2e-5, atol=1e-6), m
    # against the textbook quantile where float64 still resolves it
    zz = np.linspace(-5, 5, 11)
    v = special.erf(zz / math.sqrt(2))
    m2 = special.beta(3 / 5, 1 - 2 / 5) / 5
    direct = v / (1 - np.abs(v) ** 5) ** (1 / 5) / math.sqrt(m2)
    assert np.allclose(data.Alg(5).apply(jnp.asarray(zz), {"k": 5.0, "scale": 1 / math.sqrt(m2)}),
                       direct, rtol=1e-9)


@pytest.mark.parametrize("marginal", [data.Uniform(), data.NLGP(1.0), data.Gaussian()])
def test_mehler_series_equals_closed_forms(marginal):
    rho = np.linspace(-0.95, 0.95, 39)
    series = data.Marginal.correlation(marginal, rho)  # the generic Mehler series
    assert np.abs(series - marginal.correlation(rho)).max() < 1e-12


def test_mehler_series_against_two_dimensional_quadrature():
    """Laplace and Alg(10) at rho = 0.6: E[T(z1) T(z2)] by Gauss-Hermite in two dimensions."""
    t, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()
    rho = 0.6
    for m in (data.Laplace(), data.Alg(10)):
        c = {k: jnp.float64(v) for k, v in m.constants().items()}
        apply = jax.jit(type(m).apply)
        z2 = rho * t[:, None] + math.sqrt(1 - rho**2) * t[None, :]
        T1, T2 = (np.asarray(apply(jnp.asarray(z), c)) for z in (t, z2))
        direct = np.sum(w[:, None] * w[None, :] * T1[:, None] * T2)
        assert abs(m.correlation(np.array(rho)) - direct) < 2e-4, m


@pytest.mark.parametrize("marginal", [data.NLGP(100.0), data.Bernoulli(), data.Laplace(),
                                      data.Alg(5), data.Elliptical("artanh")])
def test_covariance_matches_samples_1e5(marginal):
    """Both classes' covariance from 1e5 samples, averaged along the ring's diagonals (the
    matrices are circulant), within 0.02 of the exact one at every lag: entrywise the SE is up
    to sqrt(E x_i^2 x_j^2 / 1e5) ~ 0.008 for Laplace, four times less after averaging."""
    L = 20
    for xi in (1.0, 3.0):
        x = np.asarray(data.sample(jax.random.key(1), marginal, n=100000, L=L, xi=xi,
                                   dtype=jnp.float32), np.float64)
        emp = x.T @ x / len(x)
        i = np.arange(L)
        lags = np.array([emp[i, (i + lag) % L].mean() for lag in range(L)])
        assert np.abs(lags - data.covariance(marginal, L=L, xi=xi)[0]).max() < 0.02


def test_balanced_batches_have_the_class_structure():
    m = data.Gaussian()
    F0, F1 = (jnp.asarray(data.ring_factor(10, xi)) for xi in (1.0, 3.0))
    batch = jax.jit(data.task_batch, static_argnums=(1, 5), static_argnames="balanced")
    x, y = batch(jax.random.key(0), m.draw, {}, F0, F1, 20000)
    assert np.all(np.asarray(y[:10000]) == 0) and np.all(np.asarray(y[10000:]) == 1)
    x = np.asarray(x)
    for cls, xi in ((slice(0, 10000), 1.0), (slice(10000, None), 3.0)):
        emp = x[cls].T @ x[cls] / 10000
        assert np.abs(emp - data.ring_covariance(10, xi)).max() < 0.07  # 5 SE (1e4 rows)
    _, y = batch(jax.random.key(0), m.draw, {}, F0, F1, 20000, balanced=False)
    assert abs(float(np.mean(y)) - 0.5) < 0.02
