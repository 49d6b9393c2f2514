"""The localization studies' checks can fail: broken theory or data make them fail."""

import numpy as np
import pytest

import learndyn
from learndyn.core.config import ConfigError
from learndyn.localization import data, theory

LOC = learndyn.get_study("localization")
KURT = learndyn.get_study("localization_kurtosis")
MANY = learndyn.get_study("localization_many")


def _phi_with(ds, nodes, monkeypatch):
    """phi on the dataset's grid for every data set, with theory._nodes replaced."""
    monkeypatch.setattr(theory, "_nodes", nodes)
    return (("dataset", "a"), np.stack([theory.phi(ds.a.values, data.parse(str(d)), L=40)
                                        for d in ds.dataset.values]))


def test_broken_phi_quadrature_fails_the_phi_checks(run_quick, recheck, monkeypatch):
    ds = run_quick("localization").dataset
    good = theory._nodes
    ids = [f"phi_cubic_{d}" for d in ("nlgp:100", "nlgp:0.01", "alg:30")]
    assert all(recheck(LOC, ds)[i] for i in ids)
    # the half-line rule without its factor 2: phi halves
    half = _phi_with(ds, lambda m: (good(m)[0], good(m)[1] / 2), monkeypatch)
    out = recheck(LOC, ds, phi_theory=half)
    assert not any(out[i] for i in ids)
    # the latent z in place of x = T(z): every marginal treated as Gaussian
    def latent(m):
        z, x, w = data.quadrature(m)
        keep = w * (np.abs(x) + x**2) > 1e-30
        return z[keep], w[keep]

    out = recheck(LOC, ds, phi_theory=_phi_with(ds, latent, monkeypatch))
    assert not out["phi_cubic_nlgp:100"] and not out["phi_cubic_alg:30"]


def test_localization_checks_fail_on_swapped_outcomes(run_quick, recheck):
    ds = run_quick("localization").dataset
    ipr = ds.ipr_sim.copy()
    ipr.loc[{"dataset": "nlgp:100"}] = ds.ipr_sim.sel(dataset="nlgp:0.01").values
    ipr.loc[{"dataset": "alg:5"}] = ds.ipr_sim.sel(dataset="alg:30").values
    out = recheck(LOC, ds, ipr_sim=ipr)
    assert not out["localized_nlgp:100"] and not out["delocalized_alg:5"]
    assert not out["contrast"] and not out["onset_nlgp:100"]
    assert out["localized_alg:30"]


def test_ode_agreement_checks_fail(run_quick, recheck):
    ds = run_quick("localization").dataset
    out = recheck(LOC, ds, cosine_sim_theory=ds.cosine_sim_theory * 0.8,
                  weight_norm_theory=ds.weight_norm_theory * 1.2,
                  peak_site_theory=(ds.peak_site_theory + 5) % 40)
    for d in ("nlgp:100", "alg:30"):
        assert not out[f"ode_cosine_{d}"] and not out[f"ode_norm_{d}"]
        assert not out[f"ode_peak_{d}"]


def test_generator_checks_fail(run_quick, recheck):
    ds = run_quick("localization").dataset
    out = recheck(LOC, ds, variance_sample=ds.variance_sample + 0.02,
                  kurtosis_sample=ds.kurtosis_sample + 10 * ds.kurtosis_sample_se,
                  covariance_sample=ds.covariance_sample * 1.05,
                  drive_sample=ds.drive_sample * 1.05)
    assert not any(out[i] for i in ("variance", "kurtosis", "covariance",
                                    "drive_elliptical:shell"))


def test_ordering_checks_fail(run_quick, recheck):
    ds = run_quick("localization_kurtosis").dataset
    reversed_ = ds.ipr_sim.copy(data=ds.ipr_sim.values[::-1])
    out = recheck(KURT, ds, ipr_sim=reversed_)
    assert not out["order_alg_sim"] and not out["order_nlgp_sim"]
    assert not out["order_across_sim"]
    assert out["order_alg_theory"]


def test_many_neuron_checks_fail(run_quick, recheck):
    ds = run_quick("localization_many").dataset
    frac = ds.frac_localized_sim.copy(data=ds.frac_localized_sim.values[::-1])
    median = ds.median_ipr_sim.copy()
    median.loc[{"dataset": "nlgp:100"}] = ds.median_ipr_sim.sel(dataset="nlgp:0.01").values
    out = recheck(MANY, ds, frac_localized_sim=frac, median_ipr_sim=median)
    assert not out["many_localized_nlgp:100"] and not out["many_median_nlgp:100"]


@pytest.mark.parametrize("study, values, field", [
    (LOC, {"datasets": ("nlgp:-1",)}, "datasets"), (LOC, {"datasets": ("alg:2",)}, "datasets"),
    (LOC, {"L": 2}, "'L'"), (LOC, {"xi0": 0.0}, "xi0"), (LOC, {"xi1": -1.0}, "xi1"),
    (LOC, {"batch": 999}, "batch"), (MANY, {"datasets": ("student",)}, "datasets"),
    (MANY, {"K": 0}, "'K'"),
])
def test_bad_config_names_the_field(study, values, field):
    with pytest.raises(ConfigError, match=field):
        study.config.from_dict({**study.presets["quick"].values, **values})


def test_infinite_kurtosis_is_reported_not_sampled():
    config = LOC.config.from_dict({"datasets": ("alg:4",)})
    assert data.kurtosis(config.marginals[0]) == float("inf")
