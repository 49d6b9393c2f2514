"""The teacher_student study end to end: quick preset, checks that can fail, bad input."""

import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.teacher_student import STUDY, TeacherStudentConfig, run_batch
from learndyn.teacher_student import online


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("teacher_student")


def test_quick_dataset_layout(quick):
    ds = quick.dataset
    assert list(ds.activation.values) == ["erf", "relu"]
    assert ds.eg_sim.dims == ("activation", "seed", "time") and ds.eg_theory.dims == ds.eg_sim.dims
    assert ds.Q_sim.dims == ("activation", "seed", "time", "student", "student2")
    assert ds.R_theory.dims == ds.R_sim.dims == ("activation", "seed", "time", "student",
                                                 "teacher")
    assert ds.sizes["seed"] == 4 and ds.sizes["time"] == 81
    assert np.allclose(ds.time.values, ds.step.values / 500)
    # the ODE starts from each seed's own initial overlaps
    assert np.allclose(ds.Q_theory.isel(time=0), ds.Q_sim.isel(time=0), atol=1e-12)
    assert np.allclose(ds.R_theory.isel(time=0), ds.R_sim.isel(time=0), atol=1e-12)
    assert np.allclose(ds.eg_theory.isel(time=0), ds.eg_sim.isel(time=0), rtol=1e-10)
    assert float(ds.eg_plateau_theory) == pytest.approx(0.015055, rel=1e-3)
    assert ds.eg_floor_theory.dims == ("activation", "seed")
    for name in [*ds.data_vars, *ds.coords]:
        assert ds[name].attrs.get("long_name"), name
    assert set(quick.figures) == {"eg", "order_parameters"}


def test_checks_fail_when_theory_is_wrong(quick, recheck):
    ds = quick.dataset
    # an ODE 50% too high everywhere (e.g. a dropped factor 2/pi -> 1 in I2 would do worse)
    result = recheck(STUDY, ds, eg_theory=ds.eg_theory * 1.5)
    assert not result["ode_vs_sgd_erf"] and not result["ode_vs_sgd_relu"]
    # an ODE escaping twice as late
    late = ds.eg_theory.interp(time=ds.time / 2.0).transpose(*ds.eg_theory.dims)
    assert not recheck(STUDY, ds, eg_theory=late)["escape_time"]
    # a noise floor 50% off
    result = recheck(STUDY, ds, eg_floor_theory=ds.eg_floor_theory * 1.5)
    assert not result["noise_floor_erf"] and not result["noise_floor_relu"]


def test_checks_fail_without_plateau_or_escape(quick, recheck):
    ds = quick.dataset
    decaying = ds.eg_sym_theory.copy(data=0.7 * np.exp(-ds.time_sym.values / 10.0))
    result = recheck(STUDY, ds, eg_sym_theory=decaying)
    assert not result["plateau_flat"]
    assert not result["symmetric_no_escape"]
    stuck = ds.eg_sim.copy(data=np.maximum(ds.eg_sim.values, float(ds.eg_plateau_theory)))
    assert not recheck(STUDY, ds, eg_sim=stuck)["escaped"]


def test_run_batch_is_run_per_config():
    """Configs differing in shape-keeping fields run as one program, each as if alone."""
    configs = [TeacherStudentConfig(activations=("linear",), N=100, t_max=4.0, num_records=5,
                                    lr=lr, sigma=0.1) for lr in (0.3, 0.5)]
    batch = run_batch(configs, seeds=[0])
    for config, ds in zip(configs, batch):
        alone = STUDY.run(config, seeds=[0])
        assert np.array_equal(alone.eg_sim, ds.eg_sim)
        np.testing.assert_allclose(alone.eg_theory, ds.eg_theory, rtol=1e-12)
    with pytest.raises(ConfigError, match="may differ only in"):
        run_batch([configs[0], configs[1].replace(N=50)], seeds=[0])


@pytest.mark.slow
def test_noise_floor_and_monte_carlo():
    """sigma > 0, K = M = 1 (no plateau): the run ends on the ODE's noise floor (a fixed point
    near the small-lr law); the Monte-Carlo eps_g agrees with the analytic one."""
    config = TeacherStudentConfig(activations=("erf",), N=200, M=1, K=1, lr=1.0, sigma=0.1,
                                  t_max=60.0, num_records=30, dtype="float64",
                                  eg_mc_samples=20_000, t_sym=100.0)
    full = STUDY.run(config, seeds=[0, 1])
    ds = full.sel(activation="erf")
    start = ds.isel(time=0)
    assert np.allclose(start.Q_sim.values, 1.0, atol=0.3)
    assert np.allclose(np.abs(start.R_sim.values), 0, atol=0.3)
    law = 1.0 * 0.1**2 / (2 * np.pi) / np.sqrt(3)
    assert np.allclose(ds.eg_floor_theory.values, law, rtol=0.5)
    result = {c.id: c for c in STUDY.evaluate(full, config)}
    assert result["noise_floor_erf"].passed, result["noise_floor_erf"]
    assert np.allclose(ds.eg_mc_sim.values, ds.eg_sim.values[:, -1], rtol=0.1)


def test_relu_ode_tracks_sgd(recheck):
    """ReLU from small init (w ~ N(0, 1e-6)), K = M = 2, N = 500, lr = 0.5, 2 seeds: the ODE
    (with the quadrature I4) from each seed's own initial overlaps follows SGD through the
    first learning phase onto the plateau (t <= 20) within the study's |log10| 0.15 (measured
    0.06 over 4 seeds; O(1/sqrt N) ~ 5% fluctuations), and both fall by more than 5x. (Later,
    between t ~ 25 and 40, SGD leaves this plateau earlier than the ODE, as for erf.)"""
    config = TeacherStudentConfig(activations=("relu",), sigma=0.0, t_max=20.0, num_records=16)
    ds = STUDY.run(config, seeds=[0, 1])
    assert float(ds.Q_sim.isel(time=0).max()) < 1e-4  # small init
    agree = {c.id: c for c in STUDY.evaluate(ds, config)}["ode_vs_sgd_relu"]
    assert agree.passed and agree.value < 0.1, agree
    for name in ("eg_sim", "eg_theory"):
        assert np.all(ds[name].isel(time=-1) < 0.2 * ds[name].isel(time=0)), name
    ds.attrs["config"] = config.to_json()
    assert not recheck(STUDY, ds, eg_theory=ds.eg_theory * 1.5)["ode_vs_sgd_relu"]


@pytest.mark.parametrize(
    "values, field",
    [(dict(K=0), "K"), (dict(M=0), "M"), (dict(N=0), "N"), (dict(sigma=-0.1), "sigma"),
     (dict(lr=-1.0), "lr"), (dict(activations=("tanh",)), "activations"),
     (dict(activations=("erf", "erf")), "activations"),
     (dict(t_max=1e-4), "t_max"), (dict(num_records=10_000, t_max=1.0), "num_records")],
)
def test_invalid_configs_name_the_field(values, field):
    with pytest.raises(ConfigError, match=field):
        TeacherStudentConfig(**values)


@pytest.mark.parametrize("threads", [2, 3])
def test_seed_groups_in_threads_equal_one_program(threads):
    """Splitting the seeds into groups run in threads gives the one-program numbers."""
    kw = dict(g="erf", N=100, K=2, M=2, train_v=True, dtype="float32", seeds=[3, 0, 5],
              record_at=np.array([0, 50, 333, 700]),
              hyper=dict(lr=0.5, lr2=0.5, sigma=0.1, weight_decay=0.0),
              init_args={k: jnp.asarray(v) for k, v in dict(
                  init_std=1e-3, v_init=1.0, v_init_std=1.0, vstar_value=1.0,
                  vstar_random=False).items()})
    one, split = online.run(**kw, threads=1), online.run(**kw, threads=threads)
    for k in one.values:
        assert np.array_equal(one.values[k], split.values[k]), k
    assert np.array_equal(one.final.nets.w, split.final.nets.w)


def test_paper_preset_is_valid():
    config = STUDY.make_config("paper")
    assert (config.N, config.M, config.K, config.activations) == (784, 2, 2, ("erf",))
