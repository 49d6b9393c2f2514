"""The family's compiled simulation and the ODE beside it: settings batched into one program,
inert padding, activations sharing a program, the closed-form linear ODE."""

import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.core.engine import DivergenceError
from learndyn.teacher_student import online, theory
from learndyn.teacher_student.simulate import Setting, ode_from_simulation, simulate

RECORDS = np.array([0, 7, 161, 163, 333, 500])


def setting(g="erf", **kw):
    values = dict(N=100, M=2, K=2, lr=0.5, sigma=0.1)
    return Setting.make(g, **{**values, **kw})


def test_defaults_resolve_in_one_place():
    s = setting("relu", train_v=True)
    assert (s.lr_v, s.w_std, s.v_std) == (0.5, 1e-3, 1e-3)
    assert setting("erf", train_v=True).v_std == 1.0 and setting("erf").v_std == 0.0
    assert setting(lr_v=0.2).lr_v == 0.2 and setting().has_symmetric_point
    assert not setting(K=3).has_symmetric_point


def test_a_seed_runs_the_same_alone_or_with_others_and_whatever_the_records():
    """A seed's inputs depend only on its key and the step: not on the other seeds run beside
    it, nor on where records cut the draws (160 steps per draw at N = 100)."""
    alone = simulate([setting()], [0], record_at=np.array([0, 250, 500]))[0]
    pair = simulate([setting()], [0, 1], record_at=np.array([0, 250, 500]))[0]
    assert np.array_equal(alone.Q_sim.sel(seed=0), pair.Q_sim.sel(seed=0))
    assert not np.array_equal(pair.Q_sim.sel(seed=0), pair.Q_sim.sel(seed=1))
    other = simulate([setting()], [0], record_at=RECORDS)[0]
    assert np.array_equal(other.Q_sim.isel(time=-1), alone.Q_sim.isel(time=-1))


def test_settings_and_activations_share_one_program_with_the_same_numbers():
    """A setting's numbers do not depend on the settings batched beside it (same width),
    whatever their rates or activations."""
    alone = [simulate([s], [3], record_at=RECORDS)[0]
             for s in (setting("relu"), setting("erf", lr=0.3))]
    batch = simulate([setting("relu"), setting("erf", lr=0.3), setting("linear")], [3],
                     record_at=RECORDS)
    for a, b in zip(alone, batch):
        assert np.array_equal(a.Q_sim, b.Q_sim) and np.array_equal(a.eg_sim, b.eg_sim)


@pytest.mark.parametrize("g", ["erf", "relu", "linear"])
def test_padded_students_are_inert(g):
    """Switched-off units of a wide program stay at w = v = 0 (also with v trained), so the
    recorded overlaps are the narrow student's."""
    kw = dict(g=[g, g], N=50, K=3, M=2, train_v=True, dtype="float64", seeds=[0],
              record_at=np.array([0, 100, 400]), batched=True,
              hyper={k: [0.5, 0.5] for k in ("lr", "lr2")} | dict(sigma=[0.1, 0.1],
                                                                  weight_decay=[0.1, 0.1]),
              init_args={k: jnp.asarray(v) for k, v in dict(
                  init_std=[1.0, 1.0], v_init=[1.0, 1.0], v_init_std=[1.0, 1.0],
                  vstar_value=[1.0, 1.0], vstar_random=[False, False],
                  active=[[1, 0, 0], [1, 1, 1]]).items()})
    nets = online.run(**kw).final.nets
    assert np.all(nets.w[0, :, 1:] == 0) and np.all(nets.v[0, :, 1:] == 0)
    assert np.all(nets.w[0, :, 0] != 0) and np.all(nets.w[1] != 0)


def test_padded_ode_lanes_are_inert():
    """The ODE of a narrow student inside a wide solve equals its own solve."""
    pair = [setting("erf", K=1), setting("erf", K=3)]
    sims = simulate(pair, [0], record_at=RECORDS)
    assert [sim.sizes["student"] for sim in sims] == [1, 3]
    padded = ode_from_simulation(pair, sims)  # the K = 1 lane inside a width-3 solve
    single = ode_from_simulation(pair[:1], sims[:1])
    np.testing.assert_allclose(padded[0], single[0], rtol=1e-7)


def test_linear_closed_form_is_the_ode():
    """The exact perceptron reduction of first-layer linear students equals the full ODE."""
    rng = np.random.default_rng(0)
    w, ws = 1e-3 * rng.normal(size=(3, 100)), rng.normal(size=(2, 100))
    Q, R, T = w @ w.T / 100, w @ ws.T / 100, ws @ ws.T / 100
    times = np.linspace(0.0, 20.0, 11)
    ode = theory.integrate(Q, R, T, np.ones(3), np.ones(2), lr=0.3, sigma=0.2, times=times,
                           activation="linear")
    closed = theory.linear_error(ode.eg.values[0], 3, 0.3, 0.2, times)
    np.testing.assert_allclose(closed, ode.eg.values, rtol=1e-8)
    assert closed[-1] == pytest.approx(theory.linear_floor_law(3, 0.3, 0.2), rel=1e-3)


def test_diverging_learning_rate_names_the_step():
    with pytest.raises(DivergenceError, match="step") as info:
        simulate([setting("linear", N=50, lr=5.0, init_std=1.0)], [0],
                 record_at=np.array([0, 250, 500]))
    assert info.value.step in range(1, 501)


def test_every_variable_is_described():
    ds = simulate([setting()], [0], record_at=RECORDS, eg_mc_samples=1000)[0]
    for name in [*ds.data_vars, *ds.coords]:
        assert ds[name].attrs.get("long_name"), name
    assert ds.time.attrs["units"] == "steps/N" and "simulation" in ds.eg_sim.attrs["long_name"]


def test_step_budget_fails_one_lane_alone():
    """With max_steps the lanes are solved one by one: a lane that needs more steps than the
    budget comes back NaN, the other equals its unbudgeted (vmapped, raising) solve."""
    from learndyn.teacher_student.simulate import integrate_lanes

    Q0 = np.tile(np.array([[0.5, 0.1], [0.1, 0.4]]), (2, 1, 1))
    R0 = np.tile(np.array([[0.1, 0.0], [0.0, 0.05]]), (2, 1, 1))
    T, v0, vstar = np.tile(np.eye(2), (2, 1, 1)), np.ones((2, 2)), np.ones((2, 2))
    params = np.tile([0.5, 0.5, 0.0, 0.0], (2, 1))
    times = np.stack([np.linspace(0.0, 1.0, 5), np.linspace(0.0, 2000.0, 5)])
    args = [jnp.asarray(x) for x in (Q0, R0, T, v0, vstar, params, times)] + [jnp.zeros(2)]
    _, eg = integrate_lanes(*args, activation="erf", train_v=False, max_steps=20)
    _, short = integrate_lanes(*(a[:1] for a in args), activation="erf", train_v=False)
    eg = np.asarray(eg)
    assert np.isnan(eg[1]).all()
    np.testing.assert_allclose(eg[0], np.asarray(short)[0], rtol=1e-12)
