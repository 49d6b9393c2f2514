"""The two-point effective theory: the ODE against the micro-model's exact gradient flow, the
conserved quantity, the fixed point against long integration, the limits, the loss and the link
to deep_linear's lambda-balanced scalar chain.

Every ODE trajectory here comes from one vmapped :func:`solve_hyw` call (a module fixture), so
the file compiles the solver once. The micro-model is integrated independently by scipy's DOP853
(rtol 1e-13) on the autodiff gradient flow of :mod:`learndyn.alignment.micro`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.integrate import solve_ivp

from learndyn.alignment import micro, theory
from learndyn.core.config import ConfigError
from learndyn.deep_linear import theory as dl_theory

DX2, DY2 = 1.0, 0.5
N = 81
SWEEP_H0 = np.array([1e-4, 0.02, 0.5, 3.0, 25.0])
PAIRS = [(1.0, 1.0), (0.5, 2.0)]
LAMS = np.array([-1.0, 0.0, 1.0])
S = float(np.sqrt(DY2 / DX2))


def _micro_start(seed):
    params, task = micro.init(jax.random.PRNGKey(seed), n_x=2, n_h=4, n_y=2, dx2=DX2, dy2=DY2)
    return params, task


def _micro_scipy(seed, rates, kappa, times):
    """The micro-model's gradient flow integrated by scipy (independent of diffrax)."""
    params, task = _micro_start(seed)
    flat, unravel = ravel_pytree(params)
    f = jax.jit(lambda x: ravel_pytree(
        micro.flow(0.0, unravel(x), (task, rates, kappa)))[0])
    sol = solve_ivp(lambda t, x: np.asarray(f(jnp.asarray(x))), (times[0], times[-1]),
                    np.asarray(flat), method="DOP853", t_eval=times, rtol=1e-13, atol=1e-15)
    assert sol.success
    obs = jax.vmap(lambda x: micro.observe(unravel(x), task, kappa))(jnp.asarray(sol.y.T))
    return {k: np.asarray(v) for k, v in obs.items()}


# one time grid for every trajectory: fine over the learning phase, coarse to t = 400
TIMES = np.concatenate([np.linspace(0.0, 30.0, 61), np.geomspace(32.0, 400.0, 20)])
LEARN = slice(0, 61)  # t <= 30


@pytest.fixture(scope="module")
def micro_runs():
    """Two seeds at the unequal rate pair, one in each loss convention (kappa = 1, 1/2)."""
    return [(seed, kappa, _micro_scipy(seed, (1.0, 0.5, 2.0), kappa, TIMES[LEARN]))
            for seed, kappa in ((0, 1.0), (1, 0.5))], TIMES[LEARN]


@pytest.fixture(scope="module")
def odes(micro_runs):
    """One :func:`theory.integrate` call (one vmapped solve): micro starts, the h0 sweep (both
    pairs), the chain starts and a merge case, all as ``half_sum`` rates."""
    runs, _ = micro_runs
    chain = theory.scalar_chain(S, 0.01, LAMS, TIMES, eta=1.0, dx2=DX2)
    rows = []  # (h0, y0, w0, dy2, eta_h, eta_y)
    for _, kappa, obs in runs:
        eh, ey = theory.ode_rates(0.5, 2.0, "half_sum" if kappa == 1.0 else "half_mse")
        rows.append((obs["h"][0], obs["y"][0], obs["w"][0], DY2, eh, ey))
    for eh, ey in PAIRS:
        rows += [(h0, 1e-8, 1e-8, DY2, eh, ey) for h0 in SWEEP_H0]
    rows += [(chain["h"][0, i], chain["y"][0, i], chain["w"][0, i], DY2, 1.0, 1.0)
             for i in range(len(LAMS))]
    rows.append((0.5, 1.0, 1.0, 0.0, 1.0, 1.0))  # dy2 = 0, A_high = -1.5: merge
    h0, y0, w0, dy2, eh, ey = (np.array(c) for c in zip(*rows))
    ds = theory.integrate(h0, y0, w0, dx2=DX2, dy2=dy2, eta_h=eh, eta_y=ey, times=TIMES,
                          rtol=1e-12, atol=1e-14)
    assert ds.h.dims == ("time", "batch_0") and ds.sizes["batch_0"] == len(rows)
    h, y, w = (ds[v].values.T for v in "hyw")
    n_m, n_s = len(runs), len(PAIRS) * len(SWEEP_H0)
    return {
        "micro": tuple(v[:n_m, LEARN] for v in (h, y, w)),
        "sweep": tuple(v[n_m:n_m + n_s].reshape(len(PAIRS), len(SWEEP_H0), -1)
                       for v in (h, y, w)),
        "chain": (h[n_m + n_s:-1], y[n_m + n_s:-1], w[n_m + n_s:-1]), "chain_dl": chain,
        "merge": (h[-1], y[-1], w[-1]),
    }


def test_factor_form_is_the_stated_ode():
    """d(h, y, w)/dt from the integrated (u, g, p) form equals the spec's equations."""
    rng = np.random.default_rng(0)
    args = (0.7, 0.4, 1.3, 0.6)
    for _ in range(5):
        u, g, p = rng.uniform(0.1, 1.5), rng.uniform(0.0, 2.0), rng.normal()
        du = theory.rhs(0.0, (u, g, p), args)
        _, dhyw = jax.jvp(lambda *z: theory.from_factors(*z), (u, g, p), du)
        hyw = theory.from_factors(u, g, p)
        np.testing.assert_allclose(dhyw, theory.rhs_hyw(0.0, hyw, args), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(theory.to_factors(*hyw), (u, g, p), rtol=1e-13)


def test_micro_flow_is_the_stated_gradient_flow():
    """Autodiff of the 1/2 sum loss gives dybar = -2 eta (ybar - ybar*), dD_h = -eta_h D_y^T e
    dx^T/2, dD_y = -eta_y e dh^T/2; kappa scales it."""
    params, task = _micro_start(3)
    params = params._replace(Dy=params.Dy + 0.1)  # off the closure: the formulas hold anyway
    rates = (0.7, 1.3, 0.4)
    dh = params.Dh @ task.dx
    e = params.Dy @ dh - task.dy
    flow = jax.jit(micro.flow)
    for kappa in (1.0, 0.5):
        f = flow(0.0, params, (task, rates, kappa))
        np.testing.assert_allclose(f.ybar, -2 * kappa * 0.7 * (params.ybar - task.ybar),
                                   rtol=1e-13)
        np.testing.assert_allclose(f.Dh, -kappa * 0.5 * 1.3 * np.outer(params.Dy.T @ e, task.dx),
                                   rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(f.Dy, -kappa * 0.5 * 0.4 * np.outer(e, dh), rtol=1e-12,
                                   atol=1e-16)


def test_ode_matches_micro_model(micro_runs, odes):
    """h, y, w of the micro-model's exact gradient flow follow the ODE within 1e-9, in both loss
    conventions (half_mse: the ODE at halved rates); D_y stays along dh."""
    runs, _ = micro_runs
    for i, (_, _, obs) in enumerate(runs):
        for k, name in enumerate("hyw"):
            np.testing.assert_allclose(odes["micro"][k][i], obs[name], rtol=0, atol=1e-9)
        assert np.max(obs["closure"]) < 1e-9
        assert obs["y"][-1] > 0.99 * DY2  # the comparison covers the whole learning curve


def test_conserved_quantity(micro_runs, odes):
    runs, _ = micro_runs
    for i, (_, kappa, obs) in enumerate(runs):
        eh, ey = 0.5 * kappa, 2.0 * kappa
        for h, y in ((obs["h"], obs["y"]), (odes["micro"][0][i], odes["micro"][1][i])):
            c = np.asarray(theory.conserved(h, y, dx2=DX2, eta_h=eh, eta_y=ey))
            assert np.max(np.abs(c - c[0])) <= 1e-9 * max(1.0, abs(c[0]))
            assert np.ptp(y) > 0.1  # not trivially constant
    h, y, _ = odes["sweep"]
    for j, (eh, ey) in enumerate(PAIRS):
        c = np.asarray(theory.conserved(h[j], y[j], dx2=DX2, eta_h=eh, eta_y=ey))
        assert np.max(np.abs(c - c[:, :1]) / np.maximum(1.0, np.abs(c[:, :1]))) <= 1e-9


def test_fixed_point_matches_long_integration(odes):
    h, y, w = odes["sweep"]
    for j, (eh, ey) in enumerate(PAIRS):
        h_inf = np.asarray(theory.final_distance(SWEEP_H0, 1e-8, dx2=DX2, dy2=DY2, eta_h=eh,
                                                 eta_y=ey))
        np.testing.assert_allclose(h[j, :, -1], h_inf, rtol=1e-6)
        np.testing.assert_allclose(y[j, :, -1], DY2, rtol=0, atol=1e-8)
        np.testing.assert_allclose(w[j, :, -1], 0.0, rtol=0, atol=1e-8)
        assert np.all(np.diff(h[j, :, -1]) > 0)  # monotone in h0
        rich = float(theory.rich_limit(dx2=DX2, dy2=DY2, eta_h=eh, eta_y=ey))
        assert abs(h[j, 0, -1] / rich - 1) <= 0.01
        assert abs(h[j, -1, -1] / SWEEP_H0[-1] - 1) <= 0.01
        lazy = float(theory.lazy_limit(SWEEP_H0[-1], dx2=DX2, dy2=DY2, eta_h=eh, eta_y=ey))
        assert abs(h[j, -1, -1] / lazy - 1) <= 1e-4  # the lazy expansion's next order


def test_merge_case_dy2_zero(odes):
    """dy2 = 0 and A_high < 0: the representations merge (h -> 0) and final_distance gives 0."""
    h, y, w = odes["merge"]
    # u = sqrt(h) decays to 0 within the solver's atol (1e-14), so h to ~atol^2
    assert np.all(np.isfinite(h)) and h[-1] < 1e-24 and np.all(h >= 0)
    assert np.all(np.isfinite(y)) and abs(y[-1]) < 1e-20
    assert float(theory.final_distance(0.5, 1.0, dx2=DX2, dy2=0.0, eta_h=1.0, eta_y=1.0)) == 0.0
    # A_high > 0 with dy2 = 0: h_inf = A_high
    assert np.isclose(float(theory.final_distance(2.0, 1.0, dx2=DX2, dy2=0.0, eta_h=1.0,
                                                  eta_y=1.0)), 1.5, rtol=1e-15)


def test_final_distance_formula():
    # sanity value of the spec: equal rates, dx2 = 1, dy2 = 0.5 -> sqrt(0.5)
    assert np.isclose(float(theory.rich_limit(dx2=1.0, dy2=0.5, eta_h=2.0, eta_y=2.0)),
                      0.70710678118654752, rtol=1e-15)
    h0, y0 = np.geomspace(1e-3, 1e3, 13), 0.3
    kw = dict(dx2=1.3, dy2=0.8, eta_h=0.7, eta_y=1.9)
    h = np.asarray(theory.final_distance(h0, y0, **kw))
    a_high = h0 - 0.7 / 1.9 * 1.3 * y0 / h0
    a_low2 = 0.7 / 1.9 * 1.3 * 0.8
    np.testing.assert_allclose(h**2 - a_high * h - a_low2, 0.0, atol=1e-12 * np.max(h**2))
    assert np.all(h > 0) and np.any(a_high < 0) and np.any(a_high > 0)  # both branches
    # the stable branch for A_high << 0 keeps full relative precision
    tiny = float(theory.final_distance(1e-6, 1.0, dx2=1.0, dy2=1e-4, eta_h=1.0, eta_y=1.0))
    assert np.isclose(tiny, 1e-4 * 1e-6, rtol=1e-9)  # ~ A_low^2/|A_high| = 1e-4 / 1e6


def test_loss_formula(micro_runs, odes):
    """Both conventions: the loss from (y, w) and the mean mode equals the micro-model's loss."""
    runs, times = micro_runs
    for i, (_, kappa, obs) in enumerate(runs):
        convention = "half_sum" if kappa == 1.0 else "half_mse"
        _, y, w = (v[i] for v in odes["micro"])
        loss = theory.loss(y, w, dy2=DY2, times=times, eta_mean=1.0,
                           mean_gap0=obs["mean_gap"][0], convention=convention)
        np.testing.assert_allclose(loss, obs["loss"], rtol=0, atol=1e-9)
        assert obs["loss"][0] > 10 * obs["loss"][-1]


def test_scalar_chain_is_deep_linear_lambda_balanced_mode(odes):
    """The ODE from a chain start equals deep_linear's mode solution mapped to (h, y, w)."""
    chain = odes["chain_dl"]
    for k, name in enumerate("hyw"):
        np.testing.assert_allclose(odes["chain"][k], np.asarray(chain[name]).T, rtol=0,
                                   atol=1e-9)
    c = np.asarray(theory.conserved(odes["chain"][0], odes["chain"][1], dx2=DX2, eta_h=1.0,
                                    eta_y=1.0))
    np.testing.assert_allclose(c, np.broadcast_to(-LAMS[:, None], c.shape), atol=1e-9)
    # the fixed point is deep_linear's final representation W1^T W1 -> Lambda - lambda/2
    h_inf = theory.final_distance(chain["h"][0], chain["y"][0], dx2=DX2, dy2=DY2, eta_h=1.0,
                                  eta_y=1.0)
    b6 = [dl_theory.final_representations(np.array([[S]]), lam)["W1tW1"][0, 0] for lam in LAMS]
    np.testing.assert_allclose(h_inf, np.asarray(b6) * DX2, rtol=1e-13)


def test_integrate_errors():
    """Invalid input raises ConfigError before any solve."""
    bad = [dict(h0=0.0), dict(eta_h=-1.0), dict(dy2=np.nan), dict(w0=0.5), dict(y0=-1.0),
           dict(convention="mse"), dict(times=[1.0, 0.0]), dict(solver="euler")]
    for change in bad:
        kw = dict(h0=0.1, y0=1e-4, w0=1e-4, dx2=DX2, dy2=DY2, eta_h=1.0, eta_y=1.0,
                  times=[0.0, 1.0])
        kw.update(change)
        with pytest.raises(ConfigError):
            theory.integrate(kw.pop("h0"), kw.pop("y0"), kw.pop("w0"), **kw)


@pytest.mark.slow  # compiles the reverse-mode program (~10-30 s)
def test_solve_hyw_is_differentiable_and_fails_softly():
    """grad with respect to a rate (for fits) matches finite differences; a diverging solve
    gives NaN, not an error."""
    times = jnp.array([0.0, 2.0])

    def final_h(eta_h):
        return theory.solve_hyw(0.2, 0.01, -0.05, DX2, DY2, eta_h, 1.0, times)[0][-1]

    grad = jax.grad(final_h)(0.8)
    eps = 1e-5
    fd = (final_h(0.8 + eps) - final_h(0.8 - eps)) / (2 * eps)
    assert np.isfinite(grad) and np.isclose(grad, fd, rtol=1e-6)
    assert np.isnan(final_h(1e300))
