"""The teacher_student_overparam study: fixed points, laws, the linear SGD run, failing checks."""

import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.teacher_student_overparam import STUDY, OverparamConfig


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("teacher_student_overparam")


def test_quick_values(quick):
    ds = quick.dataset
    # the ODE from each seed's start follows that seed's SGD run (linear, N = 500)
    late = ds.time >= 100
    assert ds.eg_theory.dims == ("run", "seed", "time")
    assert np.allclose(ds.eg_theory.where(late, drop=True), ds.eg_sim.where(late, drop=True),
                       rtol=0.5)
    # erf first layer: eps* / (lr sigma^2/2pi) close to L + M/sqrt3, growing with K
    unit = ds.eta * ds.sigma**2 / (2 * np.pi)
    scaled = (ds.eg_star_theory_erf / unit).sel(eta=0.02).values
    assert np.allclose(scaled, [2 / np.sqrt(3), 1 + 2 / np.sqrt(3), 2 + 2 / np.sqrt(3)],
                       rtol=0.05)
    assert np.allclose(ds.eg_star_theory_linear, ds.eg_star_law_linear, rtol=1e-6)
    assert ds.stuck_sim.dtype == bool and not ds.stuck_sim.any()


def test_checks_fail_when_results_are_wrong(quick, recheck):
    ds = quick.dataset
    # a noise term missing a factor: first-layer floors 30% high, both-layer floors flat in K
    result = recheck(STUDY, ds, eg_star_theory_erf=ds.eg_star_theory_erf * 1.3,
                     eg_star_theory_both=ds.eg_star_theory_both.copy(
                         data=np.full(2, float(ds.eg_star_theory_both[0]))),
                     eg_star_theory_linear=ds.eg_star_theory_linear * (1 + 1e-5),
                     eg_star_sim=ds.eg_star_sim * 1.2)
    for name, passed in result.items():
        if name.startswith(("erf first layer: max |", "erf both layers: eps*",
                            "linear first layer: max", "SGD linear")):
            assert not passed, name
    result = recheck(STUDY, ds, eg_star_theory_sim=ds.eg_star_theory_sim * 1.15)
    assert not result["sgd_linear-first-K2_eps_ode_eps_sim"]
    assert result["sgd_linear-first-K2_eps_sim_law_1"]
    flat = ds.eg_star_theory_erf.copy(data=np.tile(ds.eg_star_theory_erf.values[:, :1], 3))
    result = recheck(STUDY, ds, eg_star_theory_erf=flat)
    assert not result["erf_first_layer_min_eps"]


@pytest.mark.parametrize("values, field", [
    (dict(erf_K=(1, 2)), "erf_K"), (dict(both_K=(3,)), "both_K"),
    (dict(linear_lr=0.6), "linear_lr"), (dict(sigma=-1.0), "sigma"),
    (dict(sgd_activations=("tanh",)), "sgd_activations"), (dict(M=0), "M"),
])
def test_invalid_configs_name_the_field(values, field):
    with pytest.raises(ConfigError, match=field):
        OverparamConfig(**values)


def test_paper_preset_is_valid():
    config = STUDY.make_config("paper")
    assert config.sgd_modes == ("first", "both") and config.sgd_N == 784
