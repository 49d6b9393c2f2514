"""The lazy_rich study end to end: quick preset, discretisation order, checks that can fail."""

import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.deep_linear import balanced, observables
from learndyn.studies.lazy_rich import STUDY, LazyRichConfig

# a small sweep without the unequal and reversal groups (shares one compiled trainer)
SMALL = dict(lams=(-2.0, 0.0, 2.0), unequal_lams=(), reversal_lams=(), flow_check=False,
             t_max=6.0, num_records=61)


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("lazy_rich")


def test_quick_dataset_layout(quick):
    ds = quick.dataset
    assert ds.attrs["study"] == "lazy_rich"
    assert list(ds.lam.values) == [-10.0, -2.0, -0.5, 0.0, 0.5, 2.0, 10.0]
    assert ds.sizes["seed"] == 2 and ds.sizes["time"] == 151
    assert np.allclose(ds.time.values, ds.step.values * 1e-3)
    assert ds.function_sim.dims == ("seed", "lam", "time", "out", "in")
    assert ds.function_theory.dims == ds.function_sim.dims
    assert ds.rep_in_theory.dims == ("seed", "lam", "time", "in", "in2")
    assert ds.rep_out_sim.dims == ("seed", "lam", "time", "out", "out2")
    assert ds.unequal_function_sim.shape == (2, 2, 151, 5, 3)
    assert ds.unequal_rep_out_theory.shape == (2, 2, 151, 5, 5)
    for name in ("loss", "ntk_distance", "rep_in_change", "rep_out_change"):
        assert ds[f"{name}_sim"].dims == ("seed", "lam", "time")
        assert ds[f"{name}_theory"].dims == ("seed", "lam", "time")
    assert ds.mode_strength_theory.dims == ("seed", "lam", "time", "mode")
    assert ds.reversal_theory.dims == ("lam_reversal", "time")
    assert set(quick.figures) == {"loss", "ntk", "representations", "theory_vs_sim", "reversal"}
    assert all(p.stat().st_size > 10_000 for p in quick.figures.values())
    for name in ds.variables:  # the dataset describes itself
        assert ds[name].attrs.get("long_name"), name
    assert ds.time.attrs["units"] == "τ"


def test_quick_theory_starts_from_the_simulated_weights(quick):
    ds = quick.dataset.isel(time=0)
    for name in ("function", "rep_in", "rep_out"):
        assert float(np.abs(ds[f"{name}_sim"] - ds[f"{name}_theory"]).max()) <= 1e-13
    balance = quick.dataset.balance_error_sim.isel(time=0)
    assert float(balance.max()) <= 1e-12  # exactly lambda-balanced at the start


def test_quick_lazy_and_rich_regimes(quick):
    ds = quick.dataset.isel(time=-1)
    # rich: S(T) orders of magnitude above lazy; lazy: the big layer barely moves
    assert float(ds.ntk_distance_theory.sel(lam=0.0).min()) > \
        30 * float(ds.ntk_distance_theory.sel(lam=10.0).max())
    assert float(ds.rep_out_change_theory.sel(lam=10.0).max()) < 0.1


def _small_error(lr: float, dtype: str = "float64") -> dict:
    config = LazyRichConfig(lr=lr, dtype=dtype, **SMALL)
    ds = STUDY.run(config, seeds=[0])
    return {k: float(ds[k].max()) for k in ("function_error", "rep_in_error", "rep_out_error",
                                            "balance_error_sim")}


def test_gradient_descent_error_is_first_order_in_lr():
    """Euler discretisation: halving eta halves the error and the balance drift."""
    coarse, fine = _small_error(2e-3), _small_error(1e-3)
    for key in coarse:
        assert coarse[key] / fine[key] == pytest.approx(2.0, abs=0.4), key
    assert fine["function_error"] <= 2 * 1e-3 * 3.0


def test_float32_simulation_stays_within_the_bound():
    err = _small_error(1e-3, "float32")
    assert max(err.values()) <= 2 * 1e-3 * 3.0


def test_checks_fail_when_the_theory_is_wrong(monkeypatch):
    """A closed form with a 5% wrong time constant and lambda 10% off fails the theory checks."""
    diagonal, propagate = balanced.qqt_diagonal, balanced.qqt_propagate

    def off(f):
        def wrong(W1, W2, sigma, times, tau=1.0, *, lam=None, **kw):
            lam = balanced.lambda_of(W1, W2) if lam is None else lam
            return f(W1, W2, sigma, times, tau * 1.05, lam=np.asarray(lam) * 1.1 + 0.1, **kw)
        return wrong

    monkeypatch.setattr(balanced, "qqt_diagonal", off(diagonal))
    monkeypatch.setattr(balanced, "qqt_propagate", off(propagate))
    config = LazyRichConfig(**{**SMALL, "flow_check": True})
    ds = STUDY.run(config, seeds=[0])
    ds.attrs["config"] = config.to_json()
    result = {c.id: c.passed for c in STUDY.evaluate(ds)}
    assert not result["closed_form_vs_flow"]
    assert not result["gd_vs_closed_form_function"]
    assert not result["final_representations"]


def test_checks_fail_when_claims_are_false(quick, recheck):
    ds = quick.dataset
    # lazy layer moving: the representation check must fail
    moved = ds.rep_out_change_sim * 10.0
    assert not recheck(STUDY, ds, rep_out_change_sim=moved)["lazy_pos_rep_out_frozen"]
    # a rich loss that decays exponentially has no plateau
    expo = ds.loss_sim.copy(data=np.exp(-np.broadcast_to(ds.time.values, ds.loss_sim.shape)))
    result = recheck(STUDY, ds, loss_sim=expo)
    assert not result["rich_loss_sigmoidal"]
    # an NTK that moves as much when lazy as when rich
    flat = ds.ntk_distance_sim.copy(data=np.broadcast_to(
        ds.ntk_distance_sim.sel(lam=0.0).values[:, None], ds.ntk_distance_sim.shape))
    result = recheck(STUDY, ds, ntk_distance_sim=flat)
    assert not result["ntk_rich_vs_lazy_sim"]
    assert not result["ntk_falls_sim"]
    # a reversal that completes at lambda = 0
    done = ds.reversal_theory.copy(data=np.broadcast_to(
        ds.reversal_theory.sel(lam_reversal=1.0).values, ds.reversal_theory.shape))
    result = recheck(STUDY, ds, reversal_theory=done)
    assert not result["reversal_stalls"]
    # loss curves that differ between +lambda and -lambda
    asym = ds.loss_sim.where(ds.lam >= 0, ds.loss_sim * 1.001)
    result = recheck(STUDY, ds, loss_sim=asym)
    assert not result["sign_symmetry_gd"]


@pytest.mark.parametrize(
    "values, field",
    [
        (dict(unequal_dims=(3, 4, 5), unequal_lams=(-1.0,)), "unequal_lams"),
        (dict(unequal_dims=(5, 4, 3), unequal_lams=(1.0,)), "unequal_lams"),
        (dict(lams=(0.0, 0.0)), "lams"),
        (dict(lams=()), "lams"),
        (dict(n=3), "singular_values"),
        (dict(num_records=20_000), "num_records"),
        (dict(unequal_dims=(3, 4)), "unequal_dims"),
        (dict(a0=0.0), "a0"),
    ],
)
def test_invalid_configs_name_the_field(values, field):
    with pytest.raises(ConfigError, match=field):
        LazyRichConfig(**values)


def test_paper_preset_holds_the_spec_parameters():
    config = STUDY.make_config("paper")
    assert config.n == 8 and config.t_max == 20.0 and config.lr == 1e-4
    assert len(config.lams) == 41 and 0.0 in config.lams
    positive = np.array([lam for lam in config.lams if lam > 0])
    assert positive.min() == pytest.approx(0.01) and positive.max() == pytest.approx(50.0)
    assert np.allclose(np.diff(np.log10(positive)), np.log10(5000) / 19, rtol=1e-4)
    assert STUDY.presets["paper"].seeds == 8
    assert STUDY.presets["quick"].seeds == 2


def test_a_sweep_over_the_init_scale_is_one_program():
    """run_batch (a0 and data_seed keep shapes) gives each config's run (GD in float64)."""
    configs = [LazyRichConfig(a0=a0, **SMALL) for a0 in (0.01, 0.3)]
    batch = STUDY.run_batch(configs, seeds=[0])
    for config, ds in zip(configs, batch):
        alone = STUDY.run(config, seeds=[0])
        assert float(np.abs(ds.function_sim - alone.function_sim).max()) <= 1e-12
        assert float(np.abs(ds.function_theory - alone.function_theory).max()) <= 1e-12
    start = [float(ds.rep_in_sim.isel(time=0).sel(lam=0.0).max()) for ds in batch]
    assert start[1] == pytest.approx(30 * start[0])  # W1^T W1 = a0 at lambda = 0


def test_lambda_sweep_summaries():
    lams = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    falling = np.array([[0.1, 1.0, 3.0, 1.0, 0.1]])
    assert observables.count_not_falling(falling, lams) == 0
    assert observables.count_not_falling(falling + [[0, 0, 0, 0, 1.4]], lams) == 1
    assert observables.mirror_difference(falling, lams, axis=1) == 0.0
    assert observables.mirror_difference(falling + [[0, 0, 0, 0.25, 0]], lams, axis=1) == 0.25
