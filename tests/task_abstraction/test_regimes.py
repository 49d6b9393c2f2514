"""The task_abstraction_regimes study end to end: quick preset, layout, checks that fail."""

import pytest

from learndyn.task_abstraction.regimes import checks


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("task_abstraction_regimes")


def test_quick_preset_passes_all_checks(quick):
    failed = [c.name for c in quick.checks if not c.passed]
    assert not failed, failed


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
    res = {c.name: c.passed for c in checks(ds)}
    assert not res["lam = 0: max final concat (any block length, seed)"]
    ds = quick.dataset.copy(deep=True)
    frac = ds.specialised_fraction_a_sim.copy()
    frac.loc[{"tau_c": 0.1}] = 1.0  # the slowest gates always specialise
    ds["specialised_fraction_a_sim"] = frac
    res = {c.name: c.passed for c in checks(ds)}
    assert not res["specialised fraction vs gate speed: largest drop (seeds)"]
