"""The hooked transformer: hook names, caching, interventions under jit/vmap/grad, data."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from learndyn.core.config import ConfigError
from learndyn.transformer import (
    Apply,
    Replace,
    TransformerConfig,
    ablate_heads,
    data,
    forward,
    hook_names,
    init_params,
    keep_only_heads,
    loss,
    preserve_from_clean,
    run_with_cache,
)

CFG = TransformerConfig(d_input=6, n_labels=5, d_model=8, n_heads=2, dtype="float64")
N_PAIRS = 2

EXPECTED_NAMES = (
    "hook_embed",
    *[f"blocks.{l}.{n}" for l in (0, 1) for n in (
        "hook_resid_pre", "ln1.hook_normalized", "attn.hook_q", "attn.hook_k", "attn.hook_v",
        "attn.hook_rot_q", "attn.hook_rot_k", "attn.hook_attn_scores", "attn.hook_pattern",
        "attn.hook_z", "attn.hook_result", "hook_attn_out", "hook_resid_mid",
        "hook_resid_post")],
    "ln_final.hook_normalized",
    "hook_logits",
)


def _batch(cfg=CFG, n=4, seed=0, n_pairs=N_PAIRS):
    table = data.synthetic_table(n_train_classes=10, n_test_classes=2, n_train_exemplars=1,
                                 n_heldout_exemplars=2, dim=cfg.d_input, noise=0.3)
    pairs, _ = data.label_pairs(cfg.n_labels, 2, seed=0)
    split = data.Split((0, 10), (0, 1), pairs)
    batch = data.sample(jax.random.key(seed), table.features, split, batch=n, n_pairs=n_pairs,
                        n_labels=cfg.n_labels)
    return {k: (v.astype(jnp.float64) if v.dtype == jnp.float32 else v) for k, v in batch.items()}


@pytest.fixture(scope="module")
def setup():
    params = init_params(jax.random.key(1), CFG)
    batch = _batch()
    return params, batch


def test_hook_names_are_stable_and_documented():
    assert hook_names(CFG) == EXPECTED_NAMES
    import learndyn.transformer.model as m

    for name in EXPECTED_NAMES:  # every name appears in the module docstring
        assert name.split(".")[-1] in m.__doc__
    mlp = TransformerConfig(d_input=6, d_model=8, n_heads=2, d_mlp=16, positional="learned",
                            n_layers=1)
    assert hook_names(mlp) == (
        "hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre", "blocks.0.ln1.hook_normalized",
        "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v",
        "blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
        "blocks.0.attn.hook_result", "blocks.0.hook_attn_out", "blocks.0.hook_resid_mid",
        "blocks.0.ln2.hook_normalized", "blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_post",
        "blocks.0.hook_mlp_out", "blocks.0.hook_resid_post", "ln_final.hook_normalized",
        "hook_logits")


@pytest.mark.parametrize("positional,d_mlp", [("rope", 0), ("learned", 12), ("sinusoidal", 0)])
def test_cache_has_every_hook_with_its_shape(positional, d_mlp):
    cfg = TransformerConfig(d_input=6, n_labels=5, d_model=8, n_heads=2, d_mlp=d_mlp,
                            positional=positional, dtype="float64")
    params = init_params(jax.random.key(0), cfg)
    batch = _batch(cfg)  # the shapes of the other tests: eager primitives are compiled once
    logits, cache = run_with_cache(params, batch, cfg)
    assert set(cache) == set(hook_names(cfg))
    b, t, h, e, d = 4, 5, 2, 4, 8
    shapes = {"hook_embed": (b, t, d), "hook_pos_embed": (b, t, d),
              "ln_final.hook_normalized": (b, t, d), "hook_logits": (b, 1, 5)}
    for l in (0, 1):
        p = f"blocks.{l}."
        shapes.update({p + n: (b, t, d) for n in (
            "hook_resid_pre", "ln1.hook_normalized", "hook_attn_out", "hook_resid_mid",
            "hook_resid_post", "ln2.hook_normalized", "hook_mlp_out")})
        shapes.update({p + f"attn.hook_{n}": (b, t, h, e) for n in ("q", "k", "v", "rot_q",
                                                                    "rot_k", "z")})
        shapes.update({p + "attn.hook_attn_scores": (b, h, t, t),
                       p + "attn.hook_pattern": (b, h, t, t),
                       p + "attn.hook_result": (b, t, h, d),
                       p + "mlp.hook_pre": (b, t, d_mlp), p + "mlp.hook_post": (b, t, d_mlp)})
    for name, value in cache.items():
        assert value.shape == shapes[name], name
    assert logits.shape == (4, 1, 5)
    np.testing.assert_allclose(cache["blocks.1.attn.hook_pattern"].sum(-1), 1.0, atol=1e-12)
    # per-head results add up to the attention output
    np.testing.assert_allclose(cache["blocks.0.attn.hook_result"].sum(2),
                               cache["blocks.0.hook_attn_out"], atol=1e-12)
    # a selection keeps only what was asked for
    _, some = run_with_cache(params, batch, cfg, names=["blocks.1.attn.hook_pattern"])
    assert list(some) == ["blocks.1.attn.hook_pattern"]


def test_unknown_hook_name_is_a_config_error(setup):
    params, batch = setup
    with pytest.raises(ConfigError, match="unknown hook point 'blocks.2.hook_resid_pre'"):
        forward(params, batch, CFG, interventions={"blocks.2.hook_resid_pre": Replace(0.0)})
    with pytest.raises(ConfigError, match="unknown hook point"):
        run_with_cache(params, batch, CFG, names=["blocks.0.attn.hook_pattrn"])


def test_replace_with_own_cached_value_changes_nothing_bit_for_bit(setup):
    params, batch = setup
    clean = forward(params, batch, CFG)
    names = hook_names(CFG)
    plain = [n for n in names if not n.endswith("hook_result")]
    ref, cache = run_with_cache(params, batch, CFG, names=plain)
    assert np.array_equal(ref, clean)  # caching changes nothing ...
    full, cache_all = run_with_cache(params, batch, CFG)
    np.testing.assert_allclose(full, clean, atol=1e-12)  # ... (per-head results are summed)
    # every hook replaced by its own clean value at once: the cache records each activation
    # after its intervention, so a Replace that altered any one of them shows up there
    iv = {n: Replace(cache_all[n], batched=True) for n in names}
    out, after = run_with_cache(params, batch, CFG, interventions=iv)
    assert np.array_equal(out, full)
    for n in names:
        assert np.array_equal(after[n], cache_all[n]), n
    iv = {n: Replace(cache[n], batched=True) for n in plain}
    assert np.array_equal(forward(params, batch, CFG, interventions=iv), clean)
    mask = jnp.zeros((1, 1, 1), bool)  # all-false mask
    iv = {"blocks.0.attn.hook_pattern": Replace(jnp.ones((1, 1, 1)), mask)}
    assert np.array_equal(forward(params, batch, CFG, interventions=iv), clean)


def test_zeroing_a_head_equals_removing_it(setup):
    params, batch = setup
    _, cache = run_with_cache(params, batch, CFG)
    _, ablated = run_with_cache(params, batch, CFG, interventions=ablate_heads(0, [1], n_heads=2))
    # layer-0 output without head 1 is the sum of the other heads' results
    np.testing.assert_allclose(ablated["blocks.0.hook_attn_out"],
                               cache["blocks.0.attn.hook_result"][:, :, 0], atol=1e-12)
    # and the whole network equals one whose head 1 has no output weights
    removed = jax.tree.map(lambda x: x, params)
    removed["blocks"][0]["attn"]["W_O"] = params["blocks"][0]["attn"]["W_O"].at[1].set(0.0)
    np.testing.assert_allclose(
        forward(params, batch, CFG, interventions=ablate_heads(0, [1], n_heads=2)),
        forward(removed, batch, CFG), atol=1e-12)
    keep = forward(params, batch, CFG, interventions=keep_only_heads(0, [0], n_heads=2))
    np.testing.assert_allclose(keep, forward(removed, batch, CFG), atol=1e-12)
    assert not np.allclose(keep, forward(params, batch, CFG))


def test_interventions_under_jit_do_not_retrace_when_values_change(setup):
    params, batch = setup
    traces = []

    @jax.jit
    def f(params, value, mask):
        traces.append(1)
        iv = {"blocks.1.attn.hook_pattern": Replace(value, mask)}
        return forward(params, batch, CFG, interventions=iv)

    t = 5
    value = jnp.broadcast_to(jnp.eye(t), (2, t, t))
    a = f(params, value, jnp.array([True, False])[:, None, None])
    b = f(params, 0.5 * value, jnp.array([False, True])[:, None, None])
    c = f(params, value, jnp.array([False, False])[:, None, None])
    assert len(traces) == 1
    assert not np.allclose(a, b)
    np.testing.assert_allclose(c, forward(params, batch, CFG), atol=1e-12)  # jit vs eager


def test_interventions_under_vmap_match_a_loop(setup):
    params, batch = setup
    masks = jnp.eye(2, dtype=bool)[:, None, :, None]  # ablate head 0, then head 1 (layer 1)

    def ablated(mask):
        iv = {"blocks.1.attn.hook_v": Replace(jnp.zeros((1, 1, 1)), mask)}
        return forward(params, batch, CFG, interventions=iv)

    vmapped = jax.vmap(ablated)(masks)
    for h in range(2):
        np.testing.assert_allclose(
            vmapped[h], forward(params, batch, CFG, interventions=ablate_heads(1, [h], n_heads=2)),
            atol=1e-12)


def test_gradients_through_interventions(setup):
    params, batch = setup
    t = 5
    # replacing the whole layer-0 pattern cuts every gradient to its queries and keys ...
    iv = {"blocks.0.attn.hook_pattern": Replace(jnp.broadcast_to(jnp.eye(t), (2, t, t)))}
    grads = jax.grad(loss)(params, batch, CFG, interventions=iv)
    assert np.all(grads["blocks"][0]["attn"]["W_Q"] == 0)
    assert np.all(grads["blocks"][0]["attn"]["W_K"] == 0)
    # ... while values, layer 1 and the embeddings keep learning
    assert np.any(grads["blocks"][0]["attn"]["W_V"] != 0)
    assert np.any(grads["blocks"][1]["attn"]["W_Q"] != 0)
    # replacing only head 0 leaves head 1's gradient intact
    iv = {"blocks.0.attn.hook_pattern": Replace(
        jnp.broadcast_to(jnp.eye(t), (2, t, t)), jnp.array([True, False])[:, None, None])}
    g = jax.grad(loss)(params, batch, CFG, interventions=iv)["blocks"][0]["attn"]["W_Q"]
    assert np.all(g[0] == 0) and np.any(g[1] != 0)


def test_gradient_matches_finite_differences(setup):
    params, batch = setup

    def f(scale, s):  # loss as a function of a scalar in an Apply and of a weight entry
        p = jax.tree.map(lambda x: x, params)
        p["blocks"][1]["attn"]["W_Q"] = params["blocks"][1]["attn"]["W_Q"].at[0, 0, 0].add(s)
        iv = {"blocks.0.hook_attn_out": Apply(lambda x, cache, ctx: scale * x)}
        return loss(p, batch, CFG, interventions=iv)

    g = jax.grad(f, argnums=(0, 1))(0.7, 0.0)
    eps = 1e-6
    fd0 = (f(0.7 + eps, 0.0) - f(0.7 - eps, 0.0)) / (2 * eps)
    fd1 = (f(0.7, eps) - f(0.7, -eps)) / (2 * eps)
    np.testing.assert_allclose(g, (fd0, fd1), rtol=1e-6, atol=1e-10)


def test_two_pass_preserving_everything_equals_the_clean_pass(setup):
    params, batch = setup
    clean = forward(params, batch, CFG)
    keep = [f"blocks.1.attn.hook_{n}" for n in "qkv"]
    ablate_l0 = {"blocks.0.hook_attn_out": Replace(jnp.zeros((1, 1)))}
    iv = preserve_from_clean(keep, ablate_l0)
    out = forward(params, batch, CFG, interventions=iv)
    # layer-1 q, k, v preserved: only the direct path of layer 0 to the logits is removed
    assert not np.allclose(out, clean)
    direct = forward(params, batch, CFG, interventions=preserve_from_clean(keep, {}))
    np.testing.assert_allclose(direct, clean, atol=1e-12)
    # gradients flow through both passes (layer-0 queries matter only via the first pass)
    g = jax.grad(lambda p: forward(p, batch, CFG, interventions=iv).sum())(params)
    assert np.any(g["blocks"][0]["attn"]["W_Q"] != 0)
    iv_stop = preserve_from_clean(keep, ablate_l0, stop_gradient=True)
    g = jax.grad(lambda p: forward(p, batch, CFG, interventions=iv_stop).sum())(params)
    assert np.all(g["blocks"][0]["attn"]["W_Q"] == 0)


def test_causal_mask_and_rope_relative_positions():
    cfg = TransformerConfig(d_input=6, n_labels=5, d_model=8, n_heads=2, logits_at="all",
                            dtype="float64")
    params = init_params(jax.random.key(2), cfg)
    a = _batch(cfg, seed=0)
    b = dict(a, exemplars=a["exemplars"].at[:, -1].add(1.0))  # change the query only
    la, lb = forward(params, a, cfg), forward(params, b, cfg)
    assert la.shape == (4, 5, 5)
    np.testing.assert_array_equal(la[:, :-1], lb[:, :-1])
    assert not np.allclose(la[:, -1], lb[:, -1])
    # RoPE: q_i . k_j after rotation depends only on i - j for fixed q, k vectors
    from learndyn.transformer.model import _rope

    q = jnp.broadcast_to(jax.random.normal(jax.random.key(3), (1, 1, 4)), (6, 1, 4))
    k = jnp.broadcast_to(jax.random.normal(jax.random.key(4), (1, 1, 4)), (6, 1, 4))
    s = jnp.einsum("qhe,khe->qk", _rope(q, 10000.0), _rope(k, 10000.0))
    for offset in range(-5, 6):
        diag = np.diagonal(np.asarray(s), offset)
        np.testing.assert_allclose(diag, diag[0], atol=1e-12)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="'n_heads'"):
        TransformerConfig(d_model=8, n_heads=3)
    with pytest.raises(ConfigError, match="'positional'"):
        TransformerConfig(positional="alibi")


# ---- data ---------------------------------------------------------------------------------
def test_label_pairs_cover_every_label():
    train, held = data.label_pairs(5, 2, seed=3)
    assert len(train) == 8 and len(held) == 2
    assert set(np.unique(train)) == set(range(5))
    assert not {tuple(p) for p in held} & {tuple(p) for p in train}
    with pytest.raises(ConfigError, match="n_heldout_pairs"):
        data.label_pairs(5, 8, seed=0)


def test_sequences_are_well_formed():
    batch = _batch(n=4000)
    labels, target, slot = (np.asarray(batch[k]) for k in ("labels", "target", "slot"))
    assert np.all(labels[:, 0] != labels[:, 1])
    assert np.array_equal(target, labels[np.arange(len(slot)), slot])
    ex = np.asarray(batch["exemplars"])
    np.testing.assert_array_equal(ex[np.arange(len(slot)), slot], ex[:, -1])  # match_query
    assert not np.any(np.all(ex[:, 0] == ex[:, 1], axis=-1))  # two distinct classes
    assert abs(np.mean(slot) - 0.5) < 0.03


def test_labels_carry_no_information_about_the_query_class():
    """Per class, the query's label is spread over all labels (chi-square at p ~ 1e-4)."""
    table = data.synthetic_table(n_train_classes=4, n_test_classes=1, n_train_exemplars=1,
                                 n_heldout_exemplars=2, dim=4, noise=0.3)
    pairs, _ = data.label_pairs(5, 2, seed=0)
    batch = data.sample(jax.random.key(7), table.features, data.Split((0, 4), (0, 1), pairs),
                        batch=20000, n_pairs=2, n_labels=5)
    query = np.asarray(batch["exemplars"][:, -1])
    cls = np.argmin(((query[:, None] - table.features[None, :4, 0]) ** 2).sum(-1), axis=1)
    counts = np.zeros((4, 5))
    np.add.at(counts, (cls, np.asarray(batch["target"])), 1)
    expected = counts.sum(1, keepdims=True) * counts.sum(0, keepdims=True) / counts.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 40.0  # 12 degrees of freedom; P(chi2 > 40) ~ 1e-4


def test_without_attention_the_task_is_at_chance():
    """All heads value-ablated: the output sees only the query token, so it can do no better
    than the most frequent label (labels are re-drawn per sequence), while the same model
    with attention learns."""
    cfg = TransformerConfig(d_input=16, n_labels=5, d_model=16, n_heads=2, dtype="float32")
    table = data.synthetic_table(n_train_classes=10, n_test_classes=1, n_train_exemplars=1,
                                 n_heldout_exemplars=2, dim=16, noise=0.3)
    pairs, _ = data.label_pairs(5, 2, seed=0)
    split = data.Split((0, 10), (0, 1), pairs)
    feats = jnp.asarray(table.features)
    opt = optax.adam(3e-3)
    test = data.sample(jax.random.key(2), feats, split, batch=4000, n_pairs=2, n_labels=5)

    @jax.jit
    def train(mask):
        iv = {f"blocks.{l}.attn.hook_v": Replace(jnp.zeros((1, 1, 1)), mask) for l in (0, 1)}

        def step(carry, key):
            p, s = carry
            batch = data.sample(key, feats, split, batch=64, n_pairs=2, n_labels=5)
            g = jax.grad(loss)(p, batch, cfg, interventions=iv)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        p = init_params(jax.random.key(0), cfg)
        (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), jax.random.split(jax.random.key(1), 400))
        logits = forward(p, test, cfg, interventions=iv)[:, -1]
        return jnp.mean(jnp.argmax(logits, -1) == test["target"])

    # the best context-free guess: the most frequent label (pairs cover labels unevenly)
    chance = np.bincount(np.asarray(test["target"]), minlength=5).max() / 4000
    without = float(train(jnp.ones((1, 1, 1), bool)))
    with_attn = float(train(jnp.zeros((1, 1, 1), bool)))
    assert without <= chance + 0.01  # the model can only learn the label marginal
    assert with_attn > chance + 0.1  # the same budget with attention beats it clearly
