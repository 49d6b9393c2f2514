"""The induction_heads study end to end (quick preset), its checks failing on broken data, and
the documented example of clamping a head during training."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import learndyn
from learndyn.core.config import ConfigError
from learndyn.induction_heads.study import INDUCTION_HEADS, InductionConfig, checks


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return learndyn.run("induction_heads", preset="quick",
                        out=tmp_path_factory.mktemp("runs") / "quick")


def test_quick_preset_passes_all_checks(quick):
    failed = [(c.name, c.value) for c in quick.checks if not c.passed]
    assert not failed, failed
    assert set(quick.figures) == {"loss", "heads", "ablations"}


def test_quick_dataset_layout(quick):
    ds = quick.dataset
    assert ds.loss_sim.dims == ("seed", "time", "evaluator")
    assert ds.induction_strength_sim.dims == ("seed", "time", "head")
    assert ds.copying_score_sim.dims == ("seed", "time", "layer", "head")
    assert ds.ablation_accuracy_sim.dims == ("seed", "head")
    assert np.array_equal(ds.time.values, ds.step.values * 32)
    # the initial loss is near ln L (uniform over 5 labels); the plateau sits near ln 2
    assert abs(float(ds.loss_sim.isel(time=0).mean()) - np.log(5)) < 0.5


def _broken(ds, **changes):
    ds = ds.copy(deep=True)
    for name, value in changes.items():
        ds[name] = value
    return {c.name: c.passed for c in checks(ds)}


def test_checks_can_fail(quick):
    ds = quick.dataset
    # a loss that decays smoothly from the start: no plateau, no abrupt drop
    t = ds.time / ds.time[-1]
    smooth = ds.loss_sim * 0 + np.log(5) * np.exp(-4 * t)
    res = _broken(ds, loss_sim=smooth, phase_change_time_sim=ds.phase_change_time_sim * 0
                  + float(ds.time[int(0.4 * ds.sizes["time"])]))
    assert not res["plateau length in [0.6, 0.8] / phase-change time (worst seed)"]
    # identical heads: no diversity
    same = ds.induction_strength_sim * 0 + 0.6
    assert not _broken(ds, induction_strength_sim=same)["strongest - weakest strength "
                                                        "(worst seed)"]
    # a head whose removal costs a lot: not redundant
    abl = ds.ablation_accuracy_sim.copy()
    abl[0, 0] = 0.5
    assert not _broken(ds, ablation_accuracy_sim=abl)[
        "largest accuracy drop from removing one head"]


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="'n_heads'"):
        InductionConfig(d_model=32, n_heads=3)
    with pytest.raises(ConfigError, match="'num_sequences'"):
        InductionConfig(num_sequences=100, eval_every=1000)
    with pytest.raises(ConfigError, match="'n_heldout_pairs'"):
        INDUCTION_HEADS.make_config("quick", overrides=["n_heldout_pairs=9"])


def test_docs_example_clamps_a_head_during_training():
    """The example of docs/induction_heads.md: clamp a layer-1 head to previous-token
    attention in every training step (inside the engine's jit + scan + vmap)."""
    from learndyn.core.engine import TrainState, gradient_step, simulate
    from learndyn.transformer import (
        Replace,
        TransformerConfig,
        data,
        init_params,
        loss,
        run_with_cache,
    )

    cfg = TransformerConfig(d_input=16, n_labels=5, d_model=16, n_heads=2)
    table = data.synthetic_table(n_train_classes=10, n_test_classes=1, n_train_exemplars=1,
                                 n_heldout_exemplars=2, dim=16, noise=0.3)
    pairs, _ = data.label_pairs(5, 2, seed=0)
    split = data.Split((0, 10), (0, 1), pairs)

    def sample(key, features, n=32):
        return data.sample(key, features, split, batch=n, n_pairs=2, n_labels=5)

    prev = jnp.broadcast_to(jnp.eye(5, k=-1).at[0, 0].set(1.0), (2, 5, 5))
    clamp = {"blocks.0.attn.hook_pattern": Replace(prev, jnp.array([True, False])[:, None, None])}
    opt = optax.adam(1e-3)
    step = gradient_step(lambda p, b: loss(p, b, cfg, interventions=clamp), opt, sample=sample)

    def init(key, features):
        params = init_params(key, cfg)
        return TrainState(params, opt.init(params))

    def observe(state, features):
        batch = sample(jax.random.key(0), features, 256)
        _, cache = run_with_cache(state.params, batch, cfg, interventions=clamp,
                                  names=["blocks.0.attn.hook_pattern"])
        return {"loss": loss(state.params, batch, cfg, interventions=clamp),
                "pattern": cache["blocks.0.attn.hook_pattern"][0]}

    rec = simulate(init, step, observe, seeds=[0, 1], record_at=np.array([0, 150, 300]),
                   args=jnp.asarray(table.features))
    assert rec.values["loss"].shape == (2, 3)
    assert np.all(rec.values["loss"][:, -1] < rec.values["loss"][:, 0])
    np.testing.assert_allclose(rec.values["pattern"][:, :, 0], np.broadcast_to(prev[0],
                                                                                (2, 3, 5, 5)))
