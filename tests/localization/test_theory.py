"""Theory of the localization family against quadrature, Monte Carlo and exact limits."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.localization import data, observables, theory

C0 = math.sqrt(2 / math.pi)
A = np.linspace(-1.0, 1.0, 2001)


def test_gaussian_quadrature_is_the_line():
    """The generic quadrature, run on the Gaussian marginal, gives sqrt(2/pi) a to 1e-10."""
    assert np.abs(theory.phi_quadrature(A, data.Gaussian()) - C0 * A).max() < 1e-10
    assert np.abs(theory.phi(A, data.Gaussian()) - C0 * A).max() == 0.0


def test_rademacher_closed_form_is_the_large_gain_limit():
    """NLGP at g = 1e6 equals erf(a / sqrt(2(1 - a^2))) within 1e-6. (At g = 1e4 the gap is
    1.7e-5: the O(1/g) difference of erf(g z)/Z(g) from sign(z), not a quadrature error.)"""
    gap = np.abs(theory.phi(A, data.NLGP(1e6)) - theory.phi_rademacher(A)).max()
    assert gap < 1e-6
    gap4 = np.abs(theory.phi(A, data.NLGP(1e4)) - theory.phi_rademacher(A)).max()
    assert 5e-6 < gap4 < 5e-5


@pytest.mark.parametrize("marginal", [data.Gaussian(), data.Uniform(), data.Laplace(),
                                      data.Alg(10), data.Alg(30), data.NLGP(100.0)])
def test_cubic_coefficient_is_three_minus_kurtosis_over_six(marginal):
    a = np.linspace(-0.3, 0.3, 601)
    b = theory.small_a_fit(a, theory.phi_quadrature(a, marginal))
    assert abs(b - (3 - data.kurtosis(marginal)) / 6) < 0.015
    small = np.linspace(-0.05, 0.05, 11)
    assert np.allclose(theory.phi(small, marginal),
                       theory.phi_expansion(small, data.kurtosis(marginal)), atol=2e-6)


@pytest.mark.parametrize("marginal", [data.NLGP(100.0), data.Alg(5), data.Bernoulli(),
                                      data.Laplace()])
def test_phi_is_odd_with_the_right_endpoints(marginal):
    p = theory.phi(A, marginal)
    assert np.abs(p + p[::-1]).max() < 1e-12
    assert p[-1] == pytest.approx(marginal.abs_mean(), abs=1e-12)
    inner = theory.phi(np.array([1 - 1e-10]), marginal)[0]
    assert inner == pytest.approx(marginal.abs_mean(), abs=1e-4)  # continuous at a = 1
    assert np.all(np.diff(p) > 0)


def test_phi_slope_is_the_derivative():
    a = np.linspace(-0.95, 0.95, 39)
    h = 1e-6
    for m in (data.NLGP(3.0), data.Alg(6), data.Uniform()):
        fd = (theory.phi(a + h, m) - theory.phi(a - h, m)) / (2 * h)
        assert np.abs(theory.phi_slope(a, m) - fd).max() < 1e-6


def test_interpolated_phi_inside_the_ode():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, 2000)
    for m in (data.NLGP(100.0), data.Alg(5)):
        table = theory.phi_table(m)
        got = np.asarray(theory.interpolate(
            (table.step, jnp.asarray(table.values), jnp.asarray(table.slopes)), jnp.asarray(a)))
        assert np.abs(got - theory.phi(a, m)).max() < 1e-9


def _mc_drive(m, w, xi, n, seed):
    x = np.asarray(data.sample(jax.random.key(seed), m, n=n, L=len(w), xi=xi,
                               dtype=jnp.float64))
    y = 0.5 * x * np.sign(x @ w)[:, None]  # E[x 1{s>0}] = E[x sign(s)]/2 by symmetry
    return y.mean(0), y.std(0) / math.sqrt(n)


def test_gaussian_reduction_is_exact_monte_carlo():
    """T1 + T2 for Gaussian data: E_1[x 1{s>0}] = sqrt(2/pi) Sigma_1 w / (2 sigma_s), 1e6
    samples at a random w, every entry within 5 standard errors."""
    L = 16
    w = np.random.default_rng(3).normal(size=L)
    S1 = data.covariance(data.Gaussian(), L=L, xi=3.0)
    mean, se = _mc_drive(data.Gaussian(), w, 3.0, 1_000_000, 0)
    theory_drive = 0.5 * C0 * S1 @ w / math.sqrt(w @ S1 @ w)
    assert np.max(np.abs(mean - theory_drive) / se) < 5


@pytest.mark.parametrize("radial", ["shell", "artanh"])
def test_elliptical_drive_is_exactly_linear(radial):
    """4e5 samples: max deviation <= 2% of the largest entry (SE ~0.4% of it)."""
    L, m = 40, data.Elliptical(radial)
    w = np.random.default_rng(5).normal(size=L)
    S1 = data.covariance(m, L=L, xi=3.0)
    mean, _ = _mc_drive(m, w, 3.0, 400_000, 1)
    a = S1 @ w / math.sqrt(w @ S1 @ w)
    exact = 0.5 * theory.phi(a, m, L=L)
    assert np.allclose(theory.phi(a, m, L=L), theory.c_elliptical(m, L) * a)
    assert np.abs(mean - exact).max() / np.abs(exact).max() < 0.02


def test_gaussian_fixed_point_is_uniform():
    """1e5 Euler steps at eta = 0.05 from a random w: IPR -> 1/L (1e-4), norm ->
    sqrt(2/pi) sqrt(s1)/(s0 + s1) (1e-3 relative), residual of the fixed-point equation < 1e-3."""
    L = 40
    w0 = np.random.default_rng(1).normal(size=L) * 0.01
    w = theory.integrate(w0, data.Gaussian(), L=L, lr=0.05, steps=100_000,
                         record_every=100_000)[-1]
    star = theory.linear_fixed_point(L=L, xi0=1.0, xi1=3.0)
    assert abs(observables.ipr(w) - 1 / L) < 1e-4
    assert abs(np.linalg.norm(w) / np.linalg.norm(star) - 1) < 1e-3
    S0, S1 = (data.covariance(data.Gaussian(), L=L, xi=xi) for xi in (1.0, 3.0))
    lhs = C0 * S1 @ w / math.sqrt(w @ S1 @ w)
    assert np.linalg.norm(lhs - (S0 + S1) @ w) / np.linalg.norm((S0 + S1) @ w) < 1e-3


def test_notebook_conventions_double_the_fixed_point_norm():
    L = 40
    w0 = np.random.default_rng(1).normal(size=L) * 0.01
    kw = dict(L=L, lr=0.05, steps=40_000, record_every=40_000)
    ours = theory.integrate(w0, data.Gaussian(), **kw)[-1]
    notebook = theory.integrate(w0, data.Gaussian(), notebook_conventions=True, **kw)[-1]
    assert np.linalg.norm(notebook) / np.linalg.norm(ours) == pytest.approx(2.0, rel=1e-3)


def test_integrate_shapes_and_batches():
    w0 = np.random.default_rng(0).normal(size=(3, 40)) * 0.01
    out = theory.integrate(w0, data.Alg(30), steps=40, record_every=10)
    assert out.shape == (3, 5, 40) and out.dtype == np.float64
    assert np.array_equal(out[:, 0], w0)
    single = theory.integrate(w0[1], data.Alg(30), steps=40, record_every=10)
    assert np.allclose(single, out[1], rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="w = 0"):
        theory.integrate(np.zeros(40), data.Gaussian(), steps=10, record_every=10)


def test_many_neuron_closure_reduces_to_one_neuron():
    w0 = np.random.default_rng(2).normal(size=40) * 0.01
    one = theory.integrate(w0, data.NLGP(100.0), lr=0.05, steps=200, record_every=50)
    many = theory.integrate_many(w0[None], data.NLGP(100.0), lr=0.05, steps=200,
                                 record_every=50)
    assert many.shape == (5, 1, 40)
    assert np.allclose(many[:, 0], one, rtol=1e-10, atol=1e-14)


def test_many_neuron_feedback_term_by_monte_carlo():
    """Gaussian inputs: E[relu(s_j) 1{s_k > 0} x] against the Stein's-lemma expression."""
    L = 12
    rng = np.random.default_rng(4)
    wj, wk = rng.normal(size=L), rng.normal(size=L)
    S = data.covariance(data.Gaussian(), L=L, xi=2.0)
    x = np.asarray(data.sample(jax.random.key(7), data.Gaussian(), n=1_000_000, L=L, xi=2.0,
                               dtype=jnp.float64))
    y = np.maximum(x @ wj, 0)[:, None] * (x @ wk > 0)[:, None] * x
    mean, se = y.mean(0), y.std(0) / 1000
    sj, sk = math.sqrt(wj @ S @ wj), math.sqrt(wk @ S @ wk)
    rho = wj @ S @ wk / (sj * sk)
    formula = (S @ wj * (0.25 + math.asin(rho) / (2 * math.pi))
               + S @ wk * sj * math.sqrt(1 - rho**2) / (2 * math.pi * sk))
    assert np.max(np.abs(mean - formula) / se) < 5


def test_predicted_regimes():
    assert theory.predicted_regime(data.NLGP(100.0)) == "localized"
    assert theory.predicted_regime(data.Alg(30)) == "localized"
    assert theory.predicted_regime(data.NLGP(0.01)) == "delocalized"
    assert theory.predicted_regime(data.Alg(5)) == "delocalized"
    assert theory.predicted_regime(data.Elliptical(), L=40) == "delocalized"  # kappa < 3
    assert theory.predicted_regime(data.Alg(6)) is None
