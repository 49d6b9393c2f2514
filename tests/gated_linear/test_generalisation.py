"""The gated_generalisation study end to end: quick preset, checks that can fail."""

import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.gated_linear.generalisation import GatedGeneralisationConfig, checks


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("gated_generalisation")


def test_quick_preset_passes_all_checks(quick):
    failed = [c.name for c in quick.checks if not c.passed]
    assert not failed, failed
    ds = quick.dataset
    assert ds.pathway_error_sim.dims == ("gain", "seed", "epoch", "input_domain",
                                         "output_domain")
    assert ds.attrs["E0"] == pytest.approx(122.0)
    assert int((~ds.trained).sum()) == 21
    np.testing.assert_allclose(ds.lr.values, 0.006 / ds.gain.values ** (1 / 3))


def test_checks_fail_when_the_claim_is_false(quick, recheck):
    ds = quick.dataset
    # no zero-shot generalisation anywhere: untrained pathways at E0 for every gain
    flat = ds.error_untrained_sim * 0 + ds.attrs["E0"]
    assert list(recheck(checks, ds, error_untrained_sim=flat).values()) == [False, True, True, True]
    # untrained error falling with the gain: the lazy regime generalising
    rev = ds.error_untrained_sim.copy(data=ds.error_untrained_sim.values[::-1])
    assert not all(recheck(checks, ds, error_untrained_sim=rev).values())
    # a trained pathway left unfitted
    bad = ds.error_trained_sim + 0.01 * ds.attrs["E0"]
    assert not list(recheck(checks, ds, error_trained_sim=bad).values())[2]


def test_bad_config():
    with pytest.raises(ConfigError, match="'gains'"):
        GatedGeneralisationConfig(gains=(1.0, 0.5))
    with pytest.raises(ConfigError, match="'offsets'"):
        GatedGeneralisationConfig(M=3, offsets=(0, 1, 2))
