"""The task_abstraction_regimes study end to end: quick preset, layout, checks that fail."""

import pytest

from learndyn.studies.task_abstraction_regimes import STUDY


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("task_abstraction_regimes")


def test_layout(quick):
    ds = quick.dataset
    assert ds.concat_final_a_sim.dims == ("tau_b", "tau_c", "seed")
    assert ds.concat_final_b_sim.dims == ("tau_b", "lam_ref", "seed")
    assert float(ds.time.values[-1]) == pytest.approx(7.0)


def test_checks_fail_when_claims_are_false(quick):
    ds = quick.dataset.copy(deep=True)
    # pretend lam = 0 specialises
    b = ds.concat_final_b_sim.copy()
    b.loc[{"lam_ref": 0.0}] = 1.0
    ds["concat_final_b_sim"] = b
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["no_regulariser_no_modules"]
    ds = quick.dataset.copy(deep=True)
    frac = ds.specialised_fraction_a_sim.copy()
    frac.loc[{"tau_c": 0.1}] = 1.0  # the slowest gates always specialise
    ds["specialised_fraction_a_sim"] = frac
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["trend_gate_speed"]
