"""The neural_race study end to end: quick preset, dataset layout, checks that can fail."""

import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.neural_race import STUDY, NeuralRaceConfig


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("neural_race")


def test_quick_dataset_layout(quick):
    ds = quick.dataset
    assert ds.mode_product_sim.dims == ("init", "seed", "time", "input_domain",
                                        "output_domain", "mode")
    assert ds.sizes["seed"] == 4 and int(ds.trained.sum()) == 28
    np.testing.assert_allclose(ds.s.values, [np.sqrt(185), np.sqrt(41), 3, 3], rtol=1e-12)
    np.testing.assert_allclose(ds.time.values, ds.epoch.values * 0.02 / 14, rtol=1e-12)
    assert "share singular vectors" in ds.attrs["reduction"]
    # decoupled init: untrained pathways are exactly right too (zero-shot by construction)
    final = ds.mode_product_sim.sel(init="decoupled").isel(time=-1).values
    assert np.max(np.abs(final / ds.s.values - 1.0)) <= 1e-8
    for name in ds.variables:  # the dataset describes itself
        assert ds[name].attrs.get("long_name"), name
    assert ds.time.attrs["units"] == "epoch × lr × 2/(P N_o)"
    assert set(quick.figures) == {"verification", "race"}


def test_checks_fail_when_theory_is_wrong(quick, recheck):
    ds = quick.dataset
    # a flow that learns 10% too slowly (e.g. a wrong time normalisation)
    slow = recheck(STUDY, ds, t_half_theory=ds.t_half_theory * 1.1)
    assert not slow["half_times_vs_flow"]
    # a reduced map off by one part in 1e6 (e.g. a dropped gate factor in one path)
    off = recheck(STUDY, ds, mode_product_map=ds.mode_product_map * (1 + 1e-6))
    assert not off["reduced_map_mode_products"]
    # a K-scan whose speed does not scale with K
    kt = ds.Kt_half_sim * (ds.K / ds.K.max()) ** 0.1
    res = recheck(STUDY, ds, Kt_half_sim=kt)
    assert not res["speed_prop_K_gd"]
    # conservation broken in the simulation
    drift = ds.conserved_sim + 0.2 * ds.time
    assert not recheck(STUDY, ds, conserved_sim=drift)["conserved_gd_drift"]


def test_bad_config():
    with pytest.raises(ConfigError, match="'offsets'"):
        NeuralRaceConfig(offsets=(0, 7))
    with pytest.raises(ConfigError, match="'ks'"):
        NeuralRaceConfig(ks=(1, 3, 4))
    with pytest.raises(ConfigError, match="'b0'"):
        NeuralRaceConfig(b0=-1.0)


@pytest.mark.slow  # compiles the batched and the single routing programs (~1 min)
def test_a_sweep_is_one_batch_with_the_same_numbers():
    """run_batch over b0, sigma0 and lr gives each config's own run."""
    small = dict(M=3, offsets=(0, 1), n_hidden=4, ks=(1, 2), epochs=40, num_records=11)
    configs = [NeuralRaceConfig(**small), NeuralRaceConfig(b0=0.05, sigma0=0.3, lr=0.01, **small)]
    for ds, config in zip(STUDY.run_batch(configs, seeds=[0, 1]), configs):
        alone = STUDY.run(config, seeds=[0, 1])
        for name in ("mode_product_sim", "Kt_half_sim", "mode_product_map", "sv_theory"):
            np.testing.assert_allclose(ds[name], alone[name], rtol=0, atol=1e-12, err_msg=name)
