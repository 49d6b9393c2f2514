"""Data, model and observables of deep linear networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.deep_linear import data, model, observables

S = (3.0, 2.0, 1.0, 0.5)


@pytest.fixture
def task():
    return data.toy_task(6, 5, S, seed=3)


def test_toy_task_has_prescribed_modes(task):
    assert np.allclose(task.s, S, atol=1e-12)
    assert np.allclose(task.U.T @ task.U, np.eye(4), atol=1e-12)
    assert np.allclose(task.V.T @ task.V, np.eye(4), atol=1e-12)
    assert np.allclose(task.U @ np.diag(task.s) @ task.V.T, task.sigma_yx, atol=1e-12)
    assert task.loss_offset == pytest.approx(0.0, abs=1e-12)


def test_hierarchy_task_is_whitened_with_distinct_modes():
    t = data.hierarchy_task(3, 200, 0.1, seed=0)
    assert t.X.shape == (8, 8) and t.Y.shape == (200, 8)
    assert set(np.unique(t.Y)) <= {-1.0, 1.0}
    assert np.all(np.diff(t.s) < 0)
    # the root mode dominates: features share their root value across all items
    assert t.s[0] > 1.5 * t.s[1]


def test_unwhitened_inputs_are_refused():
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    with pytest.raises(ConfigError, match="whitened"):
        data.make_task(X, np.eye(2), 1.0)


@pytest.mark.parametrize("values", [(1.0, 2.0), (1.0, -1.0), (3.0, 2.0, 1.0, 0.5, 0.1, 0.05, 0.01)])
def test_toy_task_rejects_bad_singular_values(values):
    with pytest.raises(ConfigError, match="singular_values"):
        data.toy_task(6, 6, values, seed=0)


def test_loss_equals_correlation_form(task):
    key = jax.random.key(0)
    weights = model.init_random(key, (6, 8, 5), scale=jnp.asarray(0.3), dtype=jnp.float64)
    batch = {k: jnp.asarray(v) for k, v in dict(X=task.X, Y=task.Y, c=task.c).items()}
    W = np.asarray(model.product(weights))
    expected = 0.5 * np.sum((W - task.sigma_yx) ** 2) + task.loss_offset
    assert float(model.loss(weights, batch)) == pytest.approx(expected, rel=1e-12)


def test_gradient_matches_the_flow_equations(task):
    weights = model.init_random(jax.random.key(1), (6, 7, 5), scale=jnp.asarray(0.5),
                                dtype=jnp.float64)
    batch = {k: jnp.asarray(v) for k, v in dict(X=task.X, Y=task.Y, c=task.c).items()}
    g1, g2 = jax.grad(model.loss)(weights, batch)
    W1, W2 = (np.asarray(w) for w in weights)
    E = task.sigma_yx - W2 @ W1
    assert np.allclose(-np.asarray(g1), W2.T @ E, atol=1e-12)
    assert np.allclose(-np.asarray(g2), E @ W1.T, atol=1e-12)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_aligned_init_is_balanced_and_decoupled(task, depth):
    U, V = jnp.asarray(task.U), jnp.asarray(task.V)
    weights = model.init_aligned(jax.random.key(2), U, V, n_hidden=9, depth=depth,
                                 u0=jnp.asarray(1e-3), dtype=jnp.float64)
    W = np.asarray(model.product(weights))
    assert np.allclose(W, task.U @ (1e-3 * task.V.T), atol=1e-15)
    u = np.asarray(observables.mode_strengths(weights, U, V))
    assert np.allclose(u, 1e-3, rtol=1e-10)
    for lower, upper in zip(weights[:-1], weights[1:]):  # W_{l+1}^T W_{l+1} = W_l W_l^T
        lower, upper = np.asarray(lower), np.asarray(upper)
        assert np.allclose(upper.T @ upper, lower @ lower.T, atol=1e-15)
    if depth == 2:
        assert np.allclose(observables.symmetric_strength(weights, U, V), 1e-3, rtol=1e-10)


def test_random_init_scale():
    weights = model.init_random(jax.random.key(0), (50, 60, 40), scale=jnp.asarray(0.1))
    assert [w.shape for w in weights] == [(60, 50), (40, 60)]
    assert weights[0].dtype == jnp.float32
    assert float(jnp.std(weights[0])) == pytest.approx(0.1, rel=0.05)


def test_half_times_interpolates_linear_ramp():
    times = np.linspace(0, 10, 11)
    u = np.stack([times / 10.0, np.minimum(times / 4.0, 1.0)], axis=-1)  # (time, mode)
    half = observables.half_times(times, u, np.array([1.0, 1.0]))
    assert np.allclose(half, [5.0, 2.0])
    never = observables.half_times(times, 0.1 * u, np.array([1.0, 1.0]))
    assert np.all(np.isnan(never))


def test_loss_drop_times_find_separated_stages():
    # a drop counts when a plateau follows it; the last mode's drop turns into the final
    # exponential convergence (its log-rate saturates at 4 s) and is not a peak
    t = np.linspace(0.01, 60, 6000)
    s = np.array([3.0, 0.5, 0.1])
    u = s / (1 + (s / 1e-4 - 1) * np.exp(-2 * s * t[:, None]))
    loss = 0.5 * np.sum((s - u) ** 2, axis=1)
    drops = observables.loss_drop_times(t, loss)
    assert len(drops) == 2
    halves = np.log(s / 1e-4) / (2 * s)
    assert np.allclose(drops, halves[:2], rtol=0.1)
    assert len(observables.loss_drop_times(t, np.exp(-t))) == 0  # one smooth decay: no stages


def test_free_strength_is_what_the_stronger_modes_leave():
    """orthogonalise: ||P_perp h_alpha||^2, h projected off the hidden vectors of the modes
    before it; the same as ||h||^2 for orthogonal hidden vectors."""
    U, V = np.eye(3)[:, :2], np.eye(3)[:, :2]  # two modes
    h = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])  # hidden vectors (N_h = 3) of modes 1, 2
    W1 = jnp.asarray(2 * h @ V.T)  # W1 v_alpha = 2 h_alpha, W2^T u_alpha = 0
    W2 = jnp.zeros((3, 3))
    plain = observables.symmetric_strength((W1, W2), U, V)
    free = observables.symmetric_strength((W1, W2), U, V, orthogonalise=True)
    assert np.allclose(plain, [1.0, 2.0]) and np.allclose(free, [1.0, 1.0])
    Q = jnp.asarray(np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0][:, :2])
    W1 = Q @ jnp.diag(jnp.array([3.0, 2.0])) @ V.T
    assert np.allclose(observables.symmetric_strength((W1, W2), U, V, orthogonalise=True),
                       observables.symmetric_strength((W1, W2), U, V), rtol=1e-12)
