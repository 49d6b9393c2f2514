"""The deep_linear study end to end: quick preset, discretisation order, checks that can fail."""

import numpy as np
import pytest

import learndyn
from learndyn.core.config import ConfigError
from learndyn.core.engine import DivergenceError
from learndyn.studies.deep_linear import STUDY, DeepLinearConfig


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("deep_linear")


def test_quick_aligned_amplitude_error(quick):
    """Spec: aligned init, max_t |u_sim - u_theory| <= 0.02 s_1 at eta = 0.002."""
    ds = quick.dataset.sel(run=["aligned_D2", "aligned_D3"])
    err = float(np.abs(ds.mode_strength_sim - ds.mode_strength_theory).max())
    assert err <= 0.02 * 3.0


def test_random_init_check_can_fail(quick, recheck):
    ds = quick.dataset
    late = ds.t_half_sim.where(ds.init != "random", ds.t_half_sim * 1.15)
    assert not recheck(STUDY, ds, t_half_sim=late)["half_times_random_D2"]


def test_quick_dataset_layout(quick):
    ds = quick.dataset
    assert list(ds.run.values) == ["aligned_D2", "aligned_D3", "random_D2"]
    assert ds.mode_strength_sim.dims == ("run", "seed", "time", "mode")
    assert ds.mode_strength_theory.dims == ds.mode_strength_sim.dims
    assert ds.loss_sim.dims == ("run", "seed", "time")
    assert ds.sizes["seed"] == 4 and ds.sizes["time"] == 200
    assert np.allclose(ds.time.values, ds.step.values * 0.002)
    assert np.allclose(ds.s.values, [3, 2, 1, 0.5])
    assert ds.attrs["study"] == "deep_linear"
    assert set(quick.figures) == {"mode_strengths", "loss"}
    assert all(p.stat().st_size > 10_000 for p in quick.figures.values())
    for name in ds.variables:  # the dataset describes itself
        assert ds[name].attrs.get("long_name"), name
    assert ds.time.attrs["units"] == "τ" and ds.step.attrs["units"] == "steps"


def test_quick_run_is_cached(quick):
    again = learndyn.run("deep_linear", preset="quick", out=quick.path)
    assert again.cached
    assert again.dataset.equals(quick.dataset)


def _aligned_error(lr: float) -> float:
    config = DeepLinearConfig(depths=(2,), random_init=False, lr=lr, t_max=12.0, num_records=100)
    ds = STUDY.run(config, seeds=[0])
    err = np.abs(ds.mode_strength_sim - ds.mode_strength_theory).max()
    return float(err)


def test_gradient_descent_error_is_first_order_in_lr():
    """Euler discretisation of the flow: halving eta halves the error (ratio in [1.6, 2.4])."""
    ratio = _aligned_error(0.004) / _aligned_error(0.002)
    assert ratio == pytest.approx(2.0, abs=0.4)


def test_checks_fail_when_theory_is_wrong(quick, recheck):
    ds = quick.dataset
    # a theory that learns 20% too slowly: shift the theory curves in time
    slow = ds.mode_strength_theory.interp(time=ds.time / 1.2).fillna(0.0)
    result = recheck(STUDY, ds, mode_strength_theory=slow.transpose(*ds.mode_strength_theory.dims))
    assert not result["time_shift_aligned_D2"]
    assert not result["time_shift_aligned_D3"]


def test_checks_fail_when_order_or_stages_are_wrong(quick, recheck):
    ds = quick.dataset
    reversed_halves = ds.t_half_sim.copy(data=ds.t_half_sim.values[..., ::-1])
    result = recheck(STUDY, ds, t_half_sim=reversed_halves)
    assert not result["modes_in_order"]
    smooth = ds.loss_sim.copy(data=np.exp(-np.broadcast_to(ds.time.values, ds.loss_sim.shape)))
    result = recheck(STUDY, ds, loss_sim=smooth)
    assert not result["loss_stages"]


def test_half_time_formula_check_can_fail(quick, recheck):
    ds = quick.dataset
    result = recheck(STUDY, ds, t_half_sim=ds.t_half_sim * 1.05)
    assert not result["half_time_formula"]


@pytest.mark.parametrize(
    "values, field",
    [
        (dict(n_hidden=3), "n_hidden"),
        (dict(u0=0.6), "u0"),
        (dict(num_records=10_000, t_max=1.0), "num_records"),
        (dict(depths=(2, 2)), "depths"),
        (dict(lr=0.0), "lr"),
        (dict(dataset="images"), "dataset"),
    ],
)
def test_invalid_configs_name_the_field(values, field):
    with pytest.raises(ConfigError, match=field):
        config = DeepLinearConfig(**values)
        STUDY.run(config, seeds=[0])


def test_diverging_learning_rate_names_the_step():
    config = DeepLinearConfig(depths=(2,), random_init=False, lr=1.0, t_max=200.0,
                              num_records=20)
    with pytest.raises(DivergenceError, match="step") as info:
        STUDY.run(config, seeds=[0])
    assert info.value.step in range(1, 201)


def test_paper_preset_holds_published_parameters():
    config = STUDY.make_config("paper")
    assert (config.dataset, config.levels, config.n_features, config.n_hidden) == (
        "hierarchy", 5, 1000, 32)
    assert config.flip_prob == 0.1 and config.depths == (2, 3, 4)
