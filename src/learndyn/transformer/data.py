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

**Bursty sequences with fixed labels** (:func:`sample_bursty`, the data of Chan et al. 2022 and
Singh et al. 2023/2025): every class k has its own label (its index) and classes are drawn with
Zipf frequencies p(k) ~ (k - lo + 1)^(-zipf_alpha). A bursty sequence (probability
``p_bursty``) holds the query's class B times and, with a distractor, a second class B times;
the other N - B (N - 2B) items are drawn i.i.d. from the remaining classes (the query's and the
distractor's classes excluded, so the counts are exact), positions shuffled. A non-bursty
sequence draws all N items and the query i.i.d. ``no_support`` leaves the query's class out of
a context of N distinct classes. The query exemplar is drawn independently of the context
unless ``match_query`` (then it repeats the first context exemplar of its class). Labels
(``relabel``): ``fixed`` (the class index), ``random`` (the sequence's classes get distinct
random labels), ``01`` (two classes get 0 and 1 in random order), ``flip`` (the two bursty
classes swap labels; the target is the swapped, in-context label) and ``plant`` (with
``no_support``: one random context item carries the query's true label).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import ConfigError

__all__ = ["BurstyFormat", "ExemplarTable", "Split", "check_format", "file_table", "label_pairs",
           "sample", "sample_bursty", "synthetic_table"]


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


# ---- bursty sequences with fixed class labels ---------------------------------------------
class BurstyFormat(NamedTuple):
    """How :func:`sample_bursty` builds a sequence (see the module docstring); hashable."""

    n_pairs: int = 2
    burst: int = 1
    distractor: bool = True
    p_bursty: float = 1.0
    zipf_alpha: float = 0.0
    match_query: bool = False
    no_support: bool = False
    relabel: str = "fixed"


RELABEL = ("fixed", "random", "01", "flip", "plant")


def check_format(fmt: BurstyFormat, n_classes: int, n_labels: int, *,
                 fixed_labels_to: int | None = None) -> None:
    """Raise :class:`ConfigError` (one line, naming the field) if ``fmt`` cannot be sampled
    from ``n_classes`` classes with ``n_labels`` labels; ``fixed_labels_to`` is the largest
    class index + 1 whose fixed label is used (default ``n_classes``)."""
    n, b = fmt.n_pairs, fmt.burst
    if n < 1 or b < 1:
        raise ConfigError(f"config field 'n_pairs'/'burst': need N >= 1 and B >= 1, got N = {n},"
                          f" B = {b}")
    if fmt.relabel not in RELABEL:
        raise ConfigError(f"config field 'relabel': {fmt.relabel!r} is not one of "
                          + ", ".join(map(repr, RELABEL)))
    if fmt.distractor and 2 * b > n and not fmt.no_support:
        raise ConfigError(f"config field 'burst': B = {b} > N/2 = {n / 2} with a distractor "
                          "(the query's class and the distractor appear B times each)")
    if b > n:
        raise ConfigError(f"config field 'burst': B = {b} > N = {n}")
    if not 0.0 <= fmt.p_bursty <= 1.0 or fmt.zipf_alpha < 0:
        raise ConfigError("config field 'p_bursty'/'zipf_alpha': need 0 <= p_bursty <= 1 and "
                          "zipf_alpha >= 0")
    needed = n + 1 if fmt.no_support else (2 if fmt.distractor else 1) + (n > 2 * b)
    if n_classes < needed:
        raise ConfigError(f"config field 'n_classes': this format needs at least {needed} "
                          f"classes, got {n_classes}")
    two = fmt.distractor and 2 * b == n and fmt.p_bursty == 1.0 and not fmt.no_support
    if fmt.relabel in ("01", "flip") and not two:
        raise ConfigError(f"config field 'relabel': {fmt.relabel!r} needs exactly two classes "
                          "per sequence (bursty, distractor, N = 2B, p_bursty = 1)")
    if fmt.relabel == "plant" and not fmt.no_support:
        raise ConfigError("config field 'relabel': 'plant' needs no_support (the query's "
                          "class absent from the context)")
    if fmt.relabel == "random" and n_labels < n + 1:
        raise ConfigError(f"config field 'n_labels': K = {n_labels} labels cannot give the "
                          f"{n + 1} items of a sequence distinct labels")
    top = n_classes if fixed_labels_to is None else fixed_labels_to
    if fmt.relabel in ("fixed", "flip", "plant") and n_labels < top:
        raise ConfigError(f"config field 'n_labels': K = {n_labels} is smaller than the label "
                          f"set ({top} classes with a fixed label each)")


def _draw_excluding(key, n: int, excluded: jax.Array, logits: jax.Array | None):
    """One class in [0, n) outside ``excluded`` (distinct values, or -1 = none): uniform
    (integer shift past the sorted exclusions: exact) or from ``logits`` (masked)."""
    if logits is None:
        k = jnp.sum(excluded >= 0, dtype=jnp.int32)
        x = jnp.minimum(jnp.floor(jax.random.uniform(key) * (n - k)).astype(jnp.int32),
                        n - k - 1)
        for e in jnp.sort(jnp.where(excluded >= 0, excluded, n)):  # static length
            x = x + (x >= e).astype(jnp.int32)
        return x
    mask = jnp.any(jnp.arange(n)[:, None] == excluded[None, :], axis=1)
    return jax.random.categorical(key, jnp.where(mask, -jnp.inf, logits)).astype(jnp.int32)


def _one_bursty(key, features, fmt: BurstyFormat, classes, exemplars, n_labels: int):
    lo, hi = classes
    n_cls, n, b = hi - lo, fmt.n_pairs, fmt.burst
    logits = None if fmt.zipf_alpha == 0 else \
        -fmt.zipf_alpha * jnp.log(jnp.arange(1, n_cls + 1, dtype=jnp.float32))
    keys = iter(jax.random.split(key, 3 * n + 12))
    none = jnp.full((n + 2,), -1, jnp.int32)

    def draw(excl):
        return _draw_excluding(next(keys), n_cls, excl, logits)

    q = draw(none)
    if fmt.no_support:  # N distinct classes, none of them the query's
        excl = none.at[0].set(q)
        ctx = []
        for i in range(n):
            c = draw(excl)
            ctx.append(c)
            excl = excl.at[i + 1].set(c)
        ctx = jnp.stack(ctx)
        bursty = jnp.bool_(False)
    else:
        r = draw(none.at[0].set(q)) if fmt.distractor else q
        k_rest = 2 * b if fmt.distractor else b
        excl = none.at[0].set(q).at[1].set(jnp.where(fmt.distractor, r, -1))
        rest = [draw(excl) for _ in range(n - k_rest)]
        ctx = jnp.stack([q] * b + ([r] * b if fmt.distractor else []) + rest)
        ctx = ctx[jax.random.permutation(next(keys), n)]
        bursty = jax.random.uniform(next(keys)) < fmt.p_bursty
        iid = jnp.stack([draw(none) for _ in range(n + 1)])
        ctx = jnp.where(bursty, ctx, iid[:n])
        q = jnp.where(bursty, q, iid[n])
    cls = jnp.concatenate([ctx, q[None]])  # [N + 1], query last (offsets from lo)
    e_lo, e_hi = exemplars
    ex = e_lo + jnp.minimum(jnp.floor(jax.random.uniform(next(keys), (n + 1,)) * (e_hi - e_lo))
                            .astype(jnp.int32), e_hi - e_lo - 1)
    if fmt.match_query:
        same = ctx == q
        ex = ex.at[n].set(jnp.where(same.any(), ex[jnp.argmax(same)], ex[n]))
    absolute = lo + cls
    labels = absolute
    if fmt.relabel in ("random", "01"):
        first = jnp.argmax(cls[:, None] == cls[None, :], axis=1)  # first item of each class
        if fmt.relabel == "01":
            bit = (jax.random.uniform(next(keys)) < 0.5).astype(jnp.int32)
            pool = jnp.where(cls == q, bit, 1 - bit)
        else:
            drawn, excl = [], jnp.full((n + 1,), -1, jnp.int32)
            for i in range(n + 1):
                lab = _draw_excluding(next(keys), n_labels, excl, None)
                drawn.append(lab)
                excl = excl.at[i].set(lab)
            pool = jnp.stack(drawn)[first]
        labels = pool
    elif fmt.relabel == "flip":  # the two bursty classes swap labels
        r = jnp.max(jnp.where(cls != q, cls, -1))
        labels = jnp.where(cls == q, lo + r, jnp.where(cls == r, lo + q, absolute))
    elif fmt.relabel == "plant":
        slot = jnp.minimum(jnp.floor(jax.random.uniform(next(keys)) * n).astype(jnp.int32), n - 1)
        labels = absolute.at[slot].set(lo + q)
    target = labels[n] if fmt.relabel != "plant" else lo + q
    return {"exemplars": features[absolute, ex], "labels": labels[:n].astype(jnp.int32),
            "target": target.astype(jnp.int32), "classes": absolute.astype(jnp.int32),
            "bursty": bursty}


def sample_bursty(key: jax.Array, features: jax.Array, fmt: BurstyFormat, *,
                  classes: tuple[int, int], exemplars: tuple[int, int], batch: int,
                  n_labels: int) -> dict[str, jax.Array]:
    """``batch`` sequences of ``fmt`` from classes ``[lo, hi)`` and exemplars ``[lo, hi)``
    (static ranges): ``exemplars`` [B, N+1, D], ``labels`` [B, N], ``target`` [B],
    ``classes`` [B, N+1] (the query's last) and ``bursty`` [B]. Jittable."""
    check_format(fmt, classes[1] - classes[0], n_labels,
                 fixed_labels_to=classes[1] if fmt.relabel in ("fixed", "flip", "plant")
                 else None)
    features = jnp.asarray(features)
    keys = jax.random.split(key, batch)
    return jax.vmap(lambda k: _one_bursty(k, features, fmt, classes, exemplars, n_labels))(keys)
