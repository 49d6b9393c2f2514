"""The task_abstraction_regimes study end to end: quick preset, layout, checks that fail."""

import jax
import numpy as np
import pytest
import xarray as xr

from learndyn.core.config import ConfigError
from learndyn.studies.task_abstraction_regimes import STUDY


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("task_abstraction_regimes")


def test_layout(quick):
    ds = quick.dataset
    assert ds.concat_final_a_sim.dims == ("tau_b", "tau_c", "seed")
    assert ds.concat_final_b_sim.dims == ("tau_b", "lam_ref", "seed")
    assert float(ds.time.values[-1]) == pytest.approx(7.0)


def test_checks_fail_when_claims_are_false(quick):
    ds = quick.dataset.copy(deep=True)
    # pretend lam = 0 specialises
    b = ds.concat_final_b_sim.copy()
    b.loc[{"lam_ref": 0.0}] = 1.0
    ds["concat_final_b_sim"] = b
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["no_regulariser_no_modules"]
    ds = quick.dataset.copy(deep=True)
    frac = ds.specialised_fraction_a_sim.copy()
    frac.loc[{"tau_c": 0.1}] = 1.0  # the slowest gates always specialise (at long blocks)
    ds["specialised_fraction_a_sim"] = frac
    res = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not res["trend_gate_speed"]
    ds = quick.dataset.copy(deep=True)
    frac = ds.specialised_fraction_b_sim.copy()
    frac.loc[{"tau_b": 0.4, "lam_ref": 0.2}] = 0.0  # more regularisation, fewer modules
    ds["specialised_fraction_b_sim"] = frac
    assert not {c.id: c.passed for c in STUDY.evaluate(ds)}["trend_regularisation"]


def test_a_batch_of_configs_is_one_program_with_the_same_numbers():
    """A sweep over batch fields runs every config in one vmapped program; each config's
    numbers are those it gets alone (same seeds, common random numbers)."""
    small = dict(t_total=0.6, block_times=(0.1, 0.2), tau_cs=(0.005,), lam_refs=(0.0, 0.2),
                 record_every=100)
    a = STUDY.make_config("quick", values=small)
    b = a.replace(lam_ref_a=0.2, tau_w=0.12)
    with jax.enable_x64(True):
        both = STUDY.run_batch([a, b], seeds=[0, 1])
        alone = STUDY.run(b, seeds=[0, 1])
    xr.testing.assert_allclose(both[1], alone, rtol=1e-6)
    assert not np.allclose(both[0].concat_alignment_a_sim, both[1].concat_alignment_a_sim)
    with pytest.raises(ConfigError, match="t_total"):
        STUDY.run_batch([a, a.replace(t_total=1.0)], seeds=[0])
