"""The SGD step against autodiff, initialisation and order parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.teacher_student import data, model


@pytest.mark.parametrize("g", ["erf", "relu", "linear"])
def test_sgd_step_is_gradient_descent_on_half_squared_error(g):
    N, K, M, lr, lr2, sigma, kappa = 30, 3, 2, 0.7, 0.3, 0.2, 0.5
    keys = jax.random.split(jax.random.key(0), 5)
    w, ws = (jax.random.normal(k, s) for k, s in zip(keys[:2], [(K, N), (M, N)]))
    v, vs = jax.random.normal(keys[2], (K,)), jax.random.normal(keys[3], (M,))
    x, zeta = data.sample(keys[4], N, jnp.float64)
    nets = model.Networks(w, v, ws, vs)
    new = model.sgd_step(nets, x, zeta, g=g, lr=lr, lr2=lr2, sigma=sigma, weight_decay=kappa,
                         train_v=True)

    def loss(w, v):
        y = model.output(g, ws, vs, x) + sigma * zeta
        return 0.5 * (model.output(g, w, v, x) - y) ** 2

    gw, gv = jax.grad(loss, argnums=(0, 1))(w, v)
    shrink = 1 - kappa / N
    assert np.allclose(new.w, shrink * w - lr * gw, atol=1e-12)
    assert np.allclose(new.v, shrink * v - lr2 / N * gv, atol=1e-12)
    assert np.array_equal(new.wstar, ws) and np.array_equal(new.vstar, vs)
    fixed = model.sgd_step(nets, x, zeta, g=g, lr=lr, lr2=lr2, sigma=sigma, weight_decay=0.0,
                           train_v=False)
    assert np.array_equal(fixed.v, v)


def test_derivatives_match_autodiff():
    x = jnp.linspace(-3, 3, 13) + 0.01
    for g in ("erf", "relu", "linear"):
        auto = jax.vmap(jax.grad(lambda t, g=g: model.activation(g, t)))(x)
        assert np.allclose(model.derivative(g, x), auto, atol=1e-12)


def test_init_and_order_parameters():
    nets = model.init(jax.random.key(1), N=4000, K=3, M=2, init_std=1.0, v_init=1.0,
                      v_init_std=0.0, vstar_value=1.0, vstar_random=False, dtype=jnp.float32)
    assert nets.w.dtype == jnp.float32 and nets.w.shape == (3, 4000)
    p = model.order_parameters(nets)
    assert p["Q"].dtype == jnp.float64
    assert np.allclose(p["Q"], np.eye(3), atol=0.06)  # O(1/sqrt N) = 0.016
    assert np.allclose(p["T"], np.eye(2), atol=0.06)
    assert np.abs(p["R"]).max() < 0.06
    assert np.array_equal(p["v"], np.ones(3)) and np.array_equal(p["vstar"], np.ones(2))
    small = model.init(jax.random.key(1), N=4000, K=3, M=2, init_std=1e-3, v_init=0.0,
                       v_init_std=1e-3, vstar_value=1.0, vstar_random=True)
    assert float(jnp.std(small.w)) == pytest.approx(1e-3, rel=0.05)
    assert float(jnp.abs(small.v).max()) < 1e-2
    assert not np.allclose(small.vstar, 1.0)


def test_blocked_data_do_not_depend_on_the_block_size():
    key = jax.random.key(3)
    block = jax.jit(data.block, static_argnums=(2, 3))
    big = block(key, 1, 16, 7)  # steps 16..31
    small = jnp.concatenate([block(key, b, 4, 7) for b in range(4, 8)])
    assert np.array_equal(big, small)
    assert big.shape == (16, 8) and not np.array_equal(big[:4], big[4:8])
