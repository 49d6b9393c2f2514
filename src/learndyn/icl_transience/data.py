"""Bursty few-shot data with fixed class labels and the evaluators that tell ICL, IWL and CIWL
apart (Chan et al., NeurIPS 2022; Singh et al., NeurIPS 2023; Singh et al., ICML 2025).

Classes ``0..K-1`` are for training (class k has the fixed label k, K-way output), classes
``K..K+H-1`` are held out; each has E exemplars from the synthetic table of
:mod:`learndyn.transformer.data` (prototype ``mu_k ~ N(0, I_D/D)``, exemplar ``(mu_k + eps
eta)/sqrt(1 + eps^2)``). Training sequences follow a :class:`~learndyn.transformer.data.
BurstyFormat` (N pairs, the query's class B times, a distractor class B times, Zipf class
frequencies). Evaluators (fixed sets drawn from ``eval_seed``, classes uniform):

- ``icl``: training classes, two classes N/2 times each, labels re-drawn per sequence (a
  random ordered pair from the whole label set, or {0, 1}); read with in-context accuracy;
- ``icl_holdout``: the same on held-out classes;
- ``flip``: the same two-class format with the two classes' labels swapped; in-context
  accuracy = the fraction of answers that follow the context (1 = ICL, 0 = IWL/CIWL);
- ``iwl``: the query's class absent, the other context classes distinct, true labels;
  full-vocabulary accuracy (chance 1/K);
- ``ciwl``: as ``iwl`` but a random context item carries the query's true label;
- ``train_eval``: the training distribution.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import ConfigError
from ..transformer import data as tdata

__all__ = ["EVALUATORS", "PRIMARY", "Setting", "eval_sets", "evaluator_format", "setting",
           "train_format"]

EVALUATORS = ("icl", "icl_holdout", "flip", "iwl", "ciwl", "train_eval")
#: the metric that reads each evaluator (in-context or full-vocabulary accuracy)
PRIMARY = {"icl": "in_context_accuracy", "icl_holdout": "in_context_accuracy",
           "flip": "in_context_accuracy", "iwl": "accuracy", "ciwl": "accuracy",
           "train_eval": "accuracy"}


class Setting(NamedTuple):
    """The exemplar table and class ranges of a run."""

    features: np.ndarray  # [K + H, E, D]
    n_train: int
    n_holdout: int
    n_exemplars: int


def setting(config: Any) -> Setting:
    """The synthetic exemplar table of a config (fields as in the ``icl_transience`` study)."""
    table = tdata.synthetic_table(
        n_train_classes=config.n_classes, n_test_classes=config.n_holdout_classes,
        n_train_exemplars=config.n_exemplars, n_heldout_exemplars=0, dim=config.feature_dim,
        noise=config.exemplar_noise, seed=config.data_seed)
    return Setting(table.features, config.n_classes, config.n_holdout_classes,
                   config.n_exemplars)


def train_format(config: Any) -> tdata.BurstyFormat:
    """The training sequences of a config (fixed labels)."""
    return tdata.BurstyFormat(n_pairs=config.n_pairs, burst=config.burst,
                              distractor=config.distractor, p_bursty=config.p_bursty,
                              zipf_alpha=config.zipf_alpha, match_query=config.match_query)


def evaluator_format(name: str, train: tdata.BurstyFormat, *, icl_labels: str = "random"
                     ) -> tuple[tdata.BurstyFormat, str]:
    """(format, class split ``"train"`` or ``"holdout"``) of evaluator ``name``."""
    two_way = train._replace(burst=train.n_pairs // 2, distractor=True, p_bursty=1.0,
                             zipf_alpha=0.0, no_support=False)
    absent = train._replace(distractor=False, p_bursty=1.0, zipf_alpha=0.0, no_support=True,
                            match_query=False)
    formats = {
        "icl": (two_way._replace(relabel=icl_labels), "train"),
        "icl_holdout": (two_way._replace(relabel=icl_labels), "holdout"),
        "flip": (two_way._replace(relabel="flip"), "train"),
        "iwl": (absent._replace(relabel="fixed"), "train"),
        "ciwl": (absent._replace(relabel="plant"), "train"),
        "train_eval": (train._replace(relabel="fixed"), "train"),
    }
    if name not in formats:
        raise ConfigError(f"unknown evaluator '{name}'; evaluators are: " + ", ".join(EVALUATORS))
    return formats[name]


@partial(jax.jit, static_argnames=("fmt", "classes", "exemplars", "batch", "n_labels"))
def _draw(key, features, *, fmt, classes, exemplars, batch, n_labels):
    return tdata.sample_bursty(key, features, fmt, classes=classes, exemplars=exemplars,
                               batch=batch, n_labels=n_labels)


def eval_sets(config: Any, s: Setting, names=EVALUATORS, *, size: int | None = None
              ) -> dict[str, dict[str, jax.Array]]:
    """Fixed evaluation batches (``size`` or ``config.n_eval`` sequences each) from
    ``config.eval_seed``; every format is checked first (one :class:`ConfigError`)."""
    train = train_format(config)
    ranges = {"train": (0, s.n_train), "holdout": (s.n_train, s.n_train + s.n_holdout)}
    plans = {}
    for name in names:
        fmt, split = evaluator_format(name, train, icl_labels=config.icl_labels)
        lo, hi = ranges[split]
        if hi - lo < 2:
            raise ConfigError(f"config field 'n_holdout_classes': evaluator '{name}' needs "
                              f"held-out classes, got {hi - lo}")
        tdata.check_format(fmt, hi - lo, config.labels,
                           fixed_labels_to=hi if fmt.relabel in ("fixed", "flip", "plant")
                           else None)
        plans[name] = (fmt, (lo, hi))
    keys = jax.random.split(jax.random.key(config.eval_seed), len(EVALUATORS))
    features = jnp.asarray(s.features)
    return {name: _draw(keys[EVALUATORS.index(name)], features, fmt=fmt, classes=classes,
                        exemplars=(0, s.n_exemplars), batch=size or config.n_eval,
                        n_labels=config.labels)
            for name, (fmt, classes) in plans.items()}
