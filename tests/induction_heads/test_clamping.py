"""The induction_clamping study end to end (quick preset), its checks on constructed results,
and config validation."""

import numpy as np
import pytest
import xarray as xr

from learndyn.core.config import ConfigError
from learndyn.induction_heads.model import heldout_pairs
from learndyn.induction_heads.simulate import stop_after_drop
from learndyn.studies.induction_clamping import STUDY, ClampingConfig, checks


def test_stop_rule():
    """A run stops once every seed is below 0.4 ln 2 and has trained 1.5 x its drop time."""
    stop = stop_after_drop(batch=1)
    steps = np.arange(10) * 100
    loss = np.full((2, 10, 4), 0.7)
    loss[0, 4:], loss[1, 6:] = 0.1, 0.1  # drops at 400 and 600
    assert stop(steps, {"loss": loss})  # 900 >= 1.5 x 600
    assert not stop(steps[:9], {"loss": loss[:, :9]})  # 800 < 900
    loss[1, 6:] = 0.5  # one seed never drops
    assert not stop(steps, {"loss": loss})


def _result(pct: dict, seeds=3, t_end=100_000.0):
    """A minimal dataset with given phase-change times {(setting, condition): [seed]}: the
    loss drops from ln 2 to 0 at that time."""
    settings = [(5, 50), (10, 50), (5, 200)]
    conds = ["none", "pt_head", "layer1", "match", "copy", "layer1_copy"]
    time = np.linspace(0, t_end, 101)
    shape = (len(settings), len(conds), seeds)
    pc = np.full(shape, np.nan)
    for (i, c), v in pct.items():
        pc[i, conds.index(c)] = v
    loss = np.where(time[None, None, None] < pc[..., None], np.log(2), 0.0)
    loss = np.where(np.isnan(pc[..., None]), np.nan, loss)[..., None]
    plateau = np.where(np.isnan(pc), np.nan, 0.5 * pc)
    return xr.Dataset(
        {"phase_change_time_sim": (("setting", "condition", "seed"), pc),
         "plateau_duration_sim": (("setting", "condition", "seed"), plateau),
         "loss_sim": (("setting", "condition", "seed", "time", "evaluator"), loss)},
        coords={"setting": ["a", "b", "c"], "condition": conds, "time": time,
                "evaluator": ["fsl_train"],
                "n_labels": ("setting", [s[0] for s in settings]),
                "n_classes": ("setting", [s[1] for s in settings])})


GOOD = {(0, "none"): [20e3, 30e3, 40e3], (0, "pt_head"): [10e3, 20e3, 30e3],
        (0, "layer1"): [5e3, 8e3, 9e3], (0, "match"): [1e3, 2e3, 3e3],
        (0, "copy"): [1e3, 2e3, 3e3], (0, "layer1_copy"): [1e3, 2e3, 3e3],
        (1, "none"): [60e3, 80e3, np.inf], (1, "match"): [3e3, 5e3, 9e3],
        (1, "layer1_copy"): [1.1e3, 2.2e3, 3.3e3],
        (2, "none"): [25e3, 35e3, 45e3], (2, "match"): [1.1e3, 2e3, 3e3],
        (2, "layer1_copy"): [1.3e3, 2.6e3, 3.6e3]}


def _data_checks(pct):
    return {c.id: c.passed for c in checks(_result(pct), ClampingConfig())
            if "labels" in c.id or "classes" in c.id}


def test_data_dependence_checks_pass_and_fail():
    ok = _data_checks(GOOD)
    assert len(ok) == 7 and all(ok.values()), ok
    # (seed 2's 10-label run never drops: it counts as the run's end, a lower bound)
    # no label effect in the unclamped runs
    res = _data_checks({**GOOD, (1, "none"): GOOD[(0, "none")]})
    assert not res["none_delay_labels10"]
    assert not res["labels_over_classes"]
    # more classes delay as much as more labels
    res = _data_checks({**GOOD, (2, "none"): [80e3, 90e3, 99e3]})
    assert not res["none_delay_classes200"]
    # no label effect when only C learns, or a class effect through C
    res = _data_checks({**GOOD, (1, "match"): [1e3, 2e3, 3e3], (2, "match"): [2e3, 4e3, 6e3]})
    assert not res["match_delay_labels10"]
    assert not res["match_same_classes200"]
    assert not res["classes200_b_over_c"]
    # B alone depends on the number of labels
    res = _data_checks({**GOOD, (1, "layer1_copy"): [2e3, 4e3, 6e3]})
    assert not res["layer1_copy_same_labels10"]


def test_settings_and_runs():
    cfg = ClampingConfig(vary_labels=(10, 15), vary_classes=(200,))
    assert cfg.settings() == [(5, 50), (10, 50), (15, 50), (5, 200)]
    assert cfg.n_labels_max == 15
    assert len(cfg.runs()) == 6 + 3 * 3
    assert [heldout_pairs(n) for n in (5, 10, 15)] == [2, 9, 21]  # the paper's 8/2, 36/9, 84/21


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="'active_head'"):
        ClampingConfig(active_head=8)
    with pytest.raises(ConfigError, match="'conditions'"):
        ClampingConfig(conditions=("match", "copy"))
    with pytest.raises(ConfigError, match="'vary_conditions'"):
        ClampingConfig(vary_conditions=("match",))
    with pytest.raises(ConfigError, match="'conditions'"):
        STUDY.make_config("quick", overrides=["conditions=none,glue"])
