"""The induction_clamping study end to end (quick preset), its checks on constructed results,
and config validation."""

import numpy as np
import pytest
import xarray as xr

from learndyn.core.config import ConfigError
from learndyn.induction_heads.clamping import (
    INDUCTION_CLAMPING,
    ClampingConfig,
    _dropped,
    checks,
    heldout_pairs,
)


def test_quick_preset_passes_all_checks(run_quick):
    result = run_quick("induction_clamping")
    failed = [(c.name, c.value) for c in result.checks if not c.passed]
    assert not failed, failed
    ds = result.dataset
    assert list(ds.condition.values) == ["none", "pt_head", "layer1", "match", "copy",
                                         "layer1_copy"]
    assert ds.loss_sim.dims == ("setting", "condition", "seed", "time", "evaluator")
    assert list(ds.n_labels.values) == [5, 10, 5] and list(ds.n_classes.values) == [50, 50, 200]
    # conditions not run in a varied setting are missing; every run is recorded from the
    # start to its end: after its phase change (every seed past it, then half as long again)
    # or at num_sequences
    assert np.isnan(ds.loss_sim.sel(condition="copy").isel(setting=1)).all()
    t = ds.time.values
    for i, cond in result.config.runs():
        loss = ds.loss_sim.isel(setting=i).sel(condition=cond, evaluator="fsl_train").values
        n = int(np.isfinite(loss).all(axis=0).sum())
        assert np.isfinite(loss[:, :n]).all() and np.isnan(loss[:, n:]).all(), (i, cond)
        pct = ds.phase_change_time_sim.isel(setting=i).sel(condition=cond).values
        assert n == len(t) or (np.isfinite(pct).all() and t[n - 1] >= 1.5 * pct.max()), (i, cond)
    assert ds.phase_change_time_sim.sel(condition="match").max() < 0.2 * t[-1]  # stopped early


def test_stop_rule():
    """A run stops once every seed is below 0.4 ln 2 and has trained 1.5 x its drop time."""
    stop = _dropped(ClampingConfig(batch=1))
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
    return {c.name: c.passed for c in checks(_result(pct)) if "labels" in c.name
            or "classes" in c.name}


def test_data_dependence_checks_pass_and_fail():
    ok = _data_checks(GOOD)
    assert len(ok) == 7 and all(ok.values()), ok
    # (seed 2's 10-label run never drops: it counts as the run's end, a lower bound)
    # no label effect in the unclamped runs
    res = _data_checks({**GOOD, (1, "none"): GOOD[(0, "none")]})
    assert not res["none: phase-change time 10 labels / 5 (seed means)"]
    assert not res["none: smallest labels ratio / largest classes ratio (seed means)"]
    # more classes delay as much as more labels
    res = _data_checks({**GOOD, (2, "none"): [80e3, 90e3, 99e3]})
    assert not res["none: phase-change time 200 classes / 50 (seed means)"]
    # no label effect when only C learns, or a class effect through C
    res = _data_checks({**GOOD, (1, "match"): [1e3, 2e3, 3e3], (2, "match"): [2e3, 4e3, 6e3]})
    assert not res["match (only C learns): 10 labels / 5 (worst seed)"]
    assert not res["match (only C learns): |200 classes / 50 - 1| (worst seed)"]
    assert not res["200 classes / 50: ratio with only B learning / only C (worst seed)"]
    # B alone depends on the number of labels
    res = _data_checks({**GOOD, (1, "layer1_copy"): [2e3, 4e3, 6e3]})
    assert not res["layer1_copy (only B learns): |10 labels / 5 - 1| (worst seed)"]


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
        INDUCTION_CLAMPING.make_config("quick", overrides=["conditions=none,glue"])
