"""The task_composition study end to end: quick preset, layout, checks that fail."""

import numpy as np
import pytest

from learndyn.studies.task_composition import STUDY


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("task_composition")


def test_layout(quick):
    ds = quick.dataset
    assert list(ds.model.values) == ["flexible", "forgetful"]
    assert list(ds.task.values[21:25]) == ["A", "B", "AB", "BC"]
    assert ds.gate_recombination_error_sim.dims == ("model", "seed", "composed_block")
    assert ds.sub_gates_block_end_sim.dims == ("model", "seed", "block", "path", "unit")
    assert not np.isnan(ds.time_to_threshold_sim).any()


def test_checks_fail_when_claims_are_false(quick, recheck):
    ds = quick.dataset
    res = recheck(STUDY, ds, weight_change_sim=ds.weight_change_sim + 0.2)
    assert not res["weights_unchanged"]
    same = ds.time_to_threshold_sim.copy()
    same.loc[{"model": "forgetful"}] = same.sel(model="flexible").values
    res = recheck(STUDY, ds, time_to_threshold_sim=same)
    assert not res["faster_than_forgetful"]
    res = recheck(STUDY, ds, gate_recombination_error_sim=ds.gate_recombination_error_sim + 0.3)
    assert not res["gate_recombination"]
    dev = ds.sub_recombination_deviation_sim + 0.2
    res = recheck(STUDY, ds, sub_recombination_deviation_sim=dev)
    assert not res["subtask_recombination"]
