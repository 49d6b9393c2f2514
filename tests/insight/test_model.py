"""The gated network: gradients against the paper's formulas, both update rules against a
plain re-statement of their equations, analytic accuracy against Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.insight import model

RNG = np.random.default_rng(0)


def _params(wm, gm, wc, gc):
    return {"g": jnp.array([gm, gc]), "w": jnp.array([wm, wc])}


def test_data_gradients_are_the_papers():
    for _ in range(5):
        wm, gm, wc, gc, xm, xc, y, eta = RNG.normal(size=8)
        grads = model.data_grads(_params(wm, gm, wc, gc), jnp.array([xm, xc]), y, eta)
        e = gm * wm * xm + gc * wc * xc + eta - y
        np.testing.assert_allclose(grads["w"], [gm * xm * e, gc * xc * e], rtol=1e-12)
        np.testing.assert_allclose(grads["g"], [wm * xm * e, wc * xc * e], rtol=1e-12)


def _reference(theta, grad, xi, rule, alpha, lam):
    """The update rules as the paper (printed) and the authors' code state them, per gate."""
    new = theta - alpha * grad
    if rule == "paper":
        new = new + xi
        new[[1, 3]] -= alpha * lam * np.sign(theta[[1, 3]])
        return new
    new[[1, 3]] -= lam * np.sign(theta[[1, 3]])
    new = new + alpha * xi
    for j in (1, 3):
        if theta[j] == 0:
            new[j] = np.sign(new[j]) * max(abs(new[j]) - alpha * lam, 0.0)
        if theta[j] * new[j] < 0:
            new[j] = 0.0
    return new


@pytest.mark.parametrize("rule", ["code", "paper"])
def test_update_rules_match_their_equations(rule):
    alpha, lam = 0.6, 0.07
    r = model.make_rule(rule, alpha=alpha, lam=lam)
    cases = [RNG.normal(size=4) for _ in range(20)]
    cases += [np.array([0.3, 0.0, -0.2, 0.0]), np.array([0.3, 0.01, -0.2, -0.02])]
    for theta in cases:
        grad, xi = RNG.normal(size=4) * 0.1, RNG.normal(size=4) * 0.05
        p = _params(*theta)
        g = {"w": jnp.array(grad[[0, 2]]), "g": jnp.array(grad[[1, 3]])}
        x = {"w": jnp.array(xi[[0, 2]]), "g": jnp.array(xi[[1, 3]])}
        new = model.update(p, g, x, r, freeze_gates=jnp.array(False))
        got = np.array([new["w"][0], new["g"][0], new["w"][1], new["g"][1]])
        np.testing.assert_allclose(got, _reference(theta.copy(), grad, xi, rule, alpha, lam),
                                   atol=1e-14)


def test_resting_gate_moves_only_past_alpha_lambda():
    r = model.make_rule("code", alpha=0.6, lam=0.07)
    p = _params(1.0, 0.0, 1.0, 0.0)
    zero = {"w": jnp.zeros(2), "g": jnp.zeros(2)}
    small = {"w": jnp.zeros(2), "g": jnp.array([-0.04, 0.04]) / 0.6}  # a step of 0.04 < 0.042
    assert np.all(model.update(p, zero, small, r, freeze_gates=jnp.array(False))["g"] == 0)
    big = {"w": jnp.zeros(2), "g": jnp.array([0.0, 0.05]) / 0.6}
    np.testing.assert_allclose(model.update(p, zero, big, r, freeze_gates=jnp.array(False))["g"],
                               [0.0, 0.05 - 0.042], atol=1e-14)


def test_ablation_switches():
    p = _params(0.5, 0.2, -0.3, -0.1)
    grad = {"w": jnp.array([0.1, 0.2]), "g": jnp.array([0.3, -0.1])}
    xi = {"w": jnp.array([0.05, -0.02]), "g": jnp.array([0.01, 0.03])}
    no = jnp.array(False)
    fixed = model.update(p, grad, xi, model.make_rule(gates="fixed"), freeze_gates=no)
    np.testing.assert_array_equal(fixed["g"], p["g"])
    frozen = model.update(p, grad, xi, model.make_rule(), freeze_gates=jnp.array(True))
    np.testing.assert_array_equal(frozen["g"], p["g"])
    l2 = model.update(p, grad, xi, model.make_rule(regulariser="l2"), freeze_gates=no)
    np.testing.assert_allclose(l2["g"], p["g"] - 0.6 * grad["g"] - 0.07 * p["g"]
                               + 0.6 * xi["g"], atol=1e-14)
    gates_only = model.update(p, grad, xi, model.make_rule(noise_on="gates"), freeze_gates=no)
    np.testing.assert_allclose(gates_only["w"], p["w"] - 0.6 * grad["w"], atol=1e-14)


def _mc_accuracy(a, mu_m, mu_c, random_sign, n=400_000, seed=1):
    """Choices of a network with targets -1/+1 on y = +1 trials: P(y_hat > 0)."""
    rng = np.random.default_rng(seed)
    sign = rng.choice([-1.0, 1.0], n) if random_sign else 1.0
    xm = mu_m + 0.1 * rng.normal(size=n)
    xc = sign * mu_c + 0.01 * rng.normal(size=n)
    y_hat = a[0] * xm + a[1] * xc + 0.3 * rng.normal(size=n)
    return np.mean(y_hat > 0)


@pytest.mark.parametrize("random_sign", [False, True])
def test_analytic_accuracy_matches_monte_carlo(random_sign):
    w, g = jnp.array([3.0, 2.5]), jnp.array([0.4, 0.6])
    acc = model.accuracy(w, g, jnp.array(0.06), jnp.array(0.22), sigma_m=0.1, sigma_c=0.01,
                         sigma_eta=jnp.array(0.3), random_sign=jnp.array(random_sign))
    mc = _mc_accuracy(np.asarray(w * g), 0.06, 0.22, random_sign)
    assert abs(float(acc) - mc) < 4e-3  # ~5 Monte Carlo standard errors


def test_hidden_variant_effective_weights():
    z = jnp.asarray(RNG.normal(size=12))
    p = model.init_params(z, model.Network("hidden", 4), 0.01, 0.5, 0.01)
    w, g = model.effective(p)
    x, eta = jnp.array([0.3, -0.2]), jnp.array(0.1)
    np.testing.assert_allclose(model.output(p, x, eta), (w * g) @ x + eta, rtol=1e-12)
    grads = model.data_grads(p, x, 1.0, eta)
    eps = 1e-6
    bumped = {**p, "w2": p["w2"].at[0].add(eps)}
    def loss(q):
        return 0.5 * (model.output(q, x, eta) - 1.0) ** 2

    fd = (loss(bumped) - loss(p)) / eps
    assert abs(float(grads["w2"][0]) - float(fd)) < 1e-5
    assert jax.tree.structure(grads) == jax.tree.structure(p)
