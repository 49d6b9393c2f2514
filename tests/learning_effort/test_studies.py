"""Each learning-effort study's checks can fail: break a result (or the cost term) and the
check that encodes the claim goes red. The quick presets themselves run in tests/test_studies.py
(``run_quick`` shares them)."""

import numpy as np

import learndyn
import learndyn.learning_effort as le
from learndyn.learning_effort import controls


def _study(name):
    return learndyn.get_study(name)


def test_broken_cost_breaks_the_comparative_statics(run_quick, recheck):
    """Flip the sign of the cost (beta g^2 -> -beta g^2): dearer control now *raises* V*."""
    ds = run_quick("effort_single_neuron").dataset
    study = _study("effort_single_neuron")
    config = study.config_of(ds)
    broken = controls.SINGLE_NEURON._replace(cost=lambda g, prm: -prm["beta"] * g**2)
    ps = [le.single_neuron_problem(config.mu, config.sigma, config.lam, b, config.gamma,
                                   config.lr, config.n_steps, (0.0, config.g_max))
          .replace(control_type=broken) for b in config.betas]
    r = le.optimise_batch(le.stack_problems(ps), iterations=config.iterations, step=config.step)
    effort = [le.observables.effort(p.replace(control_type=controls.SINGLE_NEURON), c)
              for p, c in zip(ps, r.control)]
    passed = recheck(study, ds, value_optimal_beta=(("beta",), r.value),
                     effort_beta=(("beta",), effort))
    assert not passed["value_vs_beta"] and not passed["effort_vs_beta"]
    assert recheck(study, ds)["value_vs_beta"]  # the stored result passes


def test_single_neuron_checks_fail_on_broken_results(run_quick, recheck):
    ds = run_quick("effort_single_neuron").dataset
    study = _study("effort_single_neuron")
    passed = recheck(study, ds, control_theory=(("control_time",),
                                                ds.control_theory.values[::-1]))
    assert not passed["front_loaded"]
    passed = recheck(study, ds, loss_sim=ds.loss_sim * 1.1)
    assert not passed["ode_vs_sgd_optimal"] and not passed["ode_vs_sgd_uncontrolled"]


def test_gain_easy_first_fails_with_aspects_swapped(run_quick, recheck):
    ds = run_quick("effort_gain").dataset
    swapped = (("control_time", "output"), ds.gain_output_theory.values[:, ::-1])
    passed = recheck(_study("effort_gain"), ds, gain_output_theory=swapped)
    assert not passed["easy_peaks_first"] and not passed["easy_earlier_mass"]


def test_learning_rate_front_loading_fails_when_reversed(run_quick, recheck):
    ds = run_quick("effort_learning_rate").dataset
    passed = recheck(_study("effort_learning_rate"), ds,
                     control_theory=(("control_time",), ds.control_theory.values[::-1]))
    assert not passed["front_loaded"]


def test_engagement_easy_first_fails_with_tasks_swapped(run_quick, recheck):
    ds = run_quick("effort_engagement").dataset
    swapped = (("variant", "control_time", "task"), ds.control_theory.values[..., ::-1])
    passed = recheck(_study("effort_engagement"), ds, control_theory=swapped)
    assert not passed["easy_first_active"] and not passed["hard_sustained"]


def test_category_order_fails_when_time_reversed(run_quick, recheck):
    ds = run_quick("effort_category").dataset
    reversed_ = (("control_time", "output"), ds.control_theory.values[::-1])
    assert not recheck(_study("effort_category"), ds,
                       control_theory=reversed_)["root_before_leaves"]


def test_maml_horizon_check_fails_when_values_reversed(run_quick, recheck):
    ds = run_quick("effort_maml").dataset
    v = ds.value_eval_theory.values.copy()
    v[1:] = v[1:][::-1]
    assert not recheck(_study("effort_maml"), ds,
                       value_eval_theory=(("init",), v))["longer_horizon_better"]


def test_continual_check_fails_with_conditions_swapped(run_quick, recheck):
    ds = run_quick("effort_continual").dataset
    swapped = (("condition", "time"), ds.loss_theory.values[::-1])
    assert not recheck(_study("effort_continual"), ds, loss_theory=swapped)["post_switch_lower"]


def test_results_carry_units_and_names(run_quick):
    for study in le.STUDIES:
        ds = run_quick(study).dataset
        for name in list(ds.data_vars) + list(ds.coords):
            assert ds[name].attrs.get("long_name"), (study, name)
    ds = run_quick("effort_gain").dataset
    assert np.allclose(ds.time.values, ds.step.values * 5e-3)
