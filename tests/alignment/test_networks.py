"""The alignment_networks study end to end: quick preset, layout, checks that can fail."""

import numpy as np
import pytest
import xarray as xr

from learndyn.core.config import ConfigError
from learndyn.studies.alignment_networks import STUDY


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("alignment_networks")


def test_layout_and_fitted_theory(quick):
    ds = quick.dataset
    assert ds.sizes["run"] == 7 and list(ds.regime.values) == ["table"] * 6 + ["lazy"]
    assert ds.h_sim.dims == ("run", "seed", "time") and ds.h_theory.shape == ds.h_sim.shape
    assert float(ds.time[1] - ds.time[0]) == 10.0 and float(ds.time[-1]) == 3000.0
    np.testing.assert_allclose(ds.dx2, [1.0, 0.25, 2.25, 1.0, 1.0, 2.25, 1.0])
    np.testing.assert_allclose(ds.dy2, [0.5, 1.0, 1.0, 0.25, 1.0, 0.25, 0.5])
    for name in [*ds.data_vars, *ds.coords]:
        assert ds[name].attrs.get("long_name"), name
    assert ds.time.attrs["units"] == "epochs"
    table = ds.isel(run=slice(0, 6))
    # the fixed point with the fitted rates is the end of the fitted ODE curve
    np.testing.assert_allclose(table.h_final_theory, table.h_theory.isel(time=-1), rtol=1e-3)
    assert np.all(ds.eta_h > 0) and np.all(ds.eta_y > 0)


def test_checks_fail_when_claims_are_false(quick):
    ds = quick.dataset.copy(deep=True)
    ds["h_final_theory"] = ds.h_final_theory * 1.3  # a fixed point 30% off
    ds["r2_w"] = ds.r2_w * 0.0 + 0.5
    spread = xr.DataArray(np.linspace(0.5, 2.0, ds.sizes["run"]), dims="run")
    ds["h_final_sim"] = ds.h_final_sim.where(ds.regime == "lazy", ds.h_final_sim * spread)
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["final_h"] and not res["fit_w"] and not res["universality"]
    ds = quick.dataset.copy(deep=True)
    lazy = ds.regime == "lazy"
    ds["h_final_sim"] = ds.h_final_sim.where(~lazy, ds.h0_sim * 3.0)  # lazy net moves a lot
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["lazy_frozen"]


def test_run_batch_trains_configs_together():
    """Two configs differing in their pairs run in one program, each as if alone."""
    base = STUDY.make_config("quick", overrides=["epochs=40", "fit_every=20", "lazy_gain=0"])
    configs = [base.replace(dx=(1.0,), dy=(0.7,)), base.replace(dx=(0.5,), dy=(1.0,))]
    batch = STUDY.run_batch(configs, seeds=[0])
    alone = STUDY.run(configs[1], seeds=[0])
    np.testing.assert_allclose(batch[1].h_sim, alone.h_sim, rtol=1e-6)
    assert list(batch[0].dx2.values) == [1.0] and list(batch[1].dx2.values) == [0.25]


def test_bad_config_is_one_clear_error():
    with pytest.raises(ConfigError, match="same length"):
        STUDY.make_config("quick", values={"dx": (1.0, 2.0), "dy": (1.0,)})
    with pytest.raises(ConfigError, match="settings"):
        STUDY.make_config("quick", values={"settings": ("cnn",)})
