"""The coopetition toy: tensor losses, the exact overlap map, labels and the study's checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.icl_transience import toy
from learndyn.studies.icl_transience_toy import STUDY, ToyConfig

SIZES = (3, 4, 2, 5)


def _vectors(seed, sizes=SIZES):
    dims = dict(zip(toy.VECTORS, sizes))
    return toy.draw(seed, dims)


def _state(init, targets):
    """(s_v, P_v) and T_v of the overlap map from vectors."""
    t = np.array([targets[v] @ targets[v] for v in toy.VECTORS])
    s = np.array([init[v] @ targets[v] for v in toy.VECTORS]) / t
    p = np.array([np.sum((init[v] - s[i] * targets[v]) ** 2) for i, v in enumerate(toy.VECTORS)])
    return np.concatenate([s, p]), t


def _tensors(targets):
    return {f"{x}bc": jnp.einsum("i,j,k->ijk", targets[x], targets["b"], targets["c"]).reshape(
        len(targets[x]), -1) for x in "ad"}


HYPER = dict(mu1=0.3, mu2=0.05, alpha=0.7, lr=0.4)


def test_tensor_losses_match_the_definition():
    init, targets = _vectors(0)
    got = toy.tensor_losses({v: jnp.asarray(x) for v, x in init.items()}, _tensors(targets))
    a, b, c, d = (init[v] for v in toy.VECTORS)
    a_, b_, c_, d_ = (targets[v] for v in toy.VECTORS)
    l1 = 0.5 * np.mean((np.einsum("i,j,k", a_, b_, c_) - np.einsum("i,j,k", a, b, c)) ** 2)
    l2 = 0.5 * np.mean((np.einsum("i,j,k", d_, b_, c_) - np.einsum("i,j,k", d, b, c)) ** 2)
    assert float(got["loss_icl"]) == pytest.approx(l1, rel=1e-13)
    assert float(got["loss_ciwl"]) == pytest.approx(l2, rel=1e-13)
    assert float(got["cost"]) == pytest.approx(0.5 * np.mean(np.outer(a, d) ** 2), rel=1e-13)


def test_loss_gradient_matches_finite_differences():
    init, targets = _vectors(1)
    params = {v: jnp.asarray(x) for v, x in init.items()}
    tensors = _tensors(targets)
    f = lambda p: toy.loss(p, tensors, mu1=0.3, mu2=0.05, alpha=0.7)  # noqa: E731
    grad = jax.grad(f)(params)
    h = 1e-6
    for v in toy.VECTORS:
        for i in range(len(init[v])):
            up = {**params, v: params[v].at[i].add(h)}
            down = {**params, v: params[v].at[i].add(-h)}
            fd = (f(up) - f(down)) / (2 * h)
            assert float(grad[v][i]) == pytest.approx(float(fd), rel=1e-6, abs=1e-10)


def test_overlap_map_is_one_gradient_step_exactly():
    """Observables before the step equal the tensor ones; the mapped state equals the overlaps
    and orthogonal norms of the vectors after one autodiff gradient step."""
    for seed in range(3):
        init, targets = _vectors(seed)
        state, t = _state(init, targets)
        new, obs = toy.overlap_map(jnp.asarray(state), jnp.asarray(t), SIZES, **HYPER)
        params = {v: jnp.asarray(x) for v, x in init.items()}
        tensors = _tensors(targets)
        parts = toy.tensor_losses(params, tensors)
        for k in ("loss_icl", "loss_ciwl", "cost"):
            assert float(obs[k]) == pytest.approx(float(parts[k]), rel=1e-12)
        grads = jax.grad(toy.loss)(params, tensors, mu1=HYPER["mu1"], mu2=HYPER["mu2"],
                                   alpha=HYPER["alpha"])
        after = {v: np.asarray(params[v] - HYPER["lr"] * grads[v]) for v in toy.VECTORS}
        want, _ = _state(after, targets)
        np.testing.assert_allclose(np.asarray(new), want, rtol=1e-11, atol=1e-14)


def test_simulate_and_theory_share_the_contract_and_agree():
    init, targets = toy.draw(3)
    kw = dict(mu1=0.1, mu2=0.0, alpha=0.1, lr=1.0, steps=600, record_every=50)
    sim = toy.simulate(init, targets, **kw)
    th = toy.theory(init, targets, **kw)
    for k in toy.OBSERVABLES:
        assert sim[k].shape == th[k].shape == (13,)
        scale = np.max(np.abs(th[k]))
        assert np.max(np.abs(sim[k] - th[k])) <= 1e-10 * scale, k
    # records are taken before the step: record 0 is the initial loss
    l0 = toy.tensor_losses({v: jnp.asarray(x) for v, x in init.items()}, _tensors(targets))
    assert sim["loss_icl"][0] == pytest.approx(float(l0["loss_icl"]), rel=1e-12)


def test_theory_of_many_runs_matches_one_at_a_time():
    draws = [toy.draw(s, dict(zip(toy.VECTORS, SIZES))) for s in range(2)]
    init = {v: np.stack([d[0][v] for d in draws]) for v in toy.VECTORS}
    targets = {v: np.stack([d[1][v] for d in draws]) for v in toy.VECTORS}
    both = toy.theory(init, targets, mu1=[0.1, 0.0], alpha=0.2, steps=40, record_every=10)
    one = toy.theory(draws[1][0], draws[1][1], mu1=0.0, alpha=0.2, steps=40, record_every=10)
    assert both["loss_icl"].shape == (2, 5)
    np.testing.assert_allclose(both["loss_icl"][1], one["loss_icl"], rtol=1e-14)


def test_mu1_zero_trajectories_are_sensitive_to_rounding():
    """The reason whole trajectories of the mu1 = 0 control are not compared: the map against
    itself, started 1e-15 apart, separates by far more than 1e-8 (loss spikes at lr 1)."""
    init, targets = toy.draw(10)
    kw = dict(mu1=0.0, mu2=0.0, alpha=0.1, lr=1.0, steps=16000, record_every=50)
    a = toy.theory(init, targets, **kw)
    b = toy.theory({v: x * (1 + 1e-15) for v, x in init.items()}, targets, **kw)
    gap = np.max(np.abs(a["loss_ciwl"] - b["loss_ciwl"])) / np.max(np.abs(a["loss_ciwl"]))
    assert gap > 1e-4
    c = toy.theory({v: x * (1 + 1e-15) for v, x in init.items()}, targets,
                   **{**kw, "mu1": 0.1})
    d = toy.theory(init, targets, **{**kw, "mu1": 0.1})
    assert np.max(np.abs(c["loss_ciwl"] - d["loss_ciwl"])) <= 1e-10 * np.max(d["loss_ciwl"])


def test_labels_on_hand_made_curves():
    steps = np.arange(6) * 10
    none = np.array([1.0, 1.0, 1.0])
    icl = np.array([[2, 1, 0.01, 0.5, 0.9, 1.0],     # emerges, then rebounds: transient
                    [2, 1, 0.01, 0.01, 0.01, 0.01],  # persists
                    [2, 1, 1, 1, 1, 1.0]])           # never emerges
    ciwl = np.array([[2, 1, 0.5, 0.01, 0.001, 0.0],
                     [2, 1, 1, 1, 1, 1.0],
                     [2, 1, 0.5, 0.01, 0.0, 0.0]])
    lab = toy.labels(steps, icl, ciwl, none, none)
    assert lab["transient"].tolist() == [True, False, False]
    assert lab["icl_emerged"].tolist() == [True, True, False]
    assert lab["ciwl_completed"].tolist() == [True, False, True]
    assert lab["t_icl"][0] == 20 and lab["t_ciwl"][0] == 30 and np.isnan(lab["t_ciwl"][1])
    np.testing.assert_allclose(lab["icl_rebound"], [1.0, 0.01, 1.0])


def test_no_mechanism_losses():
    init, targets = _vectors(2)
    t = np.array([targets[v] @ targets[v] for v in toy.VECTORS])
    l1, l2 = toy.no_mechanism_losses(t, SIZES)
    zero_a = {**init, "a": np.zeros(SIZES[0]), "d": np.zeros(SIZES[3])}
    got = toy.tensor_losses({v: jnp.asarray(x) for v, x in zero_a.items()}, _tensors(targets))
    assert l1 == pytest.approx(float(got["loss_icl"]), rel=1e-13)
    assert l2 == pytest.approx(float(got["loss_ciwl"]), rel=1e-13)


def test_bad_input_is_one_config_error():
    init, targets = toy.draw(0)
    with pytest.raises(ConfigError, match="multiple of record_every"):
        toy.simulate(init, targets, steps=100, record_every=30)
    with pytest.raises(ConfigError, match="targets\\['d'\\]"):
        toy.theory(init, {**targets, "d": targets["d"][:5]}, steps=10, record_every=5)
    with pytest.raises(ConfigError, match="'sizes'"):
        ToyConfig(sizes=(20, 20, 160))
    with pytest.raises(ConfigError, match="'record_every'"):
        ToyConfig(num_steps=1000, record_every=300)
    with pytest.raises(ConfigError, match="'alpha'"):
        ToyConfig(alpha=-0.1)


# ---- the study ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("icl_transience_toy")


def test_quick_layout_and_labels(quick):
    ds = quick.dataset
    assert list(ds.condition.values) == ["coopetition", "alpha_0", "mu1_0"]
    assert ds.loss_icl_sim.dims == ("condition", "seed", "time")
    assert ds.overlap_theory.dims == ("condition", "seed", "time", "vector")
    assert ds.sizes["seed"] == 12 and ds.time.values[-1] == 16000
    for name in ds.data_vars:
        assert ds[name].attrs.get("long_name"), name
    assert ds.time.attrs["units"] == "steps"
    # labels from the theory and from the simulation agree in the two non-chaotic runs
    for q in ("transient", "icl_emerged", "ciwl_completed"):
        sel = dict(condition=["coopetition", "alpha_0"])
        assert (ds[f"{q}_sim"].sel(**sel) == ds[f"{q}_theory"].sel(**sel)).all(), q


def test_checks_fail_on_broken_results(quick, recheck):
    ds = quick.dataset
    # a theory that is off by 1e-6 relative is not exact
    assert not recheck(STUDY, ds, loss_icl_theory=ds.loss_icl_theory * (1 + 1e-6))[
        "exact_trajectory"]
    # no seed transient (ICL never fades)
    assert not recheck(STUDY, ds, transient_sim=ds.transient_sim & False)["transient_seeds"]
    # alpha = 0 with ICL fading
    rebound = ds.icl_rebound_sim.copy()
    rebound.loc[dict(condition="alpha_0")] = 1.0
    assert not recheck(STUDY, ds, icl_rebound_sim=rebound)["alpha0_no_rebound"]
    # mu1 = 0 with CIWL taking over in the ICL seeds
    ciwl = ds.loss_ciwl_sim.copy()
    ciwl.loc[dict(condition="mu1_0")] = ciwl.sel(condition="mu1_0") * 0.01
    assert not recheck(STUDY, ds, loss_ciwl_sim=ciwl)["mu1_0_ciwl_never"]
    # a control where ICL never emerged cannot pass vacuously
    emerged = ds.icl_emerged_sim & False
    res = recheck(STUDY, ds, icl_emerged_sim=emerged)
    assert not res["alpha0_no_rebound"] and not res["mu1_0_icl_persists"]
    assert not recheck(STUDY, ds, map_one_record_error=ds.map_one_record_error + 1e-6)[
        "exact_map_per_record"]


def test_run_batch_is_run_per_config_in_one_program():
    """alpha, mu1, mu2 and lr are traced: a batch of configs (what a sweep over
    ``batch_fields`` runs) is one vmapped program and gives each config's own run."""
    from learndyn.core import engine

    c1 = ToyConfig(sizes=(10, 10, 10, 40), lr=0.5, num_steps=200, record_every=50)
    c2 = c1.replace(alpha=0.3, mu1=0.2, mu2=0.05, lr=0.4)
    with jax.enable_x64(True):
        singles = [STUDY.run(c, seeds=[0, 1]) for c in (c1, c2)]
        compiled = engine._advance._cache_size()
        batch = STUDY.run_batch([c1, c2], seeds=[0, 1])
        assert engine._advance._cache_size() == compiled + 1  # 6 conditions, not 3
    for ds, single in zip(batch, singles):
        for name in ("loss_icl_sim", "overlap_sim", "loss_theory", "map_one_record_error"):
            np.testing.assert_allclose(ds[name].values, single[name].values, rtol=1e-10,
                                       atol=1e-13)
    with pytest.raises(ConfigError, match="controls"):
        STUDY.run_batch([c1, c1.replace(controls=False)], seeds=[0])


def test_sweep_over_batch_fields_is_one_task_and_one_program(store_home, tmp_path):
    """A grid over alpha and lr (batch fields) plans one task, which compiles one training
    program for all its points, and each point equals its own run."""
    import learndyn
    from learndyn.core import engine
    from learndyn.core import sweep as sweeps

    small = {"sizes": (10, 10, 10, 40), "num_steps": 200, "record_every": 50}
    grid = {"alpha": [0.1, 0.3], "lr": [0.5, 0.4]}
    base = STUDY.make_config("quick", values=small)
    tasks = sweeps.plan(STUDY, "x:y", base, grid, [0, 1], tmp_path, "v")
    assert len(tasks) == 1 and len(tasks[0].points) == 4
    before = engine._advance._cache_size()
    swept = learndyn.sweep("icl_transience_toy", grid=grid, seeds=2, overrides=small,
                           out=tmp_path / "sweep")
    assert engine._advance._cache_size() - before == 1
    single = learndyn.run("icl_transience_toy", seeds=2,
                          overrides={**small, "alpha": 0.3, "lr": 0.4}, out=tmp_path / "one")
    got = swept.dataset.sel(alpha=0.3, lr=0.4)
    for name in ("loss_icl_sim", "overlap_sim", "loss_theory"):
        np.testing.assert_allclose(got[name].values, single.dataset[name].values, rtol=1e-10,
                                   atol=1e-13)
