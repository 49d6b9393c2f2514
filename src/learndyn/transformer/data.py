"""Few-shot exemplar-label sequences (Chan et al. 2022; Singh et al., ICML 2024).

**Exemplar table.** ``features[class, exemplar, D]``; the first ``n_train_classes`` classes are
for training, the rest unseen test classes; per class the first ``n_train_exemplars`` exemplars
are for training, the rest held out. The synthetic source (no downloads) draws class prototypes
``mu_k ~ N(0, I_D / D)`` and exemplars ``x_{k,e} = (mu_k + eps eta_{k,e}) / sqrt(1 + eps^2)`` with
``eta ~ N(0, I_D / D)``; optionally a shared offset ``rho m_0`` (``m_0 ~ N(0, I_D / D)``) and a
ReLU mimic non-centred, non-negative CNN features. :func:`file_table` wraps user features.

**Sequences** ``x_1 y_1 ... x_N y_N x_q`` (:func:`sample`, jittable: keys in, arrays out):
``N`` distinct classes, the query's class is one of them (slot drawn uniformly), so each class
appears once ("burstiness 1 with a distractor" for N = 2). Labels are re-drawn for every
sequence: for N = 2 a random ordered pair from an allowed set of unordered label pairs (the
L(L-1)/2 pairs split into training and held-out pairs, every label in some training pair); for
N > 2 a random ordered tuple of distinct labels. The query's target is its class's label in
this sequence, so the class -> label map carries no information: the task can only be solved in
context (copy the label that follows the matching exemplar). With ``match_query`` the query
exemplar is the very exemplar shown in the context; otherwise a different one of its class.

Not implemented from the spec's sampler: Zipf class frequencies, p_bursty mixtures, label flips
and ``no_support``/``unique_rest`` variants (the induction-head setting needs none of them).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import ConfigError

__all__ = ["ExemplarTable", "Split", "file_table", "label_pairs", "sample", "synthetic_table"]


class ExemplarTable(NamedTuple):
    """``features`` [classes, exemplars, D] and the sizes of the training splits."""

    features: np.ndarray
    n_train_classes: int
    n_train_exemplars: int


def synthetic_table(*, n_train_classes: int, n_test_classes: int, n_train_exemplars: int,
                    n_heldout_exemplars: int, dim: int, noise: float, offset: float = 0.0,
                    relu: bool = False, seed: int = 0) -> ExemplarTable:
    """Gaussian class prototypes with within-class noise (see the module docstring)."""
    rng = np.random.default_rng(seed)
    c = n_train_classes + n_test_classes
    e = n_train_exemplars + n_heldout_exemplars
    mu = rng.standard_normal((c, 1, dim)) / np.sqrt(dim)
    eta = rng.standard_normal((c, e, dim)) / np.sqrt(dim)
    x = (mu + noise * eta) / np.sqrt(1.0 + noise**2)
    if offset:
        x = x + offset * rng.standard_normal((1, 1, dim)) / np.sqrt(dim)
    if relu:
        x = np.maximum(x, 0.0)
    return ExemplarTable(x.astype(np.float32), n_train_classes, n_train_exemplars)


def file_table(path: str, *, n_train_classes: int, n_train_exemplars: int) -> ExemplarTable:
    """Features from a ``.npy`` file of shape [classes, exemplars, D]."""
    try:
        x = np.load(path)
    except OSError as err:
        raise ConfigError(f"cannot read exemplar features {path}: {err}") from None
    if x.ndim != 3 or x.shape[0] <= n_train_classes or x.shape[1] < n_train_exemplars:
        raise ConfigError(f"exemplar features {path}: need [classes, exemplars, D] with more "
                          f"than {n_train_classes} classes, got shape {x.shape}")
    return ExemplarTable(x.astype(np.float32), n_train_classes, n_train_exemplars)


def label_pairs(n_labels: int, n_heldout: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unordered label pairs split into (train [P, 2], held-out [Q, 2]); every label occurs in
    some training pair (re-drawn until it does)."""
    pairs = np.array(list(itertools.combinations(range(n_labels), 2)), dtype=np.int32)
    if not 0 <= n_heldout <= len(pairs) - (n_labels + 1) // 2:
        raise ConfigError(f"config field 'n_heldout_pairs': at most "
                          f"{len(pairs) - (n_labels + 1) // 2} of {len(pairs)} pairs can be held "
                          f"out with {n_labels} labels, got {n_heldout}")
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        order = rng.permutation(len(pairs))
        train, held = pairs[np.sort(order[n_heldout:])], pairs[np.sort(order[:n_heldout])]
        if len(np.unique(train)) == n_labels:
            return train, held
    raise ConfigError(f"config field 'n_heldout_pairs': cannot hold out {n_heldout} pairs and "
                      "keep every label in a training pair")


class Split(NamedTuple):
    """Where a sampler draws from: class range, exemplar range, label pairs, query matching.

    ``classes``, ``exemplars`` and ``pairs`` may be arrays (also traced ones, so that settings
    with different class or label counts share one compiled program); ``pair_count`` is then
    the number of valid rows of a padded ``pairs`` (default: all rows).
    """

    classes: tuple[int, int] | jax.Array
    exemplars: tuple[int, int] | jax.Array
    pairs: np.ndarray | jax.Array
    match_query: bool = True
    pair_count: int | jax.Array | None = None


def _one(u, perm_key, features, split: Split, n_pairs: int, n_labels: int):
    """One sequence from uniforms ``u`` [n_pairs + 5] (and ``perm_key`` for N > 2)."""
    def draw(x, lo, hi):  # an integer in [lo, hi) from a uniform x in [0, 1)
        return lo + jnp.minimum(jnp.floor(x * (hi - lo)).astype(jnp.int32), hi - lo - 1)

    lo, hi = split.classes
    if n_pairs == 2:  # two distinct classes: a first one and a non-zero shift
        first = draw(u[0], 0, hi - lo)
        classes = lo + jnp.stack([first, (first + draw(u[1], 1, hi - lo)) % (hi - lo)])
        n_valid = len(split.pairs) if split.pair_count is None else split.pair_count
        pair = jnp.asarray(split.pairs)[draw(u[2], 0, n_valid)]
        labels = jnp.where(u[3] < 0.5, pair[::-1], pair)
    else:
        k_cls, k_lab = jax.random.split(perm_key)
        classes = lo + jax.random.permutation(k_cls, hi - lo)[:n_pairs]
        labels = jax.random.permutation(k_lab, n_labels)[:n_pairs]
    slot = draw(u[4], 0, n_pairs)
    e_lo, e_hi = split.exemplars
    ex = draw(u[5:5 + n_pairs], e_lo, e_hi)
    if split.match_query:
        ex_q = ex[slot]
    else:  # a different exemplar of the same class
        other = draw(u[5 + n_pairs], 1, e_hi - e_lo)
        ex_q = e_lo + (ex[slot] - e_lo + other) % (e_hi - e_lo)
    cls_all = jnp.concatenate([classes, classes[slot][None]])
    ex_all = jnp.concatenate([ex, ex_q[None]])
    return {"exemplars": features[cls_all, ex_all], "labels": labels.astype(jnp.int32),
            "target": labels[slot].astype(jnp.int32), "slot": slot.astype(jnp.int32)}


def sample(key: jax.Array, features: jax.Array, split: Split, *, batch: int, n_pairs: int,
           n_labels: int) -> dict[str, jax.Array]:
    """``batch`` sequences: ``exemplars`` [B, N+1, D], ``labels`` [B, N], ``target`` [B] and
    ``slot`` [B] (which context pair the query matches; its label sits at position 2 slot + 1).

    For N = 2 every choice comes from one uniform draw (a single random kernel: fast to
    compile); N > 2 adds per-sequence permutations.
    """
    if n_pairs < 2:
        raise ConfigError(f"n_pairs: need at least 2 context pairs, got {n_pairs}")
    features = jnp.asarray(features)
    k_u, k_perm = jax.random.split(key)
    u = jax.random.uniform(k_u, (batch, n_pairs + 6), jnp.float32)
    perm_keys = jax.random.split(k_perm, batch) if n_pairs > 2 else jnp.zeros((batch,))
    return jax.vmap(lambda x, k: _one(x, k, features, split, n_pairs, n_labels))(u, perm_keys)
