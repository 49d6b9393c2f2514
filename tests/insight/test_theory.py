"""The reduced theory (ours) against Monte Carlo of the random walk and of the network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.insight import model, theory


def _walks(w0, step, n, count=40_000, seed=0):
    rng = np.random.default_rng(seed)
    return w0 + np.cumsum(step * rng.normal(size=(count, n)), axis=1)


@pytest.mark.parametrize("w0, barrier, n", [(0.3, 1.0, 400), (0.9, 1.2, 100), (0.0, 0.5, 50),
                                            (-0.7, 1.0, 400)])
def test_exit_probability_matches_the_discrete_walk(w0, barrier, n):
    step = 0.03
    walks = _walks(w0, step, n)
    mc = np.mean(np.any(np.abs(walks) >= barrier, axis=1))
    assert abs(float(theory.p_cross(w0, barrier, step, n)) - mc) < 0.01  # MC SE <= 0.0025


def test_exit_probability_limits():
    assert theory.p_cross(1.5, 1.0, 0.03, 400) == 1.0
    assert theory.p_cross(0.1, np.inf, 0.03, 400) == 0.0
    assert theory.p_cross(0.1, 1.0, 0.0, 400) == 0.0


def test_mean_first_passage_matches_the_walk():
    step, n = 0.03, 400
    w0 = np.array([0.5, 0.8, 1.2])
    barrier = np.array([1.0, 1.0, 1.0])
    walks = np.concatenate([_walks(w, step, n, 20_000, seed=i) for i, w in enumerate(w0)])
    hit = np.abs(walks) >= 1.0
    first = np.where(hit.any(1), np.argmax(hit, 1) + 1.0, np.nan)
    first[20_000 * 2:] = 0.0  # starts beyond the barrier: trial 0
    mc = np.nanmean(first)
    assert abs(theory.mean_first_passage(w0, barrier, step, n) - mc) < 3.0


def test_population_curve_is_the_average_over_onset_values():
    rng = np.random.default_rng(3)
    sigma, lam, rho = 0.05, 0.07, 0.3
    step = 0.6 * sigma
    w0 = 0.01 + np.sqrt(1000) * step * rng.normal(size=200_000)
    mc = theory.p_cross(w0, theory.w_star(lam, 0.6, 0.22, rho), step, 400).mean()
    assert abs(float(theory.p_insight_curve(sigma, lam, rho)) - mc) < 2e-3


def test_formulas():
    assert np.isclose(theory.rho(0.0, np.ones(5)), 0.5)
    assert np.isclose(theory.rho(0.0, np.ones(5), plus_minus=True), 1.0)
    assert np.isclose(theory.w_star(0.07, 0.6, 0.22, 0.25), 0.07 / (0.6 * 0.22 * 0.25))
    assert np.isclose(theory.w_star(0.07, 0.6, 0.22, 0.25, "paper"), 0.07 / (0.22 * 0.25))
    assert np.isinf(theory.w_star(0.07, 0.6, 0.22, -0.1))
    assert np.isclose(theory.wc_variance(1000, 0.6, 0.05), 0.9)
    assert np.isclose(theory.mean_abs_wc(1000, 0.6, 0.05), np.sqrt(1.8 / np.pi))
    assert np.isclose(theory.gate_kick_probability(0.07, 0.05), 2 * 0.0807566592)


def test_closed_gate_weight_is_a_noise_random_walk():
    """R1 on the model itself: with the colour input absent the colour weight of the code
    rule receives only the noise alpha xi, Var = n (alpha sigma_xi)^2."""
    rule = model.make_rule("code")
    n, nets = 300, 4000

    def step(p, k):
        xi = {"w": 0.05 * jax.random.normal(k, (nets, 2)),
              "g": 0.05 * jax.random.normal(jax.random.fold_in(k, 1), (nets, 2))}
        zero = jax.tree.map(jnp.zeros_like, p)
        return jax.vmap(lambda q, x: model.update(q, jax.tree.map(lambda a: a[0], zero), x,
                                                  rule, freeze_gates=jnp.array(False)))(
            p, xi), None

    p = {"g": jnp.zeros((nets, 2)), "w": jnp.zeros((nets, 2))}
    with jax.enable_x64(True):
        p, _ = jax.lax.scan(step, p, jax.random.split(jax.random.key(0), n))
    var = float(np.var(np.asarray(p["w"][:, 1])))
    assert abs(var / float(theory.wc_variance(n, 0.6, 0.05)) - 1) < 0.07  # ~3 SE of 4000
