"""Data statistics against Monte Carlo, the SGD networks against the average field (autodiff),
the optimiser (improvement, KKT, divergence) and one-line errors for bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import learndyn.learning_effort as le
from learndyn import ConfigError, DivergenceError
from learndyn.learning_effort import controls, data, model


@pytest.mark.parametrize("make", [lambda: data.two_gaussians(2.0, 0.5),
                                  lambda: data.correlated_gaussians(),
                                  lambda: data.semantic_hierarchy(3),
                                  lambda: data.prototype_pair(8, 9)])
def test_statistics_match_monte_carlo(make):
    """Within 0.02 of the largest entry (>= 4 standard errors at 2e5 samples)."""
    task = make()
    x, y = data.sample(jax.random.key(0), task.sampler(), 200_000)
    x, y = np.asarray(x), np.asarray(y)
    n = len(x)
    for got, want in ((x.T @ x / n, task.sigma_x), (y.T @ x / n, task.sigma_yx),
                      (y.T @ y / n, task.sigma_y), (x.mean(0), task.mean_x)):
        scale = max(1.0, float(np.abs(want).max()))
        assert np.max(np.abs(got - want)) <= 0.02 * scale


def test_hierarchy_and_prototypes_structure():
    h = data.semantic_hierarchy(4)
    assert h.n_in == 8 and h.n_out == 15
    np.testing.assert_allclose(h.sigma_x, np.eye(8) / 8)
    np.testing.assert_allclose(h.sigma_y, 8 * h.sigma_yx @ h.sigma_yx.T)
    m = data.class_means()
    gram = m @ m.T / 1.5**2
    assert abs(gram[1, 7] - 0.6) < 1e-12 and abs(gram[0, 1] - 0.2) < 1e-12
    assert data.pair_distance(0, 1) > data.pair_distance(1, 7)  # look-alikes are harder


KINDS = {  # control type -> (w, c) at random values
    "single_neuron": (lambda r: jnp.asarray(0.3), lambda r: jnp.asarray(0.2)),
    "gain": (lambda r: (r(5, 3), r(2, 5)), lambda r: (0.3 * r(5, 3), 0.3 * r(2, 5))),
    "learning_rate": (lambda r: (r(5, 3), r(2, 5)), lambda r: jnp.asarray(0.4)),
    "engagement": (lambda r: (r(5, 3), r(2, 5)), lambda r: jnp.asarray([0.3, 0.9])),
    "category": (lambda r: (r(5, 3), r(2, 5)), lambda r: jnp.asarray([1.4, 0.6])),
    "none": (lambda r: (r(5, 3), r(2, 5)), lambda r: jnp.asarray(0.0)),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_sgd_gradient_is_the_field_of_the_batch_statistics(kind):
    """-grad of the controlled minibatch loss = the control type's field with the batch's own
    second moments: the average dynamics are the expected SGD update, exactly."""
    rng = np.random.default_rng(0)

    def r(*shape):
        return jnp.asarray(rng.standard_normal(shape))

    task = data.two_gaussians() if kind == "single_neuron" else data.correlated_gaussians()
    x, y = data.sample(jax.random.key(1), task.sampler(), 64)
    x, y = jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.float64)
    w, c = KINDS[kind][0](r), KINDS[kind][1](r)
    prm = {"lam": 0.1, "beta": 0.2, "u0": 0.0, "groups": jnp.eye(2), "reference": 0.0}
    ct = {"single_neuron": controls.SINGLE_NEURON, "gain": controls.GAIN,
          "learning_rate": controls.LEARNING_RATE, "engagement": controls.ENGAGEMENT,
          "category": controls.CATEGORY, "none": controls.NONE}[kind]
    stats = data.Stats(x.T @ x / 64, y.T @ x / 64, y.T @ y / 64)
    grad = jax.jit(jax.grad(model.batch_loss, argnums=1), static_argnums=0)(kind, w, c, x, y, prm)
    field = ct.field(w, c, stats, prm)
    for g, f in zip(jax.tree.leaves(grad), jax.tree.leaves(field)):
        np.testing.assert_allclose(-g, f, rtol=1e-12, atol=1e-12)
    if kind in ("single_neuron", "gain", "none"):
        assert abs(float(model.batch_loss(kind, w, c, x, y, prm))
                   - float(ct.loss(w, c, stats, prm))) <= 1e-12


def test_optimise_improves_and_meets_kkt():
    p = le.single_neuron_problem(n_steps=300)
    r = le.optimise(p, iterations=400, step=10.0, init=le.initial_control(p, noise=1e-3))
    assert r.values.shape == (400,)
    assert r.value > le.value(p, le.neutral_control(p))
    assert np.all(np.diff(r.values) >= -1e-12)  # projected ascent with a small step climbs
    assert r.kkt <= 0.05 * r.kkt_init
    assert abs(le.kkt_residual(p, r.control) - r.kkt) <= 1e-12
    assert 0.0 <= r.control.min() and r.control.max() <= 0.5


def test_diverging_ascent_names_the_iteration():
    p = le.single_neuron_problem(n_steps=300, bounds=(-np.inf, np.inf))
    with pytest.raises(DivergenceError, match=r"iteration \d+; try a smaller step"):
        le.optimise(p, iterations=400, step=1e12, init=le.initial_control(p, noise=1e-3))


@pytest.mark.parametrize("call, name", [
    (lambda: le.single_neuron_problem(bounds=(0.5, 0.0)), "bounds"),
    (lambda: le.single_neuron_problem(dt=0.0), "dt"),
    (lambda: le.single_neuron_problem(gamma=1.5), "gamma"),
    (lambda: le.single_neuron_problem(n_steps=0), "n_steps"),
    (lambda: le.value(le.single_neuron_problem(n_steps=10), np.zeros(9)), "control"),
    (lambda: le.gain_problem(data.correlated_gaussians(), np.zeros((4, 2)), np.zeros((2, 4))),
     "w1_0"),
    (lambda: le.gain_problem((np.ones((2, 2)), np.ones((1, 2)), np.ones((1, 1))),
                             np.zeros((3, 2)), np.zeros((1, 3))), "sigma_x"),
    (lambda: le.gain_problem((np.array([[1.0, 0.5], [0.0, 1.0]]), np.ones((1, 2)),
                              np.ones((1, 1))), np.zeros((3, 2)), np.zeros((1, 3))), "sigma_x"),
    (lambda: le.optimise(le.single_neuron_problem(n_steps=10), iterations=0), "iterations"),
])
def test_bad_input_is_one_line_naming_the_argument(call, name):
    with pytest.raises(ConfigError) as err:
        call()
    assert name in str(err.value) and "\n" not in str(err.value)
