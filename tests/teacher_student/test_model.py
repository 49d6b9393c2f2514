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


def _draws(n_draws, N, dtype, seed=3):
    draw = jax.jit(lambda s: data.draw(s, N, dtype))
    s, out = data.stream(jax.random.key(seed), N, dtype), []
    for _ in range(n_draws):
        s, z = draw(s)
        out.append(np.asarray(z, np.float64))
    return np.concatenate(out)  # (steps, N + 1)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_stream_numbers_are_standard_normal_and_uncorrelated(dtype):
    """XORWOW + inverse erf: moments, tails and correlations (across lanes, consecutive steps,
    substreams) within 5 standard errors of i.i.d. N(0, 1) on n = 1.3e6 numbers, and as many
    distinct values as n draws from a grid of 2^24 (float32) or 2^53 (float64) points give."""
    N = 40
    z = _draws(16, N, dtype)  # U = 399 substreams: 1995 steps per draw
    assert z.shape == (16 * data.steps_per_draw(N), N + 1)
    n, se = z.size, 1 / np.sqrt(z.size)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1) < 5 * np.sqrt(2) * se
    assert abs((z**4).mean() - 3) < 5 * np.sqrt(96) * se
    assert abs((z**3).mean()) < 5 * np.sqrt(15) * se
    tail = (np.abs(z) > 2).mean()  # 2 (1 - Phi(2)) = 0.0455
    assert abs(tail - 0.04550026) < 5 * np.sqrt(0.0455 * 0.9545 / n)
    for a, b in [(z[:, :-1], z[:, 1:]), (z[:-1], z[1:]), (z[:-5], z[5:]),
                 (z[:-data.substreams(N)], z[data.substreams(N):])]:
        assert abs((a * b).mean()) < 5 / np.sqrt(a.size)
    grid = 2.0 ** (24 if dtype == jnp.float32 else 53)
    assert len(np.unique(z)) == pytest.approx(-grid * np.expm1(-n / grid), rel=2e-3)


def test_stream_depends_on_the_key_and_advances():
    N = 7
    s0, s1 = (data.stream(jax.random.key(k), N) for k in (0, 1))
    a, z0 = data.draw(s0, N)
    _, z1 = data.draw(s1, N)
    _, z0b = data.draw(a, N)
    assert z0.shape == (data.steps_per_draw(N), N + 1)
    assert not np.array_equal(z0, z1) and not np.array_equal(z0, z0b)
    assert np.array_equal(data.draw(s0, N)[1], z0)  # a pure function of the state
