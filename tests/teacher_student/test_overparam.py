"""The teacher_student_overparam study: fixed points, laws, SGD runs, failing checks."""

import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.teacher_student_overparam import STUDY, OverparamConfig


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("teacher_student_overparam")


def test_quick_values(quick):
    ds = quick.dataset
    assert ds.eg_theory.dims == ("run", "seed", "time")
    assert set(ds.activation.values) == {"erf", "relu", "linear"}
    assert sorted(set(ds.K_sim.values)) == [2, 3, 4]
    # the ODE from each seed's start follows that seed's SGD run at the end
    late = ds.time >= 300
    assert np.allclose(ds.eg_theory.where(late, drop=True), ds.eg_sim.where(late, drop=True),
                       rtol=0.5)
    # erf first layer: eps* / (lr sigma^2/2pi) close to L + M/sqrt3, growing with K
    unit = ds.eta * 0.01**2 / (2 * np.pi)
    scaled = (ds.erf_floor_theory / unit).sel(eta=0.02).values
    assert np.allclose(scaled, [2 / np.sqrt(3), 1 + 2 / np.sqrt(3), 2 + 2 / np.sqrt(3)],
                       rtol=0.05)
    assert np.allclose(ds.linear_floor_theory, ds.linear_floor_law, rtol=1e-6)
    assert ds.stuck_sim.dtype == bool and not ds.stuck_sim.any()
    assert ds.ode_solved.dtype == bool and ds.ode_solved.all()
    for name in [*ds.data_vars, *ds.coords]:
        assert ds[name].attrs.get("long_name"), name


def test_checks_fail_when_results_are_wrong(quick, recheck):
    ds = quick.dataset
    # a noise term missing a factor: first-layer floors 30% high, both-layer floors flat in K
    result = recheck(STUDY, ds, erf_floor_theory=ds.erf_floor_theory * 1.3,
                     denoising_floor_theory=ds.denoising_floor_theory.copy(
                         data=np.full(3, float(ds.denoising_floor_theory[0]))),
                     linear_floor_theory=ds.linear_floor_theory * (1 + 1e-5),
                     eg_star_sim=ds.eg_star_sim * 1.2)
    for name in ("erf_floor_law", "denoising_lowers_floor", "linear_floor_law",
                 "sgd_law_linear_K2", "ode_vs_sgd_relu_K2"):
        assert not result[name], name
    result = recheck(STUDY, ds, eg_star_theory=ds.eg_star_theory * 1.15)
    assert not result["ode_vs_sgd_linear_K2"] and result["sgd_law_linear_K2"]
    flat = ds.erf_floor_theory.copy(data=np.tile(ds.erf_floor_theory.values[:, :1], 3))
    assert not recheck(STUDY, ds, erf_floor_theory=flat)["erf_floor_grows"]
    shrinking = ds.eg_star_sim.copy(data=ds.eg_star_sim.values[::-1])
    result = recheck(STUDY, ds, eg_star_sim=shrinking)
    assert not result["sgd_grows_erf"] and not result["sgd_grows_relu"]


def test_a_stalled_ode_seed_is_left_out_and_counted(quick, recheck):
    ds = quick.dataset
    r = int(np.flatnonzero((ds.activation.values == "erf") & (ds.K_sim.values == 3))[0])
    solved = ds.ode_solved.copy(data=ds.ode_solved.values.copy())
    solved[r] = False
    theory = ds.eg_star_theory.copy(data=ds.eg_star_theory.values.copy())
    theory[r] = np.nan
    result = recheck(STUDY, ds, ode_solved=solved, eg_star_theory=theory)
    assert not result["ode_solved"] and not result["ode_vs_sgd_erf_K3"]
    assert result["ode_vs_sgd_erf_K2"] and result["ode_vs_sgd_relu_K3"]
    assert recheck(STUDY, ds)["ode_solved"]
    eg = ds.eg_theory.copy(data=ds.eg_theory.values.copy())
    eg[r] = np.nan
    figures = STUDY.figures(ds.assign(eg_theory=eg, eg_star_theory=theory), quick.config)
    assert set(figures) == {"final_error_vs_K", "sgd_runs"}  # drawn without the stalled seed


@pytest.mark.parametrize("values, field", [
    (dict(erf_K=(1, 2)), "erf_K"), (dict(both_K=(3,)), "both_K"),
    (dict(linear_lr=0.6), "linear_lr"), (dict(sigma=-1.0), "sigma"),
    (dict(sgd_activations=("tanh",)), "sgd_activations"), (dict(M=0), "M"),
    (dict(sgd_K=(1, 2)), "sgd_K"), (dict(sgd_lr=0.6), "sgd_lr"),
])
def test_invalid_configs_name_the_field(values, field):
    with pytest.raises(ConfigError, match=field):
        OverparamConfig(**values)


def test_paper_preset_is_valid():
    config = STUDY.make_config("paper")
    assert config.sgd_modes == ("first", "both") and config.sgd_N == 784
