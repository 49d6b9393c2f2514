"""The induction_clamping study end to end (quick preset; slow: six conditions x two seeds of a
two-pass model) and its config validation."""

import pytest

import learndyn
from learndyn.core.config import ConfigError
from learndyn.induction_heads.clamping import INDUCTION_CLAMPING, ClampingConfig


@pytest.mark.slow
def test_quick_preset_passes_all_checks(tmp_path):
    result = learndyn.run("induction_clamping", preset="quick", out=tmp_path / "quick")
    failed = [(c.name, c.value) for c in result.checks if not c.passed]
    assert not failed, failed
    ds = result.dataset
    assert list(ds.condition.values) == ["none", "pt_head", "layer1", "match", "copy",
                                         "layer1_copy"]
    assert ds.loss_sim.dims == ("condition", "seed", "time", "evaluator")


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="'active_head'"):
        ClampingConfig(active_head=8)
    with pytest.raises(ConfigError, match="'conditions'"):
        ClampingConfig(conditions=("match", "copy"))
    with pytest.raises(ConfigError, match="'conditions'"):
        INDUCTION_CLAMPING.make_config("quick", overrides=["conditions=none,glue"])
