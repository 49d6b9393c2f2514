"""Model of the task-abstraction family: gradients, samplers, regulariser, teachers, curricula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.task_abstraction import data, model

ARCHS = ("gated", "gated_per_unit", "fully_connected")


def _params(arch, key=0, d_in=20, d_out=10, n_paths=2):
    params = model.init_params(jax.random.key(key), arch, n_paths, d_in, d_out, init_scale=3.0,
                               dtype=jnp.float64)
    if arch != "fully_connected":  # break the symmetry of the gates
        c = params["c"]
        params["c"] = c + 0.3 * jax.random.normal(jax.random.key(key + 1), c.shape, c.dtype)
    return params


@pytest.mark.parametrize("arch", ARCHS)
def test_population_grads_match_autodiff_of_sampled_loss(arch):
    """analytic population gradients = autodiff of the Monte-Carlo loss
    (B = 1e5) to relative error < 2%."""
    tasks = data.make_tasks(2, 20, 10, seed=3)
    params = _params(arch)
    target = jnp.asarray(tasks.maps[1])
    x = jax.random.normal(jax.random.key(7), (100_000, 20), jnp.float64)
    sampled = jax.grad(model.data_loss)(params, x, x @ target.T)
    analytic = model.population_grads(params, target)
    for name in analytic:
        a, s = np.asarray(analytic[name]), np.asarray(sampled[name])
        assert np.linalg.norm(s - a) / np.linalg.norm(a) < 0.02, name


@pytest.mark.parametrize("arch", ARCHS)
def test_population_grads_equal_autodiff_of_population_loss(arch):
    tasks = data.make_tasks(2, 20, 10, seed=3)
    params = _params(arch)
    target = jnp.asarray(tasks.maps[0])
    auto = jax.grad(model.population_loss)(params, target)
    analytic = model.population_grads(params, target)
    for name in analytic:
        np.testing.assert_allclose(analytic[name], auto[name], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("arch", ARCHS)
def test_autodiff_equals_finite_differences(arch):
    params = _params(arch, d_in=6, d_out=3)
    x = jax.random.normal(jax.random.key(1), (50, 6), jnp.float64)
    y = jax.random.normal(jax.random.key(2), (50, 3), jnp.float64)
    grads = jax.grad(model.data_loss)(params, x, y)
    rng = np.random.default_rng(0)
    eps = 1e-6
    for name, value in params.items():
        for _ in range(5):
            idx = tuple(rng.integers(0, n) for n in value.shape)
            up = {**params, name: value.at[idx].add(eps)}
            down = {**params, name: value.at[idx].add(-eps)}
            fd = (model.data_loss(up, x, y) - model.data_loss(down, x, y)) / (2 * eps)
            assert abs(float(fd) - float(grads[name][idx])) < 1e-7 * max(1.0, abs(float(fd)))


def test_covariance_loss_equals_minibatch_loss():
    params = _params("gated")
    target = jnp.asarray(data.make_tasks(2, 20, 10).maps[0])
    x = jax.random.normal(jax.random.key(4), (200, 20), jnp.float64)
    chol = jnp.linalg.cholesky(x.T @ x / 200)
    np.testing.assert_allclose(model.covariance_loss(params, target, chol),
                               model.data_loss(params, x, x @ target.T), rtol=1e-12)
    g1 = jax.grad(model.covariance_loss)(params, target, chol)
    g2 = jax.grad(model.data_loss)(params, x, x @ target.T)
    for name in g1:
        np.testing.assert_allclose(g1[name], g2[name], rtol=1e-10, atol=1e-13)


def test_wishart_sampler_has_the_batch_covariance_law():
    """L L^T from :func:`sample_chol` has the moments of X^T X / B: mean I, Var(diag) = 2/B,
    Var(off-diagonal) = 1/B (Monte Carlo, 20000 draws, 5 standard errors)."""
    B, d, n = 40, 5, 20_000
    chols = jax.vmap(lambda k: model.sample_chol(k, B, d, jnp.float64))(
        jax.random.split(jax.random.key(0), n))
    C = np.asarray(jnp.einsum("nij,nkj->nik", chols, chols))
    mean, var = C.mean(0), C.var(0)
    np.testing.assert_allclose(mean, np.eye(d), atol=5 * np.sqrt(2 / B / n))
    expect = np.where(np.eye(d) > 0, 2 / B, 1 / B)
    # Var of a sample variance: relative standard error sqrt(2/n) (Gaussian approx.)
    assert np.all(np.abs(var / expect - 1) < 5 * np.sqrt(2 / n) * 2)
    # an explicit batch gives the same statistics
    X = jax.random.normal(jax.random.key(1), (n, B, d), jnp.float64)
    C2 = np.asarray(jnp.einsum("nbi,nbj->nij", X, X)) / B
    assert np.all(np.abs(C2.var(0) / expect - 1) < 5 * np.sqrt(2 / n) * 2)


@pytest.mark.parametrize("gate_norm", ["global", "per_unit"])
def test_regulariser_grad_matches_autodiff_away_from_kinks(gate_norm):
    c = jnp.array([[0.7, -0.2, 0.4], [0.3, 1.1, -0.5]])
    lam = (0.3, 0.8, 0.6)
    auto = jax.grad(lambda c: model.regulariser(c, *lam, gate_norm))(c)
    np.testing.assert_allclose(model.regulariser_grad(c, *lam, gate_norm), auto, rtol=1e-12)


def test_regulariser_values_and_kinks():
    c = jnp.array([0.5, 0.5])
    assert float(model.regulariser(c, 1.0, 1.0, 0.0)) == pytest.approx(0.0)
    assert float(model.regulariser(jnp.array([-0.1, 0.0]), 2.0, 0.0, 0.0)) == pytest.approx(0.2)
    # subgradients at 0: hinge 0, sign(0) = 0, L2 direction 0
    g = model.regulariser_grad(jnp.zeros(3), 1.0, 1.0, 1.0)
    np.testing.assert_array_equal(g, np.zeros(3))
    g = model.regulariser_grad(jnp.array([-0.5, 0.0, 2.0]), 1.0, 0.0, 0.0)
    np.testing.assert_array_equal(g, [-1.0, 0.0, 0.0])


def test_per_unit_gates_equal_reference_two_layer_form():
    """Per-unit gates = a fixed diagonal second layer whose entries are the gates."""
    params = _params("gated_per_unit")
    x = jax.random.normal(jax.random.key(3), (7, 20), jnp.float64)
    W, c = params["W"], params["c"]
    hidden = jnp.einsum("pij,bj->bpi", W, x)  # (batch, P, d_out)
    two_layer = jnp.einsum("bpi,pi->bi", hidden, c)
    np.testing.assert_allclose(model.apply(params, x), two_layer, rtol=1e-12)


def test_conserved_quantity_of_the_control_is_a_matrix():
    params = _params("fully_connected")
    Q = model.conserved(params, 0.06, 0.01)
    assert Q.shape == (20, 20)
    np.testing.assert_allclose(Q, Q.T, atol=1e-14)


def test_orthogonal_teachers():
    T = data.teachers(2, 20, 10, seed=5)
    assert T.shape == (2, 10, 20)
    gram = np.einsum("mij,nij->mn", T, T)
    np.testing.assert_allclose(gram, 0.5 * np.eye(2), atol=1e-12)
    rows = T.reshape(20, 20)
    np.testing.assert_allclose(rows @ rows.T, np.eye(20) / 20, atol=1e-12)
    np.testing.assert_array_equal(T, data.teachers(2, 20, 10, seed=5))  # shared, reproducible
    with pytest.raises(ConfigError):
        data.teachers(3, 20, 10)


def test_composed_tasks():
    tasks = data.make_tasks(3, 20, 6, composition="mix")
    A, B, C = tasks.base
    assert tasks.names == ("A", "B", "C", "AB", "BC", "CA")
    np.testing.assert_allclose(tasks.maps[3], 0.5 * (A + B))
    np.testing.assert_allclose(tasks.maps[5], 0.5 * (C + A))
    np.testing.assert_allclose(tasks.coords[4], [0, 0.5, 0.5])
    sub = data.make_tasks(3, 20, 6, composition="interleave")
    np.testing.assert_allclose(sub.maps[4][0::2], B[0::2])
    np.testing.assert_allclose(sub.maps[4][1::2], C[1::2])
    assert np.isnan(sub.coords[3]).all()


def test_block_plans():
    np.testing.assert_array_equal(data.block_plan("A_B", 5, 2), [0, 1, 0, 1, 0])
    plan = data.block_plan("A_B_C__AB_BC_CA", 31, 3)
    assert data.composition_start(31) == 23
    np.testing.assert_array_equal(plan[:6], [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(plan[23:27], [3, 4, 5, 3])
    assert data.steps_per_block(1.0, 1e-3) == 1000  # not the reference's 999
    with pytest.raises(ConfigError):
        data.block_plan("A_A", 3, 2)


def test_chi2_sampler_moments():
    """Loop-free Marsaglia-Tsang chi-square: mean dof, variance 2 dof (Monte Carlo)."""
    n = 200_000
    for dof in (2.0, 20.0, 181.0):
        x = np.asarray(model.sample_chi2(jax.random.key(3), jnp.full((n,), dof), jnp.float64))
        assert abs(x.mean() / dof - 1) < 5 * np.sqrt(2 / dof / n)
        assert abs(x.var() / (2 * dof) - 1) < 0.03
        assert np.all(x > 0)


def test_normal_transform_is_finite_at_the_ends():
    u = jnp.array([0.0, 1e-30, 1e-8, 0.5, 1 - 2**-24], jnp.float32)
    z = np.asarray(model.normal_from_uniform(u))
    assert np.all(np.isfinite(z)) and z[3] == pytest.approx(0.0, abs=1e-6)
