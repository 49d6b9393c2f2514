"""MLP, pair geometry and training loop of the alignment networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.alignment import data, model
from learndyn.core.engine import DivergenceError

SMALL = model.Arch(d_in=2, d_out=1, width=16, depth=3, activation="tanh", layer=1)


def test_two_point_and_xor_data():
    x, y = data.two_points(0.7, 0.3, d_in=3, d_out=2)
    assert np.sum((x[1] - x[0]) ** 2) == pytest.approx(0.7)
    assert np.sum((y[1] - y[0]) ** 2) == pytest.approx(0.3)
    x, y = data.xor()
    np.testing.assert_array_equal(y[:, 0], [0, 1, 1, 0])
    d = data.pairwise_sq_distances(x)
    assert d[0, 3] == 8 and d[0, 1] == 4 and d[1, 1] == 0


def test_xavier_normal_init_with_gain():
    arch = model.Arch(d_in=300, d_out=100, width=200, depth=2, layer=0)
    params = jax.jit(lambda k: model.init(k, arch, 0.7, dtype=jnp.float64))(jax.random.key(0))
    for (w, b), (n_in, n_out) in zip(params, [(300, 200), (200, 200), (200, 100)]):
        expected = 0.7 * np.sqrt(2.0 / (n_in + n_out))
        assert float(jnp.std(w)) == pytest.approx(expected, rel=0.02)
        assert not np.any(np.asarray(b))


def test_forward_matches_a_plain_loop_with_residuals():
    arch = SMALL._replace(depth=5, residual=True, activation="leaky_relu")
    params = model.init(jax.random.key(1), arch, 1.0, dtype=jnp.float64)
    x = np.random.default_rng(0).normal(size=(4, 2))
    out, hidden = jax.jit(lambda p, x: model.forward(p, x, arch))(params, jnp.asarray(x))
    a, acts = x, []
    for n, (w, b) in enumerate(params[:-1]):
        z = a @ np.asarray(w) + np.asarray(b)
        a = np.where(z > 0, z, 0.01 * z) + (acts[n - 2] if n >= 2 else 0.0)
        acts.append(a)
    np.testing.assert_allclose(out, a @ np.asarray(params[-1][0]) + np.asarray(params[-1][1]),
                               rtol=1e-12)
    for mine, ref in zip(hidden, acts):
        np.testing.assert_allclose(mine, ref, rtol=1e-12)
    np.testing.assert_allclose(model.representation(params, jnp.asarray(x), arch), acts[1])


@pytest.mark.parametrize("name", sorted(model.ACTIVATIONS))
def test_activations(name):
    z = jnp.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    ref = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0),
           "leaky_relu": lambda v: np.where(v > 0, v, 0.01 * v),
           "elu": lambda v: np.where(v > 0, v, np.expm1(v)),
           "silu": lambda v: v / (1 + np.exp(-v)), "linear": lambda v: v}[name]
    np.testing.assert_allclose(model.ACTIVATIONS[name](z), ref(np.asarray(z)), rtol=1e-12)


def test_pair_geometry():
    rng = np.random.default_rng(2)
    rep, out, tgt = rng.normal(size=(3, 5)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    g = model.pair_geometry(jnp.asarray(rep), jnp.asarray(out), jnp.asarray(tgt))
    i, j = 0, 2
    dout, dtgt = out[j] - out[i], tgt[j] - tgt[i]
    assert float(g["h"][i, j]) == pytest.approx(np.sum((rep[j] - rep[i]) ** 2))
    assert float(g["y"][i, j]) == pytest.approx(np.sum(dout**2))
    assert float(g["w"][i, j]) == pytest.approx(np.sum(dout**2) - dtgt @ dout)


@jax.jit
def _by_hand(params, x, y):
    """Geometry and loss at ``params``, then one full-batch gradient step (lr 0.1)."""
    out, hidden = model.forward(params, x, SMALL)
    g = model.pair_geometry(hidden[1], out, y)
    value, grads = jax.value_and_grad(model.loss)(params, x, y, SMALL, "half_mse")
    return g, value, jax.tree.map(lambda p, d: p - 0.1 * d, params, grads)


def test_training_is_full_batch_gradient_descent_recorded_every_epoch():
    x, y = data.two_points(1.0, 0.5, d_in=2)
    rec = model.train(SMALL, x[None], y[None], [0.8], [0.1], epochs=7, seeds=[3],
                      dtype="float64", chunk=4)
    assert rec.values["h"].shape == (1, 1, 8, 2, 2)
    # the same seed, stepped by hand (the engine's init key of seed 3)
    params = model.init(jax.random.split(jax.random.key(3))[0], SMALL, 0.8, dtype=jnp.float64)
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    for epoch in range(8):
        g, value, params = _by_hand(params, xs, ys)
        np.testing.assert_allclose(rec.values["h"][0, 0, epoch], g["h"], rtol=1e-10)
        np.testing.assert_allclose(rec.values["w"][0, 0, epoch], g["w"], rtol=1e-9, atol=1e-14)
        assert rec.values["loss"][0, 0, epoch] == pytest.approx(float(value), rel=1e-10)
    assert rec.values["loss"][0, 0, -1] < rec.values["loss"][0, 0, 0]


def test_duplicated_points_leave_the_half_mse_gradient_unchanged():
    """alignment_structure trains its two-point run with every point duplicated."""
    x, y = data.two_points(4.0, 1.0, d_in=2)
    params = model.init(jax.random.key(0), SMALL, 0.5, dtype=jnp.float64)
    g2 = jax.grad(model.loss)(params, jnp.asarray(x), jnp.asarray(y), SMALL)
    g4 = jax.grad(model.loss)(params, jnp.asarray(np.repeat(x, 2, 0)),
                              jnp.asarray(np.repeat(y, 2, 0)), SMALL)
    for a, b in zip(jax.tree.leaves(g2), jax.tree.leaves(g4)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_divergence_is_reported():
    x, y = data.two_points(1.0, 0.5, d_in=2)
    with pytest.raises(DivergenceError, match="diverged"):
        model.train(SMALL._replace(activation="linear"), x[None], y[None], [3.0], [50.0],
                    epochs=100, seeds=[0])


def test_bad_architecture():
    with pytest.raises(ValueError, match="activation"):
        model.Arch(activation="gelu").check()
    with pytest.raises(ValueError, match="layer"):
        model.Arch(depth=2, layer=2).check()


def test_adam_matches_optax():
    import optax

    x, y = data.two_points(1.0, 0.5, d_in=2)
    rec = model.train(SMALL, x[None], y[None], [0.8], [0.01], epochs=4, seeds=[1],
                      optimizer="adam", dtype="float64")
    params = model.init(jax.random.split(jax.random.key(1))[0], SMALL, 0.8, dtype=jnp.float64)
    opt = optax.adam(0.01)
    state = opt.init(params)
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    for epoch in range(5):
        value, grads = jax.value_and_grad(model.loss)(params, xs, ys, SMALL)
        assert rec.values["loss"][0, 0, epoch] == pytest.approx(float(value), rel=1e-9)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
