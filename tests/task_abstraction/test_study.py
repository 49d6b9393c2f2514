"""The task_abstraction study end to end: quick preset, dataset contract, checks that fail."""

import re
from pathlib import Path

import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.task_abstraction import STUDY


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("task_abstraction")


def test_dataset_contract(quick):
    ds = quick.dataset
    assert list(ds.model.values) == ["flexible", "forgetful"]
    assert ds.loss_sim.dims == ("model", "seed", "time")
    assert ds.gates_sim.dims == ("model", "seed", "time", "path")
    assert ds.concat_alignment_sim.dims == ("model", "seed", "time")
    assert ds.time_to_threshold_sim.dims == ("model", "seed", "block")
    assert ds.sizes["seed"] == 3 and ds.sizes["block"] == 22
    assert np.allclose(ds.time.values, ds.step.values * 1e-3)
    # censored blocks carry tau_B and reached = 0, never NaN
    assert not np.isnan(ds.time_to_threshold_sim).any()
    assert set(np.unique(ds.reached_sim)) <= {0, 1}
    assert set(quick.figures) == {"task_abstraction", "switching"}


def test_checks_fail_when_claims_are_false(quick, recheck):
    ds = quick.dataset
    # forgetful switching as fast as flexible
    same = ds.time_to_threshold_sim.copy()
    same.loc[{"model": "forgetful"}] = same.sel(model="flexible").values
    res = recheck(STUDY, ds, time_to_threshold_sim=same)
    assert not res["flexible_vs_forgetful"]
    # a switching law off by a factor 2
    res = recheck(STUDY, ds, switch_time_law_theory=ds.switch_time_law_theory * 2)
    assert not res["switch_law_min"]
    # a within-block relation that ignores the gates
    flat = ds.norm_sq_theory.copy()
    flat.loc[{"model": "flexible"}] = ds.norm_sq_sim.sel(model="flexible").max("time").values[
        ..., None]
    res = recheck(STUDY, ds, norm_sq_theory=flat)
    assert not res["within_block_relation"]
    # gates that never become one-hot
    res = recheck(STUDY, ds, gates_block_end_sim=ds.gates_block_end_sim * 0 + 0.5)
    assert not res["active_gate_min"]


def test_config_errors():
    with pytest.raises(ConfigError):
        STUDY.make_config("quick", values={"d_out": 15})
    with pytest.raises(ConfigError):
        STUDY.make_config("quick", values={"n_paths": 1})
    with pytest.raises(ConfigError):
        STUDY.make_config("quick", values={"batch_size": 10})  # wishart needs B >= d_in


def test_every_variable_is_described(quick):
    ds = quick.dataset
    for name in [*ds.data_vars, *ds.coords]:
        assert ds[name].attrs.get("long_name"), name
    assert ds.time.attrs["units"].startswith("paper time units")
    assert ds.time_to_threshold_sim.attrs["units"] == "paper time units"


def test_docs_example_runs():
    """The reduced-theory example of docs/task_abstraction.md: the reduction is exact."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "task_abstraction.md"
    code = re.search(r"```python\n(.*?)```", doc.read_text(), re.S).group(1)
    ns: dict = {}
    exec(compile(code, str(doc), "exec"), ns)
    assert np.abs(ns["values"]["loss"] - ns["reduced"]["loss"]).max() < 1e-12
