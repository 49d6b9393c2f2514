"""ODE solves against closed forms: exponential decay, a linear system (matrix exponential),
a pytree state, and gradients through the solve.

One reference problem (a pytree state) covers the forward checks with a single compiled solve:

- ``x``: dx/dt = -k x, so x(t) = x0 exp(-k (t - t0));
- ``y``: dy/dt = A y (a damped rotation), so y(t) = expm(A (t - t0)) y0;
- ``v``: dv/dt = x v, so v(t) = v0 exp((x0 / k) (1 - exp(-k (t - t0)))).

The output times start at t0 = 0.5, not 0, so the integration must start at ``times[0]``.
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from learndyn.core.ode import solve

T0 = 0.5
TIMES = np.linspace(T0, T0 + 3.0, 31)
K, X0 = 1.7, 2.5
A = np.array([[-0.5, 2.0], [-1.0, -0.3]])
Y0 = np.array([1.0, -0.5])
V0 = np.array([1.0, -2.0, 0.5])


def rhs(t, state, args):
    x, y, v = state["x"], state["y"], state["v"]
    return {"x": -args["k"] * x, "y": args["A"] @ y, "v": x * v}


@pytest.fixture(scope="module")
def solution():
    return solve(rhs, {"x": X0, "y": Y0, "v": V0}, TIMES,
                 args={"k": jnp.array(K), "A": jnp.asarray(A)})


def test_shapes_and_dtype(solution):
    assert set(solution) == {"x", "y", "v"}
    assert solution["x"].shape == (len(TIMES),)
    assert solution["y"].shape == (len(TIMES), 2)
    assert solution["v"].shape == (len(TIMES), 3)
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(solution))


def test_exponential_decay(solution):
    np.testing.assert_allclose(solution["x"], X0 * np.exp(-K * (TIMES - T0)), rtol=1e-9, atol=0)


def test_linear_system_matches_expm(solution):
    expected = np.stack([scipy.linalg.expm(A * (t - T0)) @ Y0 for t in TIMES])
    np.testing.assert_allclose(solution["y"], expected, rtol=1e-9, atol=1e-12)


def test_pytree_leaves_coupled(solution):
    growth = np.exp(X0 / K * (1.0 - np.exp(-K * (TIMES - T0))))
    np.testing.assert_allclose(solution["v"], np.outer(growth, V0), rtol=1e-9, atol=0)


def decay(t, y, k):
    return -k * y


def test_gradient_through_the_solve():
    """d y(T) / dk = -T y0 exp(-k T) for dy/dt = -k y."""
    T, y0 = 2.0, 3.0

    def final(k):
        return solve(decay, jnp.array(y0), jnp.array([0.0, T]), args=k)[-1]

    for k in (0.3, 1.2):
        grad = jax.grad(final)(jnp.array(k))
        np.testing.assert_allclose(grad, -T * y0 * np.exp(-k * T), rtol=1e-7, atol=0)


def test_implicit_solver_on_a_stiff_problem():
    """dy/dt = -k (y - cos t), k = 1e4: Kvaerno5 takes few steps where Dopri8 would need ~k T."""
    k, T = 1e4, 2.0
    times = np.linspace(0.0, T, 5)

    def stiff(t, y, args):
        return -k * (y - jnp.cos(t))

    y = solve(stiff, jnp.array(1.0), times, solver=diffrax.Kvaerno5(), rtol=1e-10, atol=1e-12,
              max_steps=2000)
    # exact: y = (k^2 cos t + k sin t)/(k^2 + 1) + c e^{-kt}, c = 1 - k^2/(k^2 + 1)
    c = 1.0 / (k**2 + 1.0)
    exact = (k**2 * np.cos(times) + k * np.sin(times)) / (k**2 + 1) + c * np.exp(-k * times)
    np.testing.assert_allclose(y, exact, rtol=1e-8, atol=0)
    with pytest.raises(RuntimeError, match="max"):  # an explicit solver runs out of steps
        solve(stiff, jnp.array(1.0), times, solver=diffrax.Tsit5(), max_steps=2000)


def test_failed_solve_gives_nan_without_throw():
    """throw=False: per batch element, a failed solve is NaN and a good one is untouched."""
    times = jnp.linspace(0.0, 1.0, 3)

    def blow_up(t, y, args):
        return args * y**2  # y(t) = 1/(1 - args t) blows up at t = 1/args

    run = jax.vmap(lambda a: solve(blow_up, jnp.array(1.0), times, args=a, throw=False,
                                   solver=diffrax.Tsit5()))
    ys = run(jnp.array([0.5, 2.0]))
    np.testing.assert_allclose(ys[0], 1.0 / (1.0 - 0.5 * times), rtol=1e-9)
    assert np.all(np.isnan(ys[1]))
