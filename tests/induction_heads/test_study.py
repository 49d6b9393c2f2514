"""The induction_heads study end to end (quick preset), its checks failing on broken data, and
the README example of clamping a head during training."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.studies.induction_heads import STUDY, InductionConfig


@pytest.fixture(scope="module")
def quick(run_quick):
    return run_quick("induction_heads")


def test_quick_dataset_layout(quick):
    ds = quick.dataset
    assert ds.loss_sim.dims == ("seed", "time", "evaluator")
    assert ds.induction_strength_sim.dims == ("seed", "time", "head")
    assert ds.copying_score_sim.dims == ("seed", "time", "layer", "head")
    assert ds.ablation_accuracy_sim.dims == ("seed", "head")
    assert np.array_equal(ds.time.values, ds.step.values * 32)
    # the initial loss is near ln L (uniform over 5 labels); the plateau sits near ln 2
    assert abs(float(ds.loss_sim.isel(time=0).mean()) - np.log(5)) < 0.5


def test_checks_can_fail(quick, recheck):
    ds = quick.dataset
    # a loss that decays smoothly from the start: no plateau, no abrupt drop
    t = ds.time / ds.time[-1]
    smooth = ds.loss_sim * 0 + np.log(5) * np.exp(-4 * t)
    res = recheck(STUDY, ds, loss_sim=smooth, phase_change_time_sim=ds.phase_change_time_sim * 0
                  + float(ds.time[int(0.4 * ds.sizes["time"])]))
    assert not res["plateau"]
    # identical heads: no diversity
    same = ds.induction_strength_sim * 0 + 0.6
    res = recheck(STUDY, ds, induction_strength_sim=same)
    assert not res["head_diversity"]
    # a head whose removal costs a lot: not redundant
    abl = ds.ablation_accuracy_sim.copy()
    abl[0, 0] = 0.5
    assert not recheck(STUDY, ds, ablation_accuracy_sim=abl)["remove_one_head"]
    # only two induction heads
    few = ds.induction_strength_sim.copy()
    few[:, :, 2:] = 0.0
    assert not recheck(STUDY, ds, induction_strength_sim=few)["induction_head_count"]


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="'n_heads'"):
        InductionConfig(d_model=32, n_heads=3)
    with pytest.raises(ConfigError, match="'num_sequences'"):
        InductionConfig(num_sequences=100, eval_every=1000)
    with pytest.raises(ConfigError, match="'n_heldout_pairs'"):
        STUDY.make_config("quick", overrides=["n_heldout_pairs=9"])


def test_readme_example_clamps_a_head_during_training():
    """The README example: clamp a layer-1 head to previous-token attention in every training
    step (inside the engine's jit + scan + vmap); the head stays clamped, the other learns."""
    from learndyn.transformer import run_with_cache

    readme = Path(__file__).resolve().parents[2] / "README.md"
    section = readme.read_text().split("### Clamping a head during training", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    ns: dict = {}
    exec(compile(code, str(readme), "exec"), ns)
    rec, cfg, clamp, prev = ns["rec"], ns["cfg"], ns["clamp"], ns["prev"]
    loss = rec.values["loss"]
    assert loss.shape == (2, 3)
    assert np.all(loss[:, -1] < loss[:, 0])
    batch = ns["sample"](jax.random.key(1), jnp.asarray(ns["table"].features), 8)
    for seed in range(2):
        params = jax.tree.map(lambda x, s=seed: x[s], rec.final.params)
        _, cache = run_with_cache(params, batch, cfg, interventions=clamp,
                                  names=["blocks.0.attn.hook_pattern"])
        pattern = np.asarray(cache["blocks.0.attn.hook_pattern"])   # [batch, head, q, k]
        np.testing.assert_allclose(pattern[:, 0], np.broadcast_to(prev[0], pattern[:, 0].shape))
        assert np.abs(pattern[:, 1] - np.asarray(prev[1])[None]).max() > 0.1


def test_every_variable_is_described(quick):
    ds = quick.dataset
    for name in [*ds.data_vars, *ds.coords]:
        assert ds[name].attrs.get("long_name"), name
    assert ds.time.attrs["units"] == "sequences"


def test_data_fields_share_one_compiled_program():
    """Configs differing only in the data or its seeds share the compiled program (a sweep
    over them compiles once); a shape change is refused by run_batch."""
    from learndyn.induction_heads.simulate import DATA_FIELDS, TINY, programs, run_each

    base = InductionConfig(**TINY)
    other = base.replace(data_seed=5, pair_seed=2, eval_seed=7, exemplar_noise=0.1)
    assert set(DATA_FIELDS) <= set(InductionConfig.field_names())
    assert programs(base) is programs(other)
    assert programs(base) is not programs(base.replace(n_heads=4))
    with pytest.raises(ConfigError, match="n_heads"):
        run_each(None, [base, base.replace(n_heads=4)], seeds=[0])


def test_docs_example_runs():
    """The transformer example of docs/induction_heads.md."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "induction_heads.md"
    code = re.search(r"```python\n(.*?)```", doc.read_text(), re.S).group(1)
    ns: dict = {}
    exec(compile(code, str(doc), "exec"), ns)
    assert ns["cache"]["blocks.1.attn.hook_pattern"].shape == (8, 8, 5, 5)
    assert ns["logits"].shape == (8, 1, 5)
