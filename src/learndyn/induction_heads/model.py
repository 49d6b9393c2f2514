"""The induction-head setting: exemplar table, label pairs, evaluators and the transformer config
(Singh, Moskovitz, Hill, Chan & Saxe, ICML 2024, Sec. 3).

Training sequences ``x_1 y_1 x_2 y_2 x_q`` draw two distinct training classes; the query's
class is one of them and the two labels are a random ordered training pair, re-drawn for every
sequence, so only match-and-copy solves the task. Evaluators (fixed arrays from ``eval_seed``):

- ``fsl_train``: training classes, exemplars and label pairs;
- ``fsl_val_rl``: held-out label pairs (every label occurs in training, the pair never does);
- ``fsl_train_valex``: held-out exemplars of training classes, the query a *different* exemplar
  of its class than the one in the context (matching by class, not identity);
- ``fsl_test_class``: unseen classes.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..transformer import TransformerConfig
from ..transformer import data as tdata

__all__ = ["EVALUATORS", "Setting", "eval_sets", "heldout_pairs", "model_config", "setting",
           "split_arrays"]

EVALUATORS = ("fsl_train", "fsl_val_rl", "fsl_train_valex", "fsl_test_class")


class Setting(NamedTuple):
    """Everything a run needs besides the parameters: data, splits and the architecture."""

    table: tdata.ExemplarTable
    splits: dict[str, tdata.Split]
    model: TransformerConfig


def setting(config: Any) -> Setting:
    """Build the setting of an induction-heads config (fields as in the study's Config)."""
    table = tdata.synthetic_table(
        n_train_classes=config.n_train_classes, n_test_classes=config.n_test_classes,
        n_train_exemplars=config.n_train_exemplars,
        n_heldout_exemplars=config.n_heldout_exemplars, dim=config.feature_dim,
        noise=config.exemplar_noise, offset=config.feature_offset, relu=config.feature_relu,
        seed=config.data_seed)
    train_pairs, held_pairs = tdata.label_pairs(config.n_labels, config.n_heldout_pairs,
                                                seed=config.pair_seed)
    c_tr, e_tr = config.n_train_classes, config.n_train_exemplars
    c_all = c_tr + config.n_test_classes
    e_all = e_tr + config.n_heldout_exemplars
    splits = {
        "train": tdata.Split((0, c_tr), (0, e_tr), train_pairs, True),
        "fsl_train": tdata.Split((0, c_tr), (0, e_tr), train_pairs, True),
        "fsl_val_rl": tdata.Split((0, c_tr), (0, e_tr),
                                  held_pairs if len(held_pairs) else train_pairs, True),
        "fsl_train_valex": tdata.Split((0, c_tr), (e_tr, e_all), train_pairs, False),
        "fsl_test_class": tdata.Split((c_tr, c_all), (0, e_tr), train_pairs, True),
    }
    return Setting(table, splits, model_config(config))


def heldout_pairs(n_labels: int) -> int:
    """The paper's label-pair split: a fifth of the L(L-1)/2 unordered pairs held out
    (5 labels: 8/2, 10: 36/9, 15: 84/21)."""
    return n_labels * (n_labels - 1) // 2 // 5


def model_config(config: Any, n_labels: int | None = None) -> TransformerConfig:
    """The 2-layer attention-only transformer of a config (``n_labels`` outputs: default the
    config's; more pads the label vocabulary, see :func:`split_arrays`)."""
    return TransformerConfig(
        d_input=config.feature_dim, n_labels=n_labels or config.n_labels,
        d_model=config.d_model, n_layers=2, n_heads=config.n_heads,
        positional=config.positional, dtype=config.dtype)


def split_arrays(split: tdata.Split, n_pairs: int | None = None) -> dict[str, jax.Array]:
    """A split as arrays (``pairs`` padded to ``n_pairs`` rows by repeating the first), so
    that settings with different class or label counts are data of one compiled program."""
    pairs = np.asarray(split.pairs)
    pad = (n_pairs or len(pairs)) - len(pairs)
    return {"classes": jnp.asarray(split.classes, jnp.int32),
            "exemplars": jnp.asarray(split.exemplars, jnp.int32),
            "pairs": jnp.asarray(np.concatenate([pairs, np.repeat(pairs[:1], pad, 0)])),
            "pair_count": jnp.int32(len(pairs))}


@partial(jax.jit, static_argnames=("batch", "match_query"))
def _draw(key, features, split: dict, *, batch: int, match_query: bool):
    """Sequences of a split given as arrays: one compiled sampler per (batch, match_query)
    whatever the class or label counts."""
    sp = tdata.Split(split["classes"], split["exemplars"], split["pairs"], match_query,
                     split["pair_count"])
    return tdata.sample(key, features, sp, batch=batch, n_pairs=2, n_labels=2)


def eval_sets(config: Any, s: Setting, *, n_classes: int | None = None,
              n_pairs: int | None = None) -> dict[str, dict[str, jax.Array]]:
    """Fixed evaluation batches (``n_strength`` sequences for ``fsl_train``, else ``n_eval``).

    The table is padded to ``n_classes`` rows and every split's label pairs to ``n_pairs``
    rows (default: this setting's largest), which changes no draw but lets settings with
    different class or label counts share the three compiled samplers.
    """
    feats = np.asarray(s.table.features)
    feats = jnp.asarray(np.pad(feats, ((0, (n_classes or len(feats)) - len(feats)),
                                       (0, 0), (0, 0))))
    n_pairs = n_pairs or max(len(sp.pairs) for sp in s.splits.values())
    keys = jax.random.split(jax.random.key(config.eval_seed), len(EVALUATORS))
    out = {}
    for key, name in zip(keys, EVALUATORS):
        n = config.n_strength if name == "fsl_train" else config.n_eval
        split = s.splits[name]
        out[name] = _draw(key, feats, split_arrays(split, n_pairs), batch=n,
                          match_query=split.match_query)
    return out
