"""Bursty fixed-label sequences, the evaluators and hand-coded ICL / IWL / CIWL strategies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from learndyn.core.config import ConfigError
from learndyn.icl_transience import data, observables
from learndyn.studies.icl_transience import QUICK, TransienceConfig
from learndyn.transformer import data as tdata

CONFIG = TransienceConfig(**{**QUICK, "n_classes": 200, "n_holdout_classes": 40,
                             "feature_dim": 64, "n_eval": 2000})
K = 20
FEATURES = np.random.default_rng(0).standard_normal((K + 5, 6, 8)).astype(np.float32)


def _sample(fmt, n=4000, seed=0, classes=(0, K)):
    out = tdata.sample_bursty(jax.random.key(seed), FEATURES, fmt, classes=classes,
                              exemplars=(0, 6), batch=n, n_labels=K)
    return {k: np.asarray(v) for k, v in out.items()}


# ---- hand-coded strategies ----------------------------------------------------------------
def _noise(batch, seed):
    return 1e-3 * np.random.default_rng(seed).random((len(batch["target"]), CONFIG.labels))


def icl_strategy(batch):
    """Copy the label that follows the context exemplar most similar to the query."""
    x = batch["exemplars"] / np.linalg.norm(batch["exemplars"], axis=-1, keepdims=True)
    sim = np.einsum("bnd,bd->bn", x[:, :-1], x[:, -1])
    pick = batch["labels"][np.arange(len(sim)), np.argmax(sim, -1)]
    logits = _noise(batch, 1)
    logits[np.arange(len(pick)), pick] += 1.0
    return logits


def iwl_strategy(batch):
    """Recall the query class's own label from weights (class k -> label k)."""
    logits = _noise(batch, 2)
    own = batch["classes"][:, -1]
    ok = own < CONFIG.labels
    logits[np.arange(len(own))[ok], own[ok]] += 1.0
    return logits


def ciwl_strategy(batch):
    """Among the labels in context, choose the query class's own label."""
    logits = _noise(batch, 3)
    rows = np.arange(len(logits))[:, None]
    logits[rows, batch["labels"]] += 1.0
    own = batch["classes"][:, -1]
    in_ctx = (batch["labels"] == own[:, None]).any(-1) & (own < CONFIG.labels)
    logits[np.arange(len(own))[in_ctx], own[in_ctx]] += 1.0
    return logits


TABLE = {  # strategy: (icl, flip, iwl, ciwl), the spec's strategy table for N = 2
    "ICL": (icl_strategy, (1.0, 1.0, 0.0, 0.5)),
    "IWL": (iwl_strategy, (0.5, 0.0, 1.0, 1.0)),
    "CIWL": (ciwl_strategy, (0.5, 0.0, 0.0, 1.0)),
}


@pytest.fixture(scope="module")
def sets():
    s = data.setting(CONFIG)
    return {k: {n: np.asarray(x) for n, x in v.items()}
            for k, v in data.eval_sets(CONFIG, s).items()}


@pytest.mark.parametrize("name", list(TABLE))
def test_strategies_reproduce_the_table(sets, name):
    strategy, want = TABLE[name]
    for evaluator, expected in zip(("icl", "flip", "iwl", "ciwl"), want):
        batch = sets[evaluator]
        m = observables.sequence_metrics(jnp.asarray(strategy(batch)), batch)
        got = float(np.mean(m[data.PRIMARY[evaluator]]))
        assert abs(got - expected) <= 0.05, (name, evaluator, got, expected)


def test_icl_evaluators_relabel_and_holdout_uses_held_out_classes(sets):
    icl, hold = sets["icl"], sets["icl_holdout"]
    assert (icl["classes"] < CONFIG.n_classes).all()
    assert (hold["classes"] >= CONFIG.n_classes).all()
    # labels are re-drawn: they are not the class indices
    assert np.mean(icl["labels"] == icl["classes"][:, :-1]) < 0.05
    # flip: the context labels of the two classes are swapped, the target is the swapped one
    flip = sets["flip"]
    q = flip["classes"][:, -1]
    assert (flip["target"] != q).all()
    assert all(t in lab for t, lab in zip(flip["target"], flip["labels"]))


def test_sampler_counts_in_every_sequence():
    fmt = tdata.BurstyFormat(n_pairs=8, burst=3, distractor=True, p_bursty=0.5)
    b = _sample(fmt, n=1500)
    ctx, q = b["classes"][:, :-1], b["classes"][:, -1]
    bursty = b["bursty"]
    assert abs(bursty.mean() - 0.5) < 0.05
    n_q = (ctx == q[:, None]).sum(-1)
    assert (n_q[bursty] == 3).all()
    for row in ctx[bursty]:
        counts = sorted(np.unique(row, return_counts=True)[1])
        assert counts[-2:] == [3, 3] and sum(counts[:-2]) == 2
    # non-bursty: i.i.d. draws, the query's class usually absent (8 of 20 classes at most)
    assert (n_q[~bursty] == 0).mean() > 0.4
    assert (b["labels"] == ctx).all() and (b["target"] == q).all()  # fixed labels


def test_no_support_relabel_plant_and_match_query():
    b = _sample(tdata.BurstyFormat(n_pairs=4, no_support=True, relabel="plant"), n=500)
    ctx, q = b["classes"][:, :-1], b["classes"][:, -1]
    assert not (ctx == q[:, None]).any()
    assert all(len(set(row)) == 4 for row in ctx)
    assert ((b["labels"] == q[:, None]).sum(-1) == 1).all() and (b["target"] == q).all()
    b = _sample(tdata.BurstyFormat(n_pairs=4, burst=2, relabel="random"), n=500)
    for cls, lab, tgt in zip(b["classes"], b["labels"], b["target"]):
        mapping = dict(zip(cls[:-1], lab))
        assert len(set(mapping.values())) == len(mapping)  # distinct classes, distinct labels
        assert mapping[cls[-1]] == tgt
    b = _sample(tdata.BurstyFormat(match_query=True), n=500)
    same = b["classes"][:, 0] == b["classes"][:, -1]
    first = np.where(same, 0, 1)
    np.testing.assert_array_equal(b["exemplars"][np.arange(len(first)), first],
                                  b["exemplars"][:, -1])
    b = _sample(tdata.BurstyFormat(relabel="01"), n=500)
    assert set(np.unique(b["labels"])) == {0, 1}
    assert (b["labels"][:, 0] != b["labels"][:, 1]).all()


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_class_frequencies_follow_zipf(alpha):
    b = _sample(tdata.BurstyFormat(zipf_alpha=alpha), n=10000, seed=1)
    counts = np.bincount(b["classes"][:, -1], minlength=K)
    p = np.arange(1, K + 1, dtype=float) ** -alpha
    _, pvalue = stats.chisquare(counts, p / p.sum() * counts.sum())
    assert pvalue > 1e-3


def test_bad_formats_are_one_config_error():
    with pytest.raises(ConfigError, match="B = 2 > N/2"):
        tdata.check_format(tdata.BurstyFormat(n_pairs=3, burst=2), 20, 20)
    with pytest.raises(ConfigError, match="smaller than the label set"):
        tdata.check_format(tdata.BurstyFormat(), 20, 10)
    with pytest.raises(ConfigError, match="unknown evaluator 'icx'"):
        data.evaluator_format("icx", tdata.BurstyFormat())
    with pytest.raises(ConfigError, match="'evaluators'"):
        TransienceConfig(evaluators=("icl", "icx"))
    with pytest.raises(ConfigError, match="B = 2 > N/2"):
        TransienceConfig(n_pairs=2, burst=2)
    with pytest.raises(ConfigError, match="'n_labels'"):
        TransienceConfig(n_classes=100, n_labels=50)
    with pytest.raises(ConfigError, match="'l2'"):
        TransienceConfig(l2=(0.0, -1e-4))
