"""The gated_generalisation study end to end: quick preset, checks that can fail."""

import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.gated_generalisation import STUDY, GatedGeneralisationConfig


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("gated_generalisation")


def test_checks_fail_when_the_claim_is_false(quick, recheck):
    ds = quick.dataset
    # no zero-shot generalisation anywhere: untrained pathways at E0 for every gain
    flat = ds.error_untrained_sim * 0 + ds.attrs["E0"]
    assert list(recheck(STUDY, ds, error_untrained_sim=flat).values()) == [False, True, True, True]
    # untrained error falling with the gain: the lazy regime generalising
    rev = ds.error_untrained_sim.copy(data=ds.error_untrained_sim.values[::-1])
    assert not all(recheck(STUDY, ds, error_untrained_sim=rev).values())
    # a trained pathway left unfitted
    bad = ds.error_trained_sim + 0.01 * ds.attrs["E0"]
    assert not list(recheck(STUDY, ds, error_trained_sim=bad).values())[2]


def test_bad_config():
    with pytest.raises(ConfigError, match="'gains'"):
        GatedGeneralisationConfig(gains=(1.0, 0.5))
    with pytest.raises(ConfigError, match="'offsets'"):
        GatedGeneralisationConfig(M=3, offsets=(0, 1, 2))
