"""Closed forms of the Saxe modes against numerical integration and quadrature (float64)."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learndyn.core import ode
from learndyn.deep_linear import theory

S = np.array([3.0, 2.0, 1.0, 0.5])


def test_saxe_closed_form_matches_logistic_ode():
    times = np.linspace(0.0, 20.0, 201)
    u0 = np.full(4, 1e-3)
    numeric = ode.solve(lambda t, u, s: 2.0 * u * (s - u), u0, times, args=jnp.asarray(S),
                      rtol=1e-12, atol=1e-14)
    closed = theory.mode_saxe(S, u0, times[:, None])
    assert np.max(np.abs(np.asarray(numeric) - np.asarray(closed))) <= 1e-10


def test_deep_rhs_at_depth_two_is_the_logistic_equation():
    times = np.linspace(0.0, 15.0, 151)
    numeric = ode.solve(theory.deep_mode_rhs, jnp.full(4, 1e-3), times, args=(S, 2.0, 1.0),
                        rtol=1e-12, atol=1e-14)
    closed = theory.mode_deep(S, 1e-3, times, depth=2)
    assert np.max(np.abs(np.asarray(numeric) - np.asarray(closed))) <= 1e-10


@settings(max_examples=40, deadline=None)
@given(s=st.floats(0.1, 10.0), log_u0=st.floats(-8, -1), frac=st.floats(0.01, 0.99))
def test_time_formula_inverts_the_sigmoid(s, log_u0, frac):
    u0 = s * 10.0**log_u0
    uf = frac * s
    if uf <= u0:
        uf = 0.5 * (u0 + s)
    t = theory.mode_time(s, u0, uf)
    assert abs(float(theory.mode_saxe(s, u0, t)) - uf) <= 1e-12 * max(1.0, s)


def test_half_time_and_its_approximation():
    for s in S:
        exact = theory.half_time(s, 1e-3)
        assert exact == pytest.approx(np.log((s - 1e-3) / 1e-3) / (2 * s), rel=1e-14)
        approx = np.log(s / 1e-3) / (2 * s)
        assert exact - approx == pytest.approx(np.log(1 - 1e-3 / s) / (2 * s), rel=1e-9)


@pytest.mark.parametrize("depth", [3, 4])
def test_deep_mode_ode_matches_quadrature(depth):
    s, u0 = 2.0, 1e-3
    targets = np.array([0.01, 0.25, 1.0, 1.9])
    times = np.array([theory.mode_time(s, u0, u, depth=depth) for u in targets])
    grid = np.concatenate([[0.0], times])
    u = np.asarray(theory.mode_deep(s, u0, grid, depth=depth))[1:]
    assert np.max(np.abs(u - targets)) <= 1e-8


def test_quadrature_at_depth_two_equals_closed_form():
    # the depth-D quadrature path, forced through depth=2's integrand, agrees with the logistic
    s, u0, u = 1.5, 1e-4, 1.2
    from scipy.integrate import quad

    value, _ = quad(lambda x: 1.0 / (s - np.exp(x)), np.log(u0), np.log(u), epsrel=1e-13)
    assert value / 2 == pytest.approx(theory.mode_time(s, u0, u), rel=1e-10)


def test_deeper_networks_learn_later_from_the_same_u0():
    halves = [theory.half_time(1.0, 1e-3, depth=d) for d in (2, 3, 4)]
    assert halves[0] < halves[1] < halves[2]


def test_no_overflow_for_long_times():
    u = theory.mode_saxe(S, 1e-8, 1e5)
    assert np.all(np.isfinite(u)) and np.allclose(u, S, rtol=0, atol=1e-14)


def test_mode_loss():
    u = np.array([[1.0, 2.0, 0.5, 0.0]])
    expected = 0.5 * np.sum((S - u[0]) ** 2) + 0.25
    assert float(theory.mode_loss(u, S, 0.25)[0]) == pytest.approx(expected, rel=1e-15)


def test_mode_time_rejects_out_of_range():
    with pytest.raises(ValueError):
        theory.mode_time(1.0, 2.0, 0.5)


def test_theory_computes_in_float64_whatever_the_callers_mode():
    """The closed forms and integrations switch x64 on for their own call only."""
    import subprocess
    import sys

    code = ("import jax, numpy as np\n"
            "from learndyn.deep_linear import theory\n"
            "u = theory.mode_saxe(3.0, 1e-12, [0.0, 1.0])\n"
            "a = theory.mode_trajectory(1.0, 1e-12, [1.0], lam=0.5)\n"
            "assert u.dtype == a.dtype == np.float64 and abs(u[0] / 1e-12 - 1) < 1e-12, (u, a)\n"
            "assert not jax.config.jax_enable_x64\n")
    subprocess.run([sys.executable, "-c", code], check=True)
