"""The alignment study end to end: quick preset, dataset contract, checks that fail when the
claims are false, config errors."""

import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.alignment import STUDY


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("alignment")


def test_dataset_contract(quick):
    ds = quick.dataset
    assert list(ds.pair.values) == ["1/1", "0.5/2"]
    assert list(ds.convention.values) == ["half_sum", "half_mse"]
    assert ds.h_sim.dims == ("pair", "convention", "seed", "time_micro")
    assert ds.h_theory.dims == ds.h_sim.dims and ds.sizes["seed"] == 4
    assert ds.sweep_h_theory.dims == ("pair", "h0", "time") and ds.sizes["time"] == 161
    assert ds.sweep_h_final_theory.dims == ("pair", "h0")
    assert ds.h_final_sim.dims == ("pair", "convention", "seed")
    assert 0 < int(ds.converged.sum()) < ds.converged.size  # the 0.99 filter is exercised
    assert ds.chain_h_theory.dims == ds.chain_h_sim.dims == ("lam", "time_chain")
    assert ds.sweep_h_sim.dims == ds.sweep_h_theory.dims
    assert float(ds.time[-1]) == 400.0
    np.testing.assert_allclose(ds.h_rich_limit.sel(pair="1/1"), np.sqrt(0.5), rtol=1e-15)
    assert not any(bool(ds[v].isnull().any()) for v in ds.data_vars)
    for name in [*ds.data_vars, *ds.coords]:
        assert ds[name].attrs.get("long_name"), name
    assert set(quick.figures) == {"trajectories", "rich_lazy", "scalar_chain"}


def test_checks_fail_when_claims_are_false(quick, recheck):
    ds = quick.dataset
    # an ODE off by 1e-6 from the micro-model
    res = recheck(STUDY, ds, h_theory=ds.h_theory * (1 + 1e-6))
    assert not res["micro_vs_ode"]
    # a drifting conserved quantity
    drift = ds.C_sim + 1e-6 * ds.time_micro
    assert not recheck(STUDY, ds, C_sim=drift)["conserved_micro"]
    # a fixed-point formula that ignores y0 (A_high = h0): wrong at small h0
    h0 = ds.h0.broadcast_like(ds.sweep_h_final_theory)
    a_low2 = ds.eta_h / ds.eta_y * 1.0 * 0.5  # dx2 dy2 of the quick preset
    naive = h0 / 2 + np.sqrt(h0**2 / 4 + a_low2)
    assert not recheck(STUDY, ds, sweep_h_final_theory=naive)["fixed_point_h"]
    # micro-model runs that end 2% away from their fixed point
    assert not recheck(STUDY, ds, h_final_sim=ds.h_final_sim * 1.02)["micro_fixed_point"]
    # a sweep that never leaves the initial scale: not rich
    lazy = ds.sweep_h_theory * 0 + ds.h0
    res = recheck(STUDY, ds, sweep_h_theory=lazy)
    assert not res["rich_limit"] and not res["sweep_micro"]
    # a non-monotone h_inf(h0)
    bumpy = ds.sweep_h_theory.copy()
    bumpy[{"h0": 1, "time": -1}] = 1e3
    assert not recheck(STUDY, ds, sweep_h_theory=bumpy)["monotone_in_h0"]
    # a chain solution shifted in time by two records
    late = ds.chain_h_deep_linear.copy(data=np.roll(ds.chain_h_deep_linear.values, 2, axis=1))
    res = recheck(STUDY, ds, chain_h_deep_linear=late)
    assert not res["chain_vs_deep_linear"] and not res["chain_micro"]
    # the half_mse loss formula applied to half_sum runs
    swapped = ds.loss_theory.copy()
    swapped.loc[{"convention": "half_sum"}] = ds.loss_theory.sel(convention="half_mse").values
    assert not recheck(STUDY, ds, loss_theory=swapped)["loss_half_sum"]
    # a failed solve (NaN) fails its check instead of passing
    nan = ds.sweep_y_theory.copy()
    nan[{"pair": 0, "h0": 0, "time": -1}] = np.nan
    assert not recheck(STUDY, ds, sweep_y_theory=nan)["fixed_point_yw"]


def test_config_errors():
    for values in ({"eta_h": (1.0,)}, {"h0": (1.0, 0.5)}, {"dy2": 0.0}, {"w0": 1.0},
                   {"T": float("nan")}, {"chain_lam": ()}, {"n_y": 1}):
        with pytest.raises(ConfigError):
            STUDY.make_config("quick", values=values)
    STUDY.make_config("paper")
