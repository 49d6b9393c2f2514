"""The insight studies: result contract, checks that can fail, bad input, paired controls."""

import jax
import numpy as np
import pytest

import learndyn
from learndyn.core.config import ConfigError
from learndyn.insight import simulate
from learndyn.studies import insight, insight_ablations, insight_lambda, insight_noise


def test_result_contract(run_quick):
    ds = run_quick("insight").dataset
    n = ds.n_insight_sim
    assert n.dims[0] == "seed" and set(n.dims) == {"seed", "fit", "threshold", "score"}
    assert (n.fit[0], n.threshold[0], n.score[0]) == ("lowe", "max_control",
                                                     "steepness_minus_sse")
    ins = ds.insight_sim.isel(fit=0, threshold=0, score=0)
    assert np.array_equal(np.isfinite(ds.delay_sim.values), ins.values)
    np.testing.assert_array_equal(n.isel(fit=0, threshold=0, score=0), ins.sum("network"))
    for name in list(ds.data_vars) + list(ds.coords):
        assert "long_name" in ds[name].attrs, name
    assert ds.attrs["variant"] == "code" and ds.attrs["motion_means"] == "synthetic"


def test_checks_can_fail(run_quick, recheck):
    ds = run_quick("insight").dataset
    test = ds.group == "test"
    flat = ds.delay_sim.where(np.isnan(ds.delay_sim), 150.0)
    assert not recheck(insight.STUDY, ds, delay_sim=flat)["delay_spread"]
    silent = ds.abs_wc_onset_sim.where(~test, 0.5)  # no silent colour weight
    assert not recheck(insight.STUDY, ds, abs_wc_onset_sim=silent)["wc_onset_ratio"]
    noisy = ds.condition_n_insight_sim.copy()
    noisy.loc[{"condition": "no_noise"}] = 3
    assert not recheck(insight.STUDY, ds, condition_n_insight_sim=noisy)["no_noise_no_insight"]
    wide = ds.wc_var_sim * 1.3  # the spread of w_c is not the noise walk's
    assert not recheck(insight.STUDY, ds, wc_var_sim=wide)["r1_wc_variance"]
    none = ds.insight_sim.copy(data=np.zeros(ds.insight_sim.shape, bool))
    assert not recheck(insight.STUDY, ds, insight_sim=none)["selectivity_low"]


def test_sweep_checks_can_fail(run_quick, recheck):
    ds = run_quick("insight_noise").dataset
    flipped = ds.insight_sim.copy(data=ds.insight_sim.values[::-1])  # fraction falls with noise
    checks = recheck(insight_noise.STUDY, ds, insight_sim=flipped)
    assert not checks["noise_monotone"] and not checks["noise_zero_no_insight"]
    assert not checks["r4_spearman_sigma_xi"]
    ds = run_quick("insight_lambda").dataset
    flipped = ds.insight_sim.copy(data=ds.insight_sim.values[::-1])
    assert not recheck(insight_lambda.STUDY, ds, insight_sim=flipped)["lambda_fraction_drop"]


def test_ablation_checks_can_fail(run_quick, recheck):
    ds = run_quick("insight_ablations").dataset
    swapped = ds.insight_sim.copy()
    swapped.loc[{"ablation": "noise_gates_only"}] = ds.insight_sim.sel(ablation="no_gates")
    assert ds.attrs["variant"] == "code" and "long_name" in ds.ablation.attrs
    checks = recheck(insight_ablations.STUDY, ds, insight_sim=swapped)
    assert not checks["ablation_noise_gates_only"]


@pytest.mark.parametrize("field, value", [("sigma_xi", -0.1), ("lam", -0.01),
                                          ("coherences", "0.05,0.1,0.2,0.3,1.5"),
                                          ("sigma_eta", -1)])
def test_bad_values_are_one_line_config_errors(field, value):
    with pytest.raises(ConfigError, match=f"'{field}'") as err:
        insight.STUDY.make_config("quick", overrides=[f"{field}={value}"])
    assert "\n" not in str(err.value)


def test_malformed_motion_means_file_is_refused_before_running(tmp_path, store_home):
    path = tmp_path / "means.csv"
    path.write_text("0.1,0.2\n")
    with pytest.raises(ConfigError, match="motion_means_file"):
        learndyn.run("insight", overrides={"motion_means_file": str(path)})


def test_paired_controls_and_means_table(tmp_path):
    """A control is its test network's twin until colour onset; a table sets the means."""
    path = tmp_path / "means.csv"
    path.write_text("\n".join(["0.0,0.1,0.2,0.3,0.4"] * 4))
    config = simulate.InsightConfig(n_networks=4, pool_factor=2, pretrain_blocks=1,
                                    motion_means_file=str(path), dtype="float32")
    with jax.enable_x64(True):
        b = simulate.simulate_batches(config, [0, 1])
    onset = config.task.onset - config.task.n_pretrain
    np.testing.assert_array_equal(b.params[:, :4, :onset + 1], b.params[:, 4:8, :onset + 1])
    assert not np.array_equal(b.params[:, :4, -1], b.params[:, 4:8, -1])
    assert not np.array_equal(b.params[:, 4:8, -1], b.params[:, 8:, -1])  # pool: new networks
    np.testing.assert_allclose(b.mu_m[0, :, 4], 0.4, rtol=1e-6)
    assert b.acc.shape == (2, 12, config.task.n_main) and b.acc.dtype == np.float32


def test_run_batch_is_run_per_config_and_compiles_once():
    """Strengths, noise and the rule are traced arguments: a batch over them (what a sweep
    over ``batch_fields`` runs) re-uses the one compiled trial loop."""
    from learndyn.core import engine

    c1 = insight.InsightStudyConfig(n_networks=4, pool_factor=1, n_bootstrap=10,
                                    pretrain_blocks=1, compare_no_noise=False,
                                    compare_paper_variant=False)
    c2 = c1.replace(alpha=0.5, lam=0.05, sigma_xi=0.04, rule="paper")
    with jax.enable_x64(True):
        single = insight.run(c1, seeds=[0])
        compiled = engine._advance._cache_size()
        batch = insight.STUDY.run_batch([c1, c2], seeds=[0])
        assert engine._advance._cache_size() == compiled
        for ds, expected in zip(batch, (single, insight.run(c2, seeds=[0]))):
            for name in ("wc_onset_sim", "abs_gc_end_sim", "score_sim"):
                np.testing.assert_allclose(ds[name].values, expected[name].values,
                                           rtol=1e-12, equal_nan=True)
        assert not np.allclose(batch[0].abs_gc_end_sim, batch[1].abs_gc_end_sim)
    with pytest.raises(ConfigError, match="n_networks"):
        insight.STUDY.run_batch([c1, c1.replace(n_networks=5)], seeds=[0])
