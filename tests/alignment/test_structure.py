"""The alignment_structure study end to end: quick preset, layout, checks that can fail."""

import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.alignment_structure import STUDY


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("alignment_structure")


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
    # the ODE from each pair's start ends at the fixed point
    np.testing.assert_allclose(ds.h_theory.isel(time=-1), ds.dist_theory, rtol=0.02)
    for name in [*ds.data_vars, *ds.coords]:
        assert ds[name].attrs.get("long_name"), name


def test_checks_fail_when_claims_are_false(quick):
    ds = quick.dataset.copy(deep=True)
    ds["dist_sim"] = ds.dist_init_sim.copy()  # pretend nothing was learnt
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["rich_structure"]
    assert not res["rich_merge"]
    ds = quick.dataset.copy(deep=True)
    lazy = ds.dist_sim.sel(regime="lazy")
    ds["dist_sim"] = ds.dist_sim.copy()
    ds["dist_sim"].loc[{"regime": "lazy"}] = ds.dist_rich_limit * float(lazy.mean())
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["lazy_unstructured"]
    assert not res["lazy_frozen"]
    ds = quick.dataset.copy(deep=True)
    ds["h_theory"] = ds.h_theory.where(ds.time < ds.time[-1] / 2)  # a solve that gave up
    assert not {c.id: c.passed for c in STUDY.evaluate(ds)}["theory_finite"]


def test_bad_config_is_one_clear_error():
    with pytest.raises(ConfigError, match="layer"):
        STUDY.make_config("quick", overrides=["layer=2"])
