"""Gaussian averages I2, I3, I4, J2 against Monte Carlo (10^6 samples, within 4 standard errors)."""

from functools import partial

import jax
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


@pytest.mark.parametrize("activation", ["erf", "relu", "linear"])
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


def _relu_pair(S):
    """<1[y>0] relu(z)> for a zero-mean pair (y, z) with covariance S (by parts in z)."""
    return (np.sqrt(S[1, 1]) + S[0, 1] / np.sqrt(S[0, 0])) / (2 * np.sqrt(2 * np.pi))


def _conditional(C, i):
    keep = [j for j in range(len(C)) if j != i]
    return C[np.ix_(keep, keep)] - np.outer(C[keep, i], C[i, keep]) / C[i, i]


def _orthant3(C):
    r = C / np.sqrt(np.outer(np.diag(C), np.diag(C)))
    return 1 / 8 + (np.arcsin(r[0, 1]) + np.arcsin(r[0, 2]) + np.arcsin(r[1, 2])) / (4 * np.pi)


def test_relu_i4_limits_with_closed_forms():
    """Singular covariances, where the quadrature needs its regularisation, against closed
    forms derived independently by Gaussian integration by parts (float64, 1e-7 relative):

    - c = a: <1[b>0] relu(a) relu(d)> = C_aa p_a(0) <1[b>0] relu(d) | a = 0>
      + C_ab p_b(0) <1[a>0] relu(d) | b = 0> + C_ad P(a, b, d > 0);
    - b = a and d = c: <1[a>0] relu(c)^2> = C_cc J2(a, c) + C_ac p_a(0) <relu(c) | a = 0>;
    - all four equal: <relu(a)^2> = C_aa / 2;
    - (a, b) independent of (c, d): I4 = J2(a, b) I2(c, d).
    """
    rng = np.random.default_rng(5)
    for _ in range(3):
        C3 = random_cov(3, rng)  # fields (a, b, d)
        p = 1 / np.sqrt(2 * np.pi * np.diag(C3))
        exact = (C3[0, 0] * p[0] * _relu_pair(_conditional(C3, 0))
                 + C3[0, 1] * p[1] * _relu_pair(_conditional(C3, 1)) + C3[0, 2] * _orthant3(C3))
        C = C3[np.ix_([0, 1, 0, 2], [0, 1, 0, 2])]
        assert float(integrals.I4(C, "relu")) == pytest.approx(exact, rel=1e-7)

        C = C3[np.ix_([0, 0, 1, 1], [0, 0, 1, 1])]  # (a, a, c, c)
        var_c = C3[1, 1] - C3[0, 1] ** 2 / C3[0, 0]
        exact = (C3[1, 1] * float(integrals.J2(C3[:2, :2], "relu"))
                 + C3[0, 1] * p[0] * np.sqrt(var_c / (2 * np.pi)))
        assert float(integrals.I4(C, "relu")) == pytest.approx(exact, rel=1e-7)

        assert float(integrals.I4(np.full((4, 4), C3[0, 0]), "relu")) == pytest.approx(
            C3[0, 0] / 2, rel=1e-7)

        C = np.zeros((4, 4))
        C[:2, :2], C[2:, 2:] = random_cov(2, rng), random_cov(2, rng)
        exact = float(integrals.J2(C[:2, :2], "relu") * integrals.I2(C[2:, 2:], "relu"))
        assert float(integrals.I4(C, "relu")) == pytest.approx(exact, rel=1e-7)


def test_relu_i4_near_singular_covariances():
    """Students close to teachers (student = teacher + delta noise): the fields are nearly
    collinear and the angular integrand changes over a width ~ delta. The default rule agrees
    with a 4x finer one within 1e-8 (measured 2e-10), and I4 is symmetric in (a, b), (c, d)."""
    rng = np.random.default_rng(6)
    cases = []
    for delta in (1e-1, 1e-2, 1e-3, 1e-4):
        ws = rng.normal(size=(2, 50))
        w = np.concatenate([ws + delta * rng.normal(size=(2, 50)), ws])
        om = w @ w.T / 50
        for idx in ([0, 1, 2, 3], [0, 0, 2, 3], [0, 1, 0, 2], [0, 0, 2, 2], [0, 1, 2, 2]):
            cases.append(om[np.ix_(idx, idx)])
    C = np.stack(cases)
    default = np.asarray(integrals.I4(C, "relu"))
    swapped = np.asarray(integrals.I4(C[:, [1, 0, 3, 2]][:, :, [1, 0, 3, 2]], "relu"))
    entries = [C[:, i, j] for i in range(4) for j in range(i, 4)]
    fine = np.asarray(jax.jit(partial(integrals.relu_i4, rule=integrals.tanh_sinh(241, 4.0)))(
        *entries))
    assert np.abs(default / fine - 1).max() <= 1e-8
    assert np.abs(swapped / default - 1).max() <= 1e-7


def test_shape_is_checked():
    with pytest.raises(ValueError, match="shape"):
        integrals.I3(np.eye(2))
