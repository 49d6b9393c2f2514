"""The controlled dynamics and value against independent references (float64).

Every control type is the uncontrolled deep_linear flow at its neutral value; dV/dc from
reverse mode matches central finite differences; the single neuron matches its closed forms;
learning-rate control is a time warp of the uncontrolled flow; on the hierarchy the modes follow
deep_linear's sigmoids; checkpointing changes nothing.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import learndyn.learning_effort as le
from learndyn import ConfigError
from learndyn.deep_linear import theory as dl
from learndyn.learning_effort import controls, data

RNG = np.random.default_rng(0)


def _weights(task, hidden, scale=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((hidden, task.n_in)),
            scale * rng.standard_normal((task.n_out, hidden)))


def _problems(n=40):
    """One small problem of every control type (random initial weights, lam > 0)."""
    cg = data.correlated_gaussians()
    h = data.semantic_hierarchy(3)
    two = data.prototype_tasks([(0, 1), (1, 7)])
    pairs = [data.prototype_pair(0, 1), data.prototype_pair(1, 7)]
    common = dict(gamma=0.9, dt=0.01, n_steps=n)
    groups = np.eye(2)
    return {
        "single_neuron": le.single_neuron_problem(w0=0.2, **common),
        "gain": le.gain_problem(cg, *_weights(cg, 4), lam=0.05, **common),
        "continual": le.continual_problem(cg, data.correlated_gaussians((-2, 2), p=0.2),
                                          *_weights(cg, 4), switch_every=15, **common),
        "learning_rate": le.learning_rate_problem(h, *_weights(h, 5), lam=0.05, **common),
        "engagement_active": le.engagement_problem(two, *_weights(two, 3, 0.1), groups,
                                                   lam=0.05, **common),
        "engagement_attention": le.engagement_problem(two, *_weights(two, 3, 0.1), groups,
                                                      variant="attention", lam=0.05, **common),
        "category": le.category_problem(h, *_weights(h, 5), lam=0.05, **common),
        "maml": le.maml_problem(pairs, *_weights(pairs[0], 3, 0.1), n_inner=n, lam=0.05,
                                dt=0.01),
    }


PROBLEMS = _problems()


def _random_control(p, seed=1):
    rng = np.random.default_rng(seed)
    z = le.neutral_control(p)
    lo, hi = float(p.lo), float(p.hi)
    if isinstance(z, tuple):
        return tuple(rng.uniform(max(lo, -0.4), min(hi, 0.4), a.shape) if not p.init_control
                     else a + 0.05 * rng.standard_normal(a.shape) for a in z)
    return rng.uniform(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), z.shape)


def _stats0(p):
    return jax.tree.map(lambda a: jnp.asarray(a)[0], p.stats)


@pytest.mark.parametrize("name", [k for k in PROBLEMS if k not in ("single_neuron", "maml")])
def test_neutral_control_is_deep_linear_flow(name):
    p = PROBLEMS[name]
    ct, s, prm = p.control_type, _stats0(p), jax.tree.map(jnp.asarray, p.params)
    w = tuple(jnp.asarray(a) + 0.1 for a in p.w0)
    c = jax.tree.map(lambda a: jnp.asarray(a)[0], le.neutral_control(p))
    want = dl.flow_field(*w, s.sigma_yx, s.sigma_x, lam=prm["lam"])
    for got, ref in zip(ct.field(w, c, s, prm), want):
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    ref = dl.population_loss(*w, s.sigma_yx, s.sigma_y, s.sigma_x, lam=prm["lam"])
    assert abs(float(ct.loss(w, c, s, prm)) - float(ref)) <= 1e-12


def test_single_neuron_neutral_is_one_weight_flow():
    p = PROBLEMS["single_neuron"]
    s, prm = _stats0(p), jax.tree.map(jnp.asarray, p.params)
    w = jnp.asarray(0.37)
    sx, syx, sy = (float(a[0, 0]) for a in s)
    lam = float(prm["lam"])
    assert abs(float(controls.SINGLE_NEURON.field(w, 0.0, s, prm))
               - (syx - sx * 0.37 - lam * 0.37)) <= 1e-14
    loss = 0.5 * (sy - 2 * 0.37 * syx + 0.37**2 * sx) + 0.5 * lam * 0.37**2
    assert abs(float(controls.SINGLE_NEURON.loss(w, 0.0, s, prm)) - loss) <= 1e-14


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_gradient_matches_finite_differences(name):
    """dV/dc at >= 5 random entries within 1e-5 relative (central differences, h = 1e-6)."""
    p = PROBLEMS[name]
    c = _random_control(p)
    _, grad = le.value_and_grad(p, c)
    leaves = list(c) if isinstance(c, tuple) else [c]
    grads = list(grad) if isinstance(grad, tuple) else [grad]
    rng = np.random.default_rng(2)
    h = 1e-6
    for _ in range(6):
        i = int(rng.integers(len(leaves)))
        idx = tuple(int(rng.integers(d)) for d in leaves[i].shape)
        vals = []
        for sign in (1, -1):
            moved = [a.copy() for a in leaves]
            moved[i][idx] += sign * h
            vals.append(le.value(p, tuple(moved) if isinstance(c, tuple) else moved[0]))
        fd = (vals[0] - vals[1]) / (2 * h)
        g = float(grads[i][idx])
        assert abs(fd - g) <= 1e-5 * max(abs(g), 1e-3 * float(p.dt)), (idx, fd, g)


def test_checkpointed_scan_equals_plain_scan():
    p = PROBLEMS["gain"]
    c = _random_control(p)
    v0, g0 = le.value_and_grad(p, c)
    v1, g1 = le.value_and_grad(p.replace(checkpoint=7), c)  # 40 steps: chunks of 7, padded
    assert abs(float(v0) - float(v1)) <= 1e-13
    for a, b in zip(g0, g1):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-16)


def test_single_neuron_closed_forms():
    p = le.single_neuron_problem(n_steps=600, dt=1e-3, w0=0.1)
    for g in (0.0, 0.3):
        ws = le.trajectory(p, np.full(600, g))
        discrete, flow = le.reductions.single_neuron_constant(p, g)
        assert np.max(np.abs(ws - discrete[:600])) <= 1e-12
        assert np.max(np.abs(ws[1:] / flow[1:600] - 1)) <= 1e-2
    g = 0.5 * np.exp(-np.arange(600) * 1e-3 / 0.1)  # a decaying schedule
    ws = le.trajectory(p, g)
    assert np.max(np.abs(ws[1:] / le.reductions.single_neuron_flow(p, g)[1:600] - 1)) <= 1e-2
    # the piecewise-exact flow against adaptive integration of the continuous ODE
    from scipy.integrate import solve_ivp
    s = data.two_gaussians(2.0, 1.0)
    sol = solve_ivp(lambda t, w: (1 + g[min(int(t / 1e-3), 599)]) * s.sigma_yx[0, 0]
                    - ((1 + g[min(int(t / 1e-3), 599)]) ** 2 * s.sigma_x[0, 0] + 0.1) * w,
                    (0, 0.6), [0.1], t_eval=[0.3, 0.6], rtol=1e-10, atol=1e-12, max_step=1e-3)
    exact = le.reductions.single_neuron_flow(p, g)
    np.testing.assert_allclose(sol.y[0], exact[[300, 600]], rtol=1e-6)


def test_learning_rate_control_is_a_time_warp():
    """The controlled unroll is the uncontrolled field integrated with steps dt (1 + u_k)
    (to rounding) and, refined to dt = 1e-3, the adaptive uncontrolled flow at the warped
    times (within 1e-2); the un-warped times miss it."""
    task = data.semantic_hierarchy(3)
    p = le.learning_rate_problem(task, *_weights(task, 6, 0.2), lam=0.01, dt=2e-3,
                                 n_steps=1500, gamma=0.99)
    u = 0.8 * np.exp(-np.arange(1500) / 300.0) - 0.3
    exact, flow = le.reductions.time_warp_errors(p, u, fine_dt=1e-3)
    assert exact <= 1e-12 and flow <= 1e-2
    tau = le.reductions.warped_times(p, u)
    assert abs(tau[-1] - 2e-3 * np.sum(1 + u)) <= 1e-12
    t = p.times[::50]
    unwarped = le.reductions.uncontrolled_flow_loss(p, t)
    assert np.max(np.abs(le.loss_curve(p, u)[::50] / unwarped - 1)) > 1e-2


def test_hierarchy_modes_follow_saxe_sigmoids():
    """Sigma_x = I/P: c u_alpha (c = 1/P) follows u(t) = s/(1 + (s/u0 - 1) e^{-2st}) within
    1e-3 s_1 (Euler at dt = 1e-3); a coarser step misses by more (the check can fail)."""
    task = data.semantic_hierarchy(3)
    assert le.reductions.mode_error(task, hidden=6) <= 1e-3
    assert le.reductions.mode_error(task, hidden=6, dt=3e-2, n_steps=200) > 1e-3
    with pytest.raises(ConfigError, match="Sigma_x"):
        le.reductions.mode_error(data.correlated_gaussians(), hidden=4)


def test_value_is_the_discounted_riemann_sum():
    p = PROBLEMS["engagement_active"]
    c = _random_control(p)
    L, C = le.loss_curve(p, c), le.cost_curve(p, c)
    t = np.arange(p.n_steps) * 0.01
    want = 0.01 * np.sum(0.9**t * (-L - C))
    assert abs(le.value(p, c) - want) <= 1e-12 * abs(want)
    assert np.allclose(C, 0.1 * np.sum(c**2, axis=1), rtol=1e-13)


def test_maml_value_averages_tasks_from_the_shared_init():
    p = PROBLEMS["maml"]
    z = _random_control(p)
    per = le.task_losses(p, z)
    assert per.shape == (p.n_steps, 2)
    np.testing.assert_allclose(le.loss_curve(p, z), per.mean(1), rtol=1e-14)
    assert abs(le.value(p, z) + 0.01 * per.mean(1).sum()) <= 1e-12
