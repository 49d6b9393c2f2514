"""Clamp interventions on a small model: each condition does what it says, gradients flow."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.induction_heads.clamps import clamp_interventions, condition_flags
from learndyn.transformer import TransformerConfig, data, forward, init_params, loss
from learndyn.transformer import run_with_cache as _rwc

CFG = TransformerConfig(d_input=6, n_labels=5, d_model=8, n_heads=2, dtype="float64")
HEADS_ON = jnp.array([0.0, 1.0])  # layer-2 head 1 active, head 0 value-ablated
PAT = ("blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern", "hook_logits")
run_with_cache = jax.jit(_rwc, static_argnames=("cfg", "names"))


@pytest.fixture(scope="module")
def setup():
    table = data.synthetic_table(n_train_classes=10, n_test_classes=2, n_train_exemplars=1,
                                 n_heldout_exemplars=2, dim=6, noise=0.3)
    pairs, _ = data.label_pairs(5, 2, seed=0)
    batch = data.sample(jax.random.key(0), table.features, data.Split((0, 10), (0, 1), pairs),
                        batch=8, n_pairs=2, n_labels=5)
    batch = {k: (v.astype(jnp.float64) if v.dtype == jnp.float32 else v) for k, v in batch.items()}
    return init_params(jax.random.key(1), CFG), batch


def _iv(condition):
    flags = {k: jnp.asarray(v) for k, v in condition_flags(condition).items()}
    return clamp_interventions(n_heads=2, flags=flags, heads_on=HEADS_ON, pt_head=0,
                               active_head=1)


def test_no_clamp_is_the_plain_network_with_heads_ablated(setup):
    params, batch = setup
    from learndyn.transformer import ablate_heads

    np.testing.assert_allclose(forward(params, batch, CFG, interventions=_iv("none")),
                               forward(params, batch, CFG, interventions=ablate_heads(1, [0],
                                                                                     n_heads=2)),
                               atol=1e-12)


def test_each_clamp_sets_its_activation(setup):
    params, batch = setup
    t = 5
    _, c = run_with_cache(params, batch, CFG, names=PAT, interventions=_iv("pt_head"))
    shift = np.eye(t, k=-1)
    shift[0, 0] = 1.0
    np.testing.assert_allclose(c[PAT[0]][:, 0], np.broadcast_to(shift, (8, t, t)))
    assert not np.allclose(c[PAT[0]][:, 1], shift)  # the other layer-1 head is free

    _, c = run_with_cache(params, batch, CFG, names=PAT, interventions=_iv("match"))
    row = c[PAT[1]][:, 1, -1]  # active head, query row
    right = 2 * np.asarray(batch["slot"]) + 1
    np.testing.assert_allclose(row, jax.nn.one_hot(right, t), atol=1e-12)

    _, c = run_with_cache(params, batch, CFG, names=PAT, interventions=_iv("copy"))
    logits = np.asarray(c["hook_logits"][:, 0])
    in_ctx = np.zeros((8, 5), bool)
    in_ctx[np.arange(8)[:, None], np.asarray(batch["labels"])] = True
    assert np.all(logits[~in_ctx] == -1e9) and np.all(np.abs(logits[in_ctx]) < 100)


def test_layer1_clamp_silences_layer1_but_layer2_keeps_learning(setup):
    params, batch = setup
    for cond in ("layer1", "layer1_copy"):
        g = jax.grad(loss)(params, batch, CFG, interventions=_iv(cond))
        assert all(np.all(x == 0) for x in jax.tree.leaves(g["blocks"][0])), cond
        # layer-2 queries learn through the pattern pass (no stop-gradient)
        assert np.any(g["blocks"][1]["attn"]["W_Q"][1] != 0), cond
    g = jax.grad(loss)(params, batch, CFG, interventions=_iv("none"))
    assert np.any(g["blocks"][0]["attn"]["W_Q"] != 0)


def test_copy_clamp_leaves_only_qk_to_learn(setup):
    params, batch = setup
    g = jax.grad(loss)(params, batch, CFG, interventions=_iv("copy"))
    assert np.all(g["blocks"][1]["attn"]["W_V"] == 0) and np.all(g["unembed"]["W_U"] == 0)
    assert np.any(g["blocks"][1]["attn"]["W_Q"][1] != 0)
