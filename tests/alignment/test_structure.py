"""The alignment_structure study end to end: quick preset, layout, checks that can fail."""

import numpy as np
import pytest

from learndyn.alignment.structure import ALIGNMENT_STRUCTURE, checks
from learndyn.core.config import ConfigError


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("alignment_structure")


def test_quick_preset_passes_all_checks(quick):
    failed = [(c.name, c.value) for c in quick.checks if not c.passed]
    assert not failed, failed


def test_layout_and_pairs(quick):
    ds = quick.dataset
    assert ds.dist_sim.dims == ("regime", "seed", "pair") and ds.sizes["pair"] == 6
    np.testing.assert_array_equal(ds.dx2, [4, 4, 8, 8, 4, 4])
    np.testing.assert_array_equal(ds.dy2, [1, 1, 0, 0, 1, 1])
    rich = ds.sel(regime="rich")
    # different-target pairs are predicted at the rich limit, equal-target ones near 0
    diff = ds.dy2.values > 0
    np.testing.assert_allclose(rich.dist_theory.values[..., diff],
                               rich.dist_rich_limit.values[..., diff], rtol=0.05)
    assert float(rich.dist_theory[..., ~diff].max()) < 0.1 * float(rich.dist_theory.max())


def test_checks_fail_when_claims_are_false(quick):
    ds = quick.dataset.copy(deep=True)
    ds["dist_sim"] = ds.dist_init_sim.copy()  # pretend nothing was learnt
    res = {c.name: c.passed for c in checks(ds)}
    assert not res["rich: Pearson r of predicted vs measured pair distances (min over seeds)"]
    assert not res["rich: max equal-target / min different-target distance (max over seeds)"]
    ds = quick.dataset.copy(deep=True)
    lazy = ds.dist_sim.sel(regime="lazy")
    ds["dist_sim"] = ds.dist_sim.copy()
    ds["dist_sim"].loc[{"regime": "lazy"}] = ds.dist_rich_limit * float(lazy.mean())
    res = {c.name: c.passed for c in checks(ds)}
    assert not res["lazy: Pearson r of measured distances with the rich prediction "
                   "(max over seeds)"]
    assert not res["lazy: |D_final - D_init| / |D_init| (Frobenius, max over seeds)"]


def test_bad_config_is_one_clear_error():
    with pytest.raises(ConfigError, match="layer"):
        ALIGNMENT_STRUCTURE.make_config("quick", overrides=["layer=2"])
