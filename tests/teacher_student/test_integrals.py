"""Gaussian averages I2, I3, I4, J2 against Monte Carlo (10^6 samples, within 4 standard errors)."""

import numpy as np
import pytest
from scipy.special import erf

from learndyn.teacher_student import integrals

G = {
    "erf": (lambda x: erf(x / np.sqrt(2)), lambda x: np.sqrt(2 / np.pi) * np.exp(-x * x / 2)),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
    "linear": (lambda x: x, lambda x: np.ones_like(x)),
}
N_MC = 1_000_000


def random_cov(n, rng):
    A = rng.normal(size=(n, n + 1))
    C = A @ A.T / (n + 1)
    return C * rng.uniform(0.3, 2.0)  # off unit scale, where erf and ReLU differ most


def samples(C, rng):
    return rng.multivariate_normal(np.zeros(len(C)), C, size=N_MC, method="cholesky")


def mc(values):
    return values.mean(), values.std() / np.sqrt(len(values))


@pytest.mark.parametrize("activation", ["erf", "relu", "linear"])
@pytest.mark.parametrize("trial", range(2))
def test_two_and_three_field_averages(activation, trial):
    rng = np.random.default_rng(100 * trial + len(activation))
    g, dg = G[activation]
    C = random_cov(3, rng)
    z = samples(C, rng)
    a, b, c = z.T
    for name, values, cov in [
        ("I2", g(a) * g(b), C[:2, :2]),
        ("J2", dg(a) * dg(b), C[:2, :2]),
        ("I3", dg(a) * b * g(c), C),
    ]:
        fn = getattr(integrals, name)
        exact = float(fn(cov, activation))
        mean, err = mc(values)
        assert abs(exact - mean) <= 4 * err + 1e-12, (name, exact, mean, err)


@pytest.mark.parametrize("activation", ["erf", "linear"])
@pytest.mark.parametrize("trial", range(2))
def test_four_field_average(activation, trial):
    rng = np.random.default_rng(7 + trial)
    g, dg = G[activation]
    C = random_cov(4, rng)
    a, b, c, d = samples(C, rng).T
    mean, err = mc(dg(a) * dg(b) * g(c) * g(d))
    assert abs(float(integrals.I4(C, activation)) - mean) <= 4 * err


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_degenerate_fields(activation):
    """Repeated fields (a student with itself: C12 = C11 = C22) stay finite and exact."""
    rng = np.random.default_rng(3)
    g, dg = G[activation]
    q = 1.3
    x = rng.normal(size=N_MC) * np.sqrt(q)
    C2 = np.full((2, 2), q)
    mean, err = mc(g(x) ** 2)
    assert abs(float(integrals.I2(C2, activation)) - mean) <= 4 * err
    mean, err = mc(dg(x) ** 2)
    assert abs(float(integrals.J2(C2, activation)) - mean) <= 4 * err


def test_erf_special_values():
    assert float(integrals.I2(np.ones((2, 2)))) == pytest.approx(1 / 3, abs=1e-15)
    assert float(integrals.J2(np.ones((2, 2)))) == pytest.approx(2 / (np.pi * np.sqrt(3)),
                                                                  abs=1e-15)


def test_relu_has_no_i4():
    assert not integrals.has_i4("relu")
    with pytest.raises(ValueError, match="I4"):
        integrals.I4(np.eye(4), "relu")


def test_shape_is_checked():
    with pytest.raises(ValueError, match="shape"):
        integrals.I3(np.eye(2))
