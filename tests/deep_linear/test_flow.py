"""The gradient flow from covariances: the field is minus the gradient of the loss, and the loss
is the mean squared error of samples whose moments are the covariances."""

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.deep_linear import theory


def _setup(seed=0, n_i=4, n_h=3, n_o=2, n=5000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_i)) + rng.normal(size=n_i)
    Y = X @ rng.normal(size=(n_i, n_o)) + rng.normal(size=(n, n_o))
    stats = X.T @ X / n, Y.T @ X / n, Y.T @ Y / n
    W1, W2 = rng.normal(size=(n_h, n_i)), rng.normal(size=(n_o, n_h))
    return X, Y, stats, jnp.asarray(W1), jnp.asarray(W2), rng.uniform(0.5, 2.0, n_o)


def test_field_is_minus_gradient_of_loss():
    _, _, (sxx, syx, syy), W1, W2, d = _setup()
    for kwargs in ({}, {"lam": 0.3}, {"lam": 0.1, "output_weights": jnp.asarray(d)}):
        grads = jax.grad(theory.population_loss, argnums=(0, 1))(W1, W2, syx, syy, sxx, **kwargs)
        field = theory.flow_field(W1, W2, syx, sxx, **kwargs)
        for f, g in zip(field, grads):
            np.testing.assert_allclose(f, -g, rtol=1e-12, atol=1e-12)


def test_loss_equals_sample_mean_squared_error():
    X, Y, (sxx, syx, syy), W1, W2, d = _setup()
    err = Y - X @ np.asarray(W2 @ W1).T
    want = 0.5 * np.mean(np.sum(d * err**2, axis=1)) + 0.05 * float(jnp.sum(W1**2) + jnp.sum(W2**2))
    got = theory.population_loss(W1, W2, syx, syy, sxx, lam=0.1, output_weights=jnp.asarray(d))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # whitened default: sigma_xx = None is the identity
    np.testing.assert_allclose(theory.flow_field(W1, W2, syx)[0],
                               theory.flow_field(W1, W2, syx, jnp.eye(4))[0], rtol=1e-14)
