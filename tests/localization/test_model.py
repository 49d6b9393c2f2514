"""Networks and online SGD of the localization family."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.localization import data, model

C0 = math.sqrt(2 / math.pi)


@pytest.mark.parametrize("network", [
    model.SINGLE, model.Network(5, "sigmoid", "trainable", "fixed"),
    model.Network(5, "relu", "none", "trainable"), model.Network(3, "sigmoid", "fixed")])
def test_loss_gradient_matches_finite_differences(network):
    rng = np.random.default_rng(0)
    K, L = network.K, 8
    params = {"W": jnp.asarray(rng.normal(size=(K, L)))}
    if network.bias == "trainable":
        params["b"] = jnp.asarray(rng.normal(size=K))
    if network.readout == "trainable":
        params["v"] = jnp.asarray(1 + 0.1 * rng.normal(size=K))
    x = jnp.asarray(rng.normal(size=(64, L)))
    y = jnp.asarray(rng.integers(0, 2, 64).astype(float))
    f = lambda p: model.loss(p, x, y, network, -0.5)  # noqa: E731
    grads = jax.grad(f)(params)
    h = 1e-6
    for name, value in params.items():
        flat = np.asarray(value).ravel()
        for i in range(0, flat.size, 3):
            bump = np.zeros_like(flat)
            bump[i] = h
            up = {**params, name: jnp.asarray((flat + bump).reshape(value.shape))}
            down = {**params, name: jnp.asarray((flat - bump).reshape(value.shape))}
            fd = (float(f(up)) - float(f(down))) / (2 * h)
            assert float(np.asarray(grads[name]).ravel()[i]) == pytest.approx(fd, abs=1e-7)


def test_forward_is_the_averaging_readout():
    W = jnp.asarray(np.random.default_rng(1).normal(size=(4, 6)))
    x = jnp.asarray(np.random.default_rng(2).normal(size=(10, 6)))
    out = model.forward({"W": W}, x, model.Network(4))
    assert np.allclose(out, np.maximum(np.asarray(x) @ np.asarray(W).T, 0).mean(1))


def test_expected_sgd_step_is_the_effective_drive_for_gaussian_data():
    """-grad L averaged over 4e5 balanced samples equals (1/2)[sqrt(2/pi) a - (S0 + S1) w]
    (T1 + T2, exact for Gaussian inputs), every entry within 5 standard errors."""
    L, n = 12, 400_000
    m = data.Gaussian()
    w = np.random.default_rng(3).normal(size=L) * 0.1
    F0, F1 = (jnp.asarray(data.ring_factor(L, xi)) for xi in (1.0, 3.0))
    x, y = jax.jit(data.task_batch, static_argnums=(1, 5))(jax.random.key(0), m.draw, {},
                                                          F0, F1, n)
    params = {"W": jnp.asarray(w[None])}
    grad = -np.asarray(jax.grad(model.loss)(params, x, y)["W"][0])
    x, y = np.asarray(x), np.asarray(y)
    s = x @ w
    per = 2 * ((y - np.maximum(s, 0)) * (s > 0))[:, None] * x
    assert np.allclose(per.mean(0), grad, atol=1e-12)
    S0, S1 = (data.covariance(m, L=L, xi=xi) for xi in (1.0, 3.0))
    a = S1 @ w / math.sqrt(w @ S1 @ w)
    drive = 0.5 * (C0 * a - (S0 + S1) @ w)
    se = per.std(0) / math.sqrt(n)
    assert np.max(np.abs(grad - drive) / se) < 5


def test_sgd_contract_and_seeds():
    w0 = np.random.default_rng(0).normal(size=40) * 0.01
    out = model.sgd(w0, data.NLGP(1.0), batch=100, steps=20, seeds=[0, 1], record_every=10)
    assert out.shape == (2, 3, 40) and out.dtype == np.float32
    assert np.allclose(out[:, 0], w0.astype(np.float32))
    alone = model.sgd(w0, data.NLGP(1.0), batch=100, steps=20, seeds=[1], record_every=10)
    assert np.allclose(alone[0], out[1], rtol=1e-5, atol=1e-8)  # independent of other seeds
    assert not np.allclose(out[0, -1], out[1, -1])


def test_marginals_of_one_family_share_a_program_and_keep_their_own_data():
    record_at = np.array([0, 5, 10])
    kw = dict(L=20, xi0=1.0, xi1=3.0, lr=0.05, batch=200, record_at=record_at, seeds=[0])
    both = model.train([data.Alg(5), data.Alg(30)], **kw)
    alone = model.train([data.Alg(30)], **kw)
    assert np.allclose(both[1]["W"], alone[0]["W"], rtol=1e-6, atol=1e-9)
    assert np.array_equal(both[0]["W"][:, 0], both[1]["W"][:, 0])  # same w(0) per seed
    assert not np.allclose(both[0]["W"][:, -1], both[1]["W"][:, -1])


@pytest.mark.parametrize("network", [model.Network(6, "sigmoid", "trainable"),
                                     model.Network(6, "relu", "none", "trainable"),
                                     model.Network(6, "sigmoid", "fixed")])
def test_network_variants_train(network):
    rec = model.train([data.NLGP(100.0)], L=20, xi0=1.0, xi1=3.0, lr=1.0, batch=200,
                      record_at=np.array([0, 25, 50]), seeds=[0, 1], network=network,
                      init_scale=0.1, bias=-1.0)[0]
    assert rec["W"].shape == (2, 3, 6, 20) and np.all(np.isfinite(rec["W"]))
    if network.bias == "trainable":
        assert rec["b"].shape == (2, 3, 6) and np.allclose(rec["b"][:, 0], -1.0)
    if network.readout == "trainable":
        assert rec["v"].shape == (2, 3, 6) and abs(float(rec["v"][:, 0].mean()) - 1) < 0.2
    assert rec["loss"][:, -1].mean() < rec["loss"][:, 1].mean() + 1e-3
