"""Every registered study: its quick preset passes all its checks, and the study is well formed."""

import json

import pytest

import learndyn
from learndyn.core.dataset import unlabelled
from learndyn.core.study import Check


@pytest.mark.parametrize("name", learndyn.studies())
def test_quick_preset_passes_its_checks(name, run_quick):
    result = run_quick(name)
    failed = [(c.id, c.value, c.comparison, c.threshold) for c in result.checks
              if not c.passed]
    assert not failed, failed
    assert result.checks and all(isinstance(c, Check) for c in result.checks)
    assert result.figures and all(p.stat().st_size > 10_000 for p in result.figures.values())
    assert unlabelled(result.dataset) == []  # every variable and coordinate has a long_name
    folder = next(iter(result.figures.values())).parent
    captions = json.loads((folder / "captions.json").read_text())
    assert all(captions.get(name, "").strip() for name in result.figures), captions


@pytest.mark.parametrize("name", learndyn.studies())
def test_study_is_well_formed(name):
    study = learndyn.get_study(name)
    assert study.name == name
    assert {"quick", "paper"} <= set(study.presets)
    assert study.claim and study.paper
    for preset in study.presets:
        study.make_config(preset)  # every preset is a valid config
    for field in study.batch_fields:
        assert field in study.config.field_names(), field
