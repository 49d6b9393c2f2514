"""Theory of the task-abstraction family against the simulated network (float64)."""

import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.core.engine import simulate
from learndyn.task_abstraction import data, model, observables, theory
from learndyn.task_abstraction import simulate as tsim

FLEX = dict(tau_w=1.3, tau_c=0.03, lam_nonneg=0.0909, lam_l1=0.909, lam_l2=0.0)


def _run(tasks, plan, specs, *, steps, n_paths=2, offset=None, c_init=None, init_scale=0.01,
         seeds=(0,), gradient="population"):
    d_out, d_in = tasks.maps.shape[1:]
    init, step, observe = model.make_trainer("gated", n_paths, d_in, d_out, gradient, 200,
                                             "global", "float64")
    args = tsim.build_args(tasks, plan, specs, thetas=(0.1,), init_scale=init_scale,
                             gate_init=0.5)
    if offset is not None:
        args["W_offset"] = jnp.asarray(np.stack([offset] * len(specs)))
        args["c_init"] = jnp.asarray(np.stack([c_init] * len(specs)))
    rec = simulate(init, step, observe, seeds=list(seeds), record_at=steps, args=args,
                   batched=True)
    return {k: np.asarray(v) for k, v in rec.values.items()}, rec.final


@pytest.fixture(scope="module")
def flexible_two_blocks():
    tasks = data.make_tasks(2, 20, 10, seed=0)
    plan = data.block_plan("A_B", 2, 2)
    spec = tsim.RunSpec(**FLEX, n_block=1000, dt=1e-3)
    steps = np.arange(2001)
    values, final = _run(tasks, plan, [spec], steps=steps, seeds=(0, 1))
    return tasks, plan, spec, values, final


def _reduced(tasks, plan, spec, values, seed, fn=theory.reduced_map, **kw):
    w0, c0 = values["w"][0, seed, 0], values["gates"][0, seed, 0]
    G0 = theory.project_gram(w0, values["gram"][0, seed, 0], tasks.overlap)
    return fn(w0, c0, G0, overlap=tasks.overlap, tau_w=spec.tau_w, tau_c=spec.tau_c,
              dt=spec.dt, lam=spec.lam, coords=tasks.coords, plan=plan, n_block=spec.n_block,
              num_steps=2000, **kw)


def test_reduced_map_reproduces_the_population_simulation(flexible_two_blocks):
    """same dt, float64, 2 blocks of the flexible config: < 1e-8 relative."""
    tasks, plan, spec, values, _ = flexible_two_blocks
    for seed in range(2):
        th = _reduced(tasks, plan, spec, values, seed)
        for sim, red in ((values["loss"][0, seed], th["loss"]),
                         (values["gates"][0, seed], th["c"]), (values["w"][0, seed], th["w"])):
            assert np.max(np.abs(sim - red)) / np.max(np.abs(sim)) < 1e-8


def test_reduced_flow_is_the_small_dt_limit(flexible_two_blocks):
    """the map at dt = 1e-3 is within 1% of the flow (RK4)."""
    tasks, plan, spec, values, _ = flexible_two_blocks
    mp = _reduced(tasks, plan, spec, values, 0)
    flow = _reduced(tasks, plan, spec, values, 0, fn=theory.reduced_flow, substeps=4)
    assert np.max(np.abs(mp["loss"] / flow["loss"] - 1)) < 0.01
    assert np.max(np.abs(mp["c"] - flow["c"])) < 0.01
    # and RK4 has converged: 4 vs 8 substeps agree closely
    finer = _reduced(tasks, plan, spec, values, 0, fn=theory.reduced_flow, substeps=8)
    assert np.max(np.abs(finer["loss"] / flow["loss"] - 1)) < 1e-8


def test_in_loop_time_to_threshold_matches_the_recorded_loss(flexible_two_blocks):
    tasks, plan, spec, values, final = flexible_two_blocks
    ttt = np.asarray(final["ttt"])[0, :, :, 0]  # (seed, block)
    recomputed = observables.first_crossing(values["loss"][0], 1000, 2, 0.1, 1e-3)
    np.testing.assert_allclose(ttt, recomputed, atol=1e-12)


def _conservation(lam):
    tasks = data.make_tasks(2, 20, 10, seed=1)
    plan = data.block_plan("A_B", 5, 2)
    spec = tsim.RunSpec(1.3, 0.3, *lam, n_block=10_000, dt=1e-4)
    steps = np.arange(0, 50_001, 500)
    values, _ = _run(tasks, plan, [spec], steps=steps, init_scale=0.01)
    return spec, values


def test_conservation_without_regulariser():
    """lam = 0, population mode, dt = 1e-4, 5 time units: every Q_p drifts by
    less than 1e-3 relative."""
    spec, values = _conservation((0.0, 0.0, 0.0))
    q = values["conserved"][0, 0]  # (time, path); work = 0
    norms = np.diagonal(values["gram"][0, 0], axis1=-2, axis2=-1)
    assert np.max(np.abs(q[-1] - q[0]) / np.abs(q[0])) < 1e-3
    assert np.all(np.max(norms, axis=0) > 100 * np.min(norms, axis=0))  # the weights grew


def test_conservation_with_regulariser_matches_the_work():
    """With lam > 0, the change of Q_p matches int 2 c dR/dc dt to 1e-3 relative."""
    spec, values = _conservation((0.5, 2.5, 0.3))
    gates = values["gates"][0, 0]
    norms = np.diagonal(values["gram"][0, 0], axis1=-2, axis2=-1)
    q = spec.tau_w * norms - spec.tau_c * gates**2
    work = q - values["conserved"][0, 0]
    dq, dwork = q[-1] - q[0], work[-1] - work[0]
    assert np.all(np.abs(dwork) > 0.05 * np.abs(q[0]))  # the regulariser did work
    assert np.max(np.abs(dq - dwork) / np.abs(dwork)) < 1e-3


def _toy(tau_cs, tau_w=1.0, t_end=5.0, dt=1e-4):
    """The paper's toy: scalar input, y = sum_p c^p w^p in R^2, modules in place
    (w^1 = e_1, w^2 = e_2), c = (1, 0), trained on e_2; population gradients, lam = 0."""
    tasks = data.make_tasks(2, 1, 2, mode="toy")
    n = int(round(t_end / dt))
    plan = np.array([1], np.int32)
    specs = [tsim.RunSpec(tau_w, tc, n_block=n, dt=dt) for tc in tau_cs]
    steps = np.arange(0, n + 1, 5)
    values, _ = _run(tasks, plan, specs, steps=steps, offset=tasks.base,
                     c_init=np.array([1.0, 0.0]), init_scale=0.0)
    return steps * dt, values


def test_symmetric_switch_within_block_relation():
    """min wbar_eff within 2% of sqrt(1 - tau_c/(2 tau_w)); the gate difference
    crosses 0 within [1.0, 1.3] x tau_c ln 2; at tau_c = tau_w the old module is damaged >= 4x
    more than at tau_c = 0.1 tau_w."""
    ratios = (0.1, 0.316, 1.0)
    t, values = _toy(ratios)
    drops = []
    for i, r in enumerate(ratios):
        w = values["w"][i, 0]  # (time, path, teacher); S = 1
        c = values["gates"][i, 0]
        wbar_eff = np.sqrt(np.sum(w**2, axis=(1, 2)) - 1.0)
        cbar = c[:, 0] - c[:, 1]
        cross = t[np.argmax(cbar < 0)]
        drops.append((w[0, 0, 0] - w[0, 0, 1]) - np.min(w[:, 0, 0] - w[:, 0, 1]))
        if r < 1:
            assert abs(wbar_eff.min() / theory.symmetric_wbar(0.0, r, 1.0) - 1) < 0.02
            assert cross / (r * np.log(2)) == pytest.approx(1.15, abs=0.15)
            # the exact relation (conservation summed over paths) holds all along
            pred = 2.0 + r * (np.sum(c**2, axis=1) - 1.0)
            np.testing.assert_allclose(np.sum(w**2, axis=(1, 2)), pred, atol=3e-3 * r)
    assert drops[2] >= 4 * drops[0]


def test_switching_law_with_fixed_modules():
    """Modules in place and frozen (tau_w huge), gates one-hot on the old task: the loss is
    S exp(-2 S t/tau_c) and reaches theta at tau_c/(2S) ln(S/theta)."""
    tasks = data.make_tasks(2, 20, 10, seed=2)
    S, tau_c, dt = tasks.overlap, 0.03, 1e-5
    plan = np.array([1], np.int32)
    spec = tsim.RunSpec(1e9, tau_c, n_block=20_000, dt=dt)
    steps = np.arange(0, 20_001, 10)
    values, final = _run(tasks, plan, [spec], steps=steps, offset=tasks.base,
                         c_init=np.array([1.0, 0.0]), init_scale=0.0)
    t = steps * dt
    np.testing.assert_allclose(values["loss"][0, 0], theory.switch_loss(t, tau_c, S),
                               rtol=2e-3, atol=1e-9)
    t_theta = float(theory.switch_time(tau_c, S, 0.1))
    assert t_theta == pytest.approx(0.0483, abs=1e-4)
    assert float(final["ttt"][0, 0, 0, 0]) == pytest.approx(t_theta, rel=2e-3)


def test_symmetric_law_and_switch_time_values():
    assert theory.symmetric_wbar(0.0, 0.1, 1.0) == pytest.approx(np.sqrt(0.95))
    assert theory.symmetric_wbar(1.0, 0.5, 1.0) == pytest.approx(1.0)
    assert theory.switch_time(0.03, 0.5, 0.1) == pytest.approx(0.03 * np.log(5))


def test_fully_connected_control_conserves_its_layer_imbalance():
    """tau_w1 W1 W1^T - tau_w2 W2^T W2 is constant under the flow (lam = 0; dt = 1e-4)."""
    tasks = data.make_tasks(2, 6, 3, seed=0)
    plan = data.block_plan("A_B", 2, 2)
    spec = tsim.RunSpec(0.06, 0.01, n_block=10_000, dt=1e-4)
    init, step, observe = model.make_trainer("fully_connected", 2, 6, 3, "population", 200,
                                             "global", "float64")
    args = tsim.build_args(tasks, plan, [spec], thetas=(0.1,), init_scale=0.3, gate_init=0.5)
    rec = simulate(init, step, observe, seeds=[0], record_at=np.array([0, 9_999, 20_000]),
                   args=args, batched=True)
    Q = np.asarray(rec.values["conserved"])[0, 0]
    loss = np.asarray(rec.values["loss"])[0, 0]
    assert loss[1] < 0.1 * loss[0]  # it learned
    assert np.linalg.norm(Q[-1] - Q[0]) < 1e-3 * np.linalg.norm(Q[0])


def test_reference_lambda_mapping():
    """The worked values of the paper's settings: flexible (0.1; 1, 10, L2_W 0), sweeps
    (0.3; 1, 5), subtask (0.025; 1, L2 10)."""
    np.testing.assert_allclose(model.reference_lambdas(0.1, 1, 10, 0), (0.0909, 0.909, 0),
                               atol=1e-4)
    np.testing.assert_allclose(model.reference_lambdas(0.3, 1, 5), (0.5, 2.5, 0))
    np.testing.assert_allclose(model.reference_lambdas(0.025, 1, 0, 10), (0.0227, 0, 0.0227),
                               atol=1e-4)
