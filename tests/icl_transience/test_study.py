"""L2 penalty forms, checkpointed training and the icl_transience smoke study."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from learndyn.core.config import ConfigError
from learndyn.icl_transience import model, observables, simulate
from learndyn.studies.icl_transience import STUDY, TransienceConfig

TREE = {"embed": {"W_x": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b_x": jnp.array([0.3, -0.4])},
        "blocks": [{"attn": {"W_Q": jnp.array([[[2.0]], [[-1.0]]])},
                    "ln1": {"w": jnp.array([1.0, 1.0]), "b": jnp.zeros(2)}}]}


def test_frobenius_sum_all_is_the_reference_definition():
    leaves = [np.asarray(x) for x in jax.tree.leaves(TREE)]
    want = sum(np.sqrt(np.sum(x**2)) for x in leaves)  # zero arrays contribute 0
    assert float(model.penalty(TREE, form="frobenius_sum", scope="all")) == pytest.approx(want)
    grad = jax.grad(lambda p: model.penalty(p, form="frobenius_sum", scope="all"))(TREE)
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grad))
    assert float(jnp.abs(grad["blocks"][0]["ln1"]["b"]).max()) == 0.0  # all-zero: no gradient
    weights = [np.asarray(TREE["embed"]["W_x"]), np.asarray(TREE["blocks"][0]["attn"]["W_Q"])]
    assert float(model.penalty(TREE, form="squared", scope="weights")) == pytest.approx(
        0.5 * sum(np.sum(w**2) for w in weights))


@pytest.mark.parametrize("form", ["squared", "frobenius_sum"])
@pytest.mark.parametrize("scope", ["weights", "all"])
def test_penalty_gradients_match_finite_differences(form, scope):
    tree = jax.tree.map(lambda x: x + 0.1, TREE)  # no exact zeros
    flat, unravel = jax.flatten_util.ravel_pytree(tree)
    f = lambda v: model.penalty(unravel(v), form=form, scope=scope)  # noqa: E731
    grad = jax.grad(f)(flat)
    h = 1e-6
    fd = np.array([(f(flat.at[i].add(h)) - f(flat.at[i].add(-h))) / (2 * h)
                   for i in range(len(flat))])
    np.testing.assert_allclose(np.asarray(grad), fd, rtol=1e-6, atol=1e-9)


def test_decoupled_squared_is_adamw():
    params = jax.tree.map(lambda x: x + 0.1, TREE)
    grads = jax.tree.map(lambda x: 0.3 * x - 0.05, params)
    mask = jax.tree_util.tree_map_with_path(lambda p, _: model.in_scope(p, "weights"), params)
    ours = model.optimizer(1e-2, lam=0.1, form="squared", scope="weights", coupling="decoupled")
    ref = optax.adamw(1e-2, weight_decay=0.1, mask=mask)
    u1, _ = ours.update(grads, ours.init(params), params)
    u2, _ = ref.update(grads, ref.init(params), params)
    for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-15)


TINY = dict(feature_dim=8, n_classes=16, n_holdout_classes=4, n_exemplars=3, d_model=8,
            n_heads=2, lr=1e-3, num_sequences=640, eval_every=160, n_eval=16,
            evaluators=("icl", "iwl", "train_eval"), checks="smoke", l2=(0.0, 0.01))


def test_checkpointed_run_resumes_where_it_stopped(store_home, monkeypatch):
    config = TransienceConfig(**TINY, checkpoint_every=320)
    steps, whole = simulate.train(config, [0, 1], match_query=False)
    assert whole["ce"].shape == (2, len(steps), 2, 3)
    assert not list((store_home / "checkpoints").glob("*.npz"))  # removed when complete
    save = simulate._save
    calls = []

    def crash_after_first(*a, **k):
        save(*a, **k)
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(simulate, "_save", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        simulate.train(config, [0, 1], match_query=False)
    monkeypatch.setattr(simulate, "_save", save)
    _, resumed = simulate.train(config, [0, 1], match_query=False)
    assert calls == [1]
    assert not list((store_home / "checkpoints").glob("*.npz"))
    for k in whole:
        np.testing.assert_allclose(resumed[k], whole[k], rtol=1e-6)
    # the two coefficients train different models from the same start on the same batches
    np.testing.assert_array_equal(whole["ce"][:, 0, 0], whole["ce"][:, 0, 1])
    assert not np.allclose(whole["ce"][:, -1, 0], whole["ce"][:, -1, 1], rtol=1e-5)


def test_data_fields_share_one_compiled_program(store_home):
    """A batch over the data fields (what a sweep over ``batch_fields`` runs) traces and
    compiles the training program once and gives each config its own run; a shape change is
    refused."""
    from learndyn.core import engine

    base = TransienceConfig(**{**TINY, "l2": (0.0,)})
    other = base.replace(data_seed=3, eval_seed=5, exemplar_noise=0.2)
    assert set(simulate.DATA_FIELDS) == set(STUDY.batch_fields)
    assert simulate.programs(base, False, False) is simulate.programs(other, False, False)
    assert simulate.programs(base, False, False) is not simulate.programs(
        base.replace(lr=2e-3), False, False)
    alone = STUDY.run(base, seeds=[0])
    compiled = engine._advance._cache_size()
    batch = STUDY.run_batch([base, other], seeds=[0])
    assert engine._advance._cache_size() == compiled
    np.testing.assert_array_equal(batch[0].ce_sim, alone.ce_sim)
    assert not np.allclose(batch[1].ce_sim, alone.ce_sim)
    with pytest.raises(ConfigError, match="n_heads"):
        STUDY.run_batch([base, base.replace(n_heads=4)], seeds=[0])


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("icl_transience")


def test_quick_layout(quick):
    ds = quick.dataset
    assert ds.ce_sim.dims == ("variant", "seed", "time", "evaluator")
    assert list(ds.evaluator.values) == ["icl", "icl_holdout", "flip", "iwl", "ciwl",
                                         "train_eval"]
    assert np.array_equal(ds.time.values, ds.step.values * 32)
    assert list(ds.step.values) == [0, 100, 200, 300]
    assert ds.attrs["l2_form"] == "squared" and ds.attrs["l2_coupling"] == "coupled"
    # at step 0 the cross-entropy is near ln K
    assert abs(float(ds.ce_sim.isel(time=0).mean()) - np.log(512)) < 0.5


def test_smoke_checks_can_fail(quick, recheck):
    ds = quick.dataset
    broken = ds.ce_sim.copy()
    broken[0, 0, 1, 0] = np.nan
    assert not recheck(STUDY, ds, ce_sim=broken)["finite"]
    flat = ds.ce_sim.copy()
    flat[:] = 5.0
    assert not recheck(STUDY, ds, ce_sim=flat)["train_ce_falls"]
    ctx = ds.in_context_accuracy_sim.copy()
    ctx.loc[dict(evaluator="icl")] = 0.95
    ctx.loc[dict(evaluator="flip")] = 0.95
    res = recheck(STUDY, ds, in_context_accuracy_sim=ctx)
    assert not res["icl_chance_at_init"] and not res["flip_chance_at_init"]
    acc = ds.accuracy_sim.copy()
    acc.loc[dict(evaluator="iwl")] = 0.5
    assert not recheck(STUDY, ds, accuracy_sim=acc)["iwl_chance_at_init"]
    acc[:] = 1.2
    assert not recheck(STUDY, ds, accuracy_sim=acc)["accuracies_in_unit_interval"]


def test_paper_checks_read_a_transient_run(quick, recheck):
    """The paper's checks on hand-made curves: a transient run passes, a persistent one not."""
    ds = quick.dataset.copy(deep=True)
    ds.attrs["config"] = STUDY.config_of(ds).replace(checks="paper").to_json()
    ctx = ds.in_context_accuracy_sim.copy()
    ctx.loc[dict(evaluator="icl")] = np.array([0.5, 0.9, 0.6, 0.5])
    ctx.loc[dict(evaluator="flip")] = np.array([0.5, 0.8, 0.3, 0.1])
    acc = ds.accuracy_sim.copy()
    acc.loc[dict(evaluator="ciwl")] = np.array([0.0, 0.5, 0.9, 0.95])
    acc.loc[dict(evaluator="iwl")] = np.array([0.0, 0.0, 0.05, 0.1])
    ce = ds.ce_sim.copy()
    ce.loc[dict(evaluator="train_eval")] = np.array([6.0, 3.0, 2.0, 1.5])
    summ = observables.summaries(ds.time.values, ctx.sel(evaluator="icl").values)
    changes = dict(in_context_accuracy_sim=ctx, accuracy_sim=acc, ce_sim=ce,
                   **{f"{k}_sim": (("variant", "seed"), v) for k, v in summ.items()})
    res = recheck(STUDY, ds, **changes)
    assert all(res[k] for k in ("icl_emerges", "icl_fades", "train_ce_keeps_falling",
                                "flip_peak", "flip_final", "ciwl_final", "iwl_final")), res
    ctx.loc[dict(evaluator="icl")] = np.array([0.5, 0.9, 0.9, 0.9])
    assert not recheck(STUDY, ds, **{**changes, "in_context_accuracy_sim": ctx})["icl_fades"]
