"""The alignment_networks study end to end: quick preset, layout, checks that can fail."""

import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.alignment_networks import STUDY


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("alignment_networks")


def test_layout_and_fitted_theory(quick):
    ds = quick.dataset
    assert ds.sizes["run"] == 4 and list(ds.regime.values) == ["table"] * 3 + ["lazy"]
    assert ds.h_sim.dims == ("run", "seed", "time") and ds.h_theory.shape == ds.h_sim.shape
    assert float(ds.time[1] - ds.time[0]) == 10.0 and float(ds.time[-1]) == 3000.0
    np.testing.assert_allclose(ds.dx2, [1.0, 0.25, 2.25, 1.0])
    np.testing.assert_allclose(ds.dy2, [0.5, 1.0, 1.0, 0.5])
    table = ds.isel(run=slice(0, 3))
    # the fixed point with the fitted rates is the end of the fitted ODE curve
    np.testing.assert_allclose(table.h_final_theory, table.h_theory.isel(time=-1), rtol=1e-3)
    assert np.all(ds.eta_h > 0) and np.all(ds.eta_y > 0)


def test_checks_fail_when_claims_are_false(quick):
    ds = quick.dataset.copy(deep=True)
    ds["h_final_theory"] = ds.h_final_theory * 1.3  # a fixed point 30% off
    ds["r2_w"] = ds.r2_w * 0.0 + 0.5
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["final_h_fixed_point_measured"]
    assert not res["fit_r_2_w_min"]
    ds = quick.dataset.copy(deep=True)
    lazy = ds.regime == "lazy"
    ds["h_final_sim"] = ds.h_final_sim.where(~lazy, ds.h0_sim * 3.0)  # lazy net moves a lot
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["lazy_h_final_h0_1"]


def test_bad_config_is_one_clear_error():
    with pytest.raises(ConfigError, match="same length"):
        STUDY.make_config("quick", values={"dx": (1.0, 2.0), "dy": (1.0,)})
    with pytest.raises(ConfigError, match="settings"):
        STUDY.make_config("quick", values={"settings": ("cnn",)})
