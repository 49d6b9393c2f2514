"""The task_composition study end to end: quick preset, layout, checks that fail."""

import numpy as np
import pytest

from learndyn.task_abstraction.composition import checks


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("task_composition")


def test_quick_preset_passes_all_checks(quick):
    failed = [c.name for c in quick.checks if not c.passed]
    assert not failed, failed


def test_layout(quick):
    ds = quick.dataset
    assert list(ds.model.values) == ["flexible", "forgetful"]
    assert ds.attrs["composition_start"] == 23
    assert list(ds.task.values[21:25]) == ["A", "B", "AB", "BC"]
    assert ds.gate_recombination_error_sim.dims == ("model", "seed", "composed_block")
    assert ds.sub_gates_block_end_sim.dims == ("model", "seed", "block", "path", "unit")
    assert not np.isnan(ds.time_to_threshold_sim).any()


def test_checks_fail_when_claims_are_false(quick, recheck):
    ds = quick.dataset
    res = recheck(checks, ds, weight_change_sim=ds.weight_change_sim + 0.2)
    assert not res["flexible: relative change of sum_p ||W^p|| over the first composed block"]
    same = ds.time_to_threshold_sim.copy()
    same.loc[{"model": "forgetful"}] = same.sel(model="flexible").values
    res = recheck(checks, ds, time_to_threshold_sim=same)
    assert not res["first composed block: time to loss < 0.05, forgetful / flexible"]
    res = recheck(checks, ds, gate_recombination_error_sim=ds.gate_recombination_error_sim + 0.3)
    assert not res["flexible: gate recombination error ||c_AB - (mu c_A + (1-mu) c_B)||_1, "
                   "first composed block"]
    dev = ds.sub_recombination_deviation_sim + 0.2
    res = recheck(checks, ds, sub_recombination_deviation_sim=dev)
    assert not res["subtask: per-unit gate recombination, mean |c - c_pred| (first composed "
                   "cycle)"]
