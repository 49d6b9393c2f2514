"""The gated_generalisation study end to end: quick preset, checks that can fail."""

import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.gated_generalisation import STUDY, GatedGeneralisationConfig


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("gated_generalisation")


def test_checks_fail_when_the_claim_is_false(quick, recheck):
    ds, E0 = quick.dataset, GatedGeneralisationConfig().E0
    assert E0 == 122.0
    # no zero-shot generalisation anywhere: untrained pathways at E0 for every gain
    flat = ds.error_untrained_sim * 0 + E0
    assert recheck(STUDY, ds, error_untrained_sim=flat) == {
        "zero_shot_rich": False, "no_zero_shot_lazy": True, "trained_fitted": True,
        "zero_shot_error_grows": True}
    # untrained error falling with the gain: the lazy regime generalising
    rev = ds.error_untrained_sim.copy(data=ds.error_untrained_sim.values[::-1])
    result = recheck(STUDY, ds, error_untrained_sim=rev)
    assert not result["zero_shot_rich"] and not result["zero_shot_error_grows"]
    # a trained pathway left unfitted
    bad = ds.error_trained_sim + 0.01 * E0
    assert not recheck(STUDY, ds, error_trained_sim=bad)["trained_fitted"]


def test_quick_dataset_describes_itself(quick):
    ds = quick.dataset
    for name in ds.variables:
        assert ds[name].attrs.get("long_name"), name
    assert ds.time.attrs["units"] == "epoch × lr × 2/(P N_o)"
    assert set(quick.figures) == {"generalisation", "pathway_errors"}


def test_bad_config():
    with pytest.raises(ConfigError, match="'gains'"):
        GatedGeneralisationConfig(gains=(1.0, 0.5))
    with pytest.raises(ConfigError, match="'offsets'"):
        GatedGeneralisationConfig(M=3, offsets=(0, 1, 2))


def test_a_sweep_is_one_batch_with_the_same_numbers():
    """run_batch over lr0 gives each config's own run (one vmapped program for the sweep)."""
    small = dict(M=3, offsets=(0, 1), n_hidden=4, gains=(0.2, 2.5), epochs=30, num_records=4)
    configs = [GatedGeneralisationConfig(lr0=lr0, **small) for lr0 in (0.006, 0.012)]
    for ds, config in zip(STUDY.run_batch(configs, seeds=[0]), configs):
        alone = STUDY.run(config, seeds=[0])
        assert float(abs(ds.pathway_error_sim - alone.pathway_error_sim).max()) <= 1e-12
        assert ds.time.values.tolist() == alone.time.values.tolist()
