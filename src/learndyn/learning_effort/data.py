r"""Tasks for the learning-effort studies: exact statistics and an in-scan sampler.

Carrasco-Davis, Masís & Saxe, *Meta-Learning Strategies through Value Maximization in Neural
Networks* (arXiv:2310.19919). The average learning dynamics of a linear network depend on the
data only through :math:`\Sigma_x = E[xx^T]`, :math:`\Sigma_{yx} = E[yx^T]` and
:math:`\Sigma_y = E[yy^T]`. Every task here is a mixture: component k (probability pi_k) has
input mean mu_k and output y_k; Gaussian noise z ~ L eps is added to the joint vector (x, y):

.. math:: \Sigma_x = \sum_k \pi_k \mu_k\mu_k^T + (LL^T)_{xx},\quad
          \Sigma_{yx} = \sum_k \pi_k y_k\mu_k^T + (LL^T)_{yx},\quad
          \Sigma_y = \sum_k \pi_k y_ky_k^T + (LL^T)_{yy}.

- :func:`two_gaussians` (one input, one output): y = +-1, x | y ~ N(mu y, sigma^2);
  Sigma_x = mu^2 + sigma^2, Sigma_yx = mu, Sigma_y = 1.
- :func:`correlated_gaussians` (two aspects): y1 = +-1, y2 = s y1 with s = -1 w.p. p,
  x_i ~ N(mu_i y_i, sigma_i^2), x3 = 1 (bias). Output 1 (mu1 = 3) is the easy aspect.
- :func:`semantic_hierarchy`: P = 2^(h-1) one-hot items, O = 2^h - 1 features (the nodes of a
  binary tree; y_f = 1 if the item lies under node f): Sigma_x = I/P, Sigma_yx = Y/P.
- :func:`prototypes`, :func:`prototype_pair`, :func:`prototype_tasks`: ten synthetic classes
  (a self-contained stand-in for 5x5 MNIST, which we cannot download): class means
  m_c = A (G^{1/2} Q)_c with Q orthonormal rows and Gram G (1 on the diagonal, 0.6 for the
  look-alike pairs {1,7} {3,8} {3,5} {8,9} {4,9} {0,6}, 0.2 otherwise); x | c ~ N(m_c, sigma^2 I)
  plus a constant bias input.
- :func:`load_statistics`: (Sigma_x, Sigma_yx, Sigma_y, means) computed offline, e.g. from real
  MNIST; its sampler draws (x, y) jointly Gaussian with these first and second moments.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import ConfigError

__all__ = [
    "LOOK_ALIKE",
    "Stats",
    "Task",
    "as_jax",
    "check_stats",
    "class_means",
    "correlated_gaussians",
    "hierarchy_levels",
    "hierarchy_or_prototypes",
    "load_statistics",
    "mixture",
    "pair_distance",
    "prototype_pair",
    "prototype_tasks",
    "prototypes",
    "sample",
    "semantic_hierarchy",
    "stack_samplers",
    "two_gaussians",
]

#: the look-alike digit pairs of :func:`class_means` (Gram entry 0.6 instead of 0.2)
LOOK_ALIKE = ((1, 7), (3, 8), (3, 5), (8, 9), (4, 9), (0, 6))


class Stats(NamedTuple):
    """Second moments of a task: E[xx^T] (D x D), E[yx^T] (O x D), E[yy^T] (O x O)."""

    sigma_x: np.ndarray
    sigma_yx: np.ndarray
    sigma_y: np.ndarray


@dataclass(frozen=True)
class Task:
    """A task's exact statistics and the mixture that samples it (see the module docstring).

    ``probs`` (K,), ``means`` (K, D + O) joint means of (x, y) per component, ``noise``
    (D + O, D + O) the factor L of the joint noise; ``inputs`` and ``outputs`` name the units.
    """

    name: str
    sigma_x: np.ndarray
    sigma_yx: np.ndarray
    sigma_y: np.ndarray
    mean_x: np.ndarray
    mean_y: np.ndarray
    probs: np.ndarray
    means: np.ndarray
    noise: np.ndarray
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def stats(self) -> Stats:
        return Stats(self.sigma_x, self.sigma_yx, self.sigma_y)

    @property
    def n_in(self) -> int:
        return self.sigma_x.shape[0]

    @property
    def n_out(self) -> int:
        return self.sigma_y.shape[0]

    def sampler(self) -> dict:
        """The arrays :func:`sample` needs (pass them through a scan's ``args``)."""
        return {"log_probs": np.log(self.probs), "means": self.means, "noise": self.noise,
                "mean_y": self.mean_y}


def check_stats(sigma_x, sigma_yx, sigma_y, *, name: str = "stats") -> Stats:
    """Float64 copies after checking shapes, symmetry and positive definiteness of Sigma_x.

    Raises :class:`ConfigError` naming the offending argument.
    """
    sx, syx, sy = (np.atleast_2d(np.asarray(a, np.float64)) for a in (sigma_x, sigma_yx, sigma_y))
    for label, a in (("sigma_x", sx), ("sigma_y", sy)):
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ConfigError(f"{name}.{label}: must be a square matrix, got shape {a.shape}")
        if not np.all(np.isfinite(a)) or not np.allclose(a, a.T, rtol=1e-10, atol=1e-12):
            raise ConfigError(f"{name}.{label}: must be finite and symmetric")
    if syx.shape != (sy.shape[0], sx.shape[0]):
        raise ConfigError(f"{name}.sigma_yx: shape {syx.shape}, expected (outputs, inputs) = "
                          f"{(sy.shape[0], sx.shape[0])}")
    eig = np.linalg.eigvalsh(sx)
    if eig[0] <= 1e-12 * max(eig[-1], 1e-300):
        raise ConfigError(f"{name}.sigma_x: must be positive definite (smallest eigenvalue "
                          f"{eig[0]:.3g}, largest {eig[-1]:.3g})")
    return Stats(sx, syx, sy)


def mixture(name: str, probs, x_means, y_values, x_noise, *, inputs=None, outputs=None) -> Task:
    """A task from components (probabilities, input means, outputs) and per-input noise std."""
    probs = np.asarray(probs, np.float64)
    mx, my = np.asarray(x_means, np.float64), np.asarray(y_values, np.float64)
    d, o = mx.shape[1], my.shape[1]
    noise = np.zeros((d + o, d + o))
    noise[:d, :d] = np.diag(np.broadcast_to(np.asarray(x_noise, np.float64), (d,)))
    means = np.concatenate([mx, my], axis=1)
    second = np.einsum("k,ki,kj->ij", probs, means, means) + noise @ noise.T
    stats = check_stats(second[:d, :d], second[d:, :d], second[d:, d:], name=name)
    return Task(name, *stats, probs @ mx, probs @ my, probs, means, noise,
                tuple(inputs or (f"x{i + 1}" for i in range(d))),
                tuple(outputs or (f"y{i + 1}" for i in range(o))))


def sample(key: jax.Array, sampler: dict, batch: int) -> tuple[jax.Array, jax.Array]:
    """(x, y) batches of shapes (batch, D), (batch, O) from a :meth:`Task.sampler` dict."""
    k1, k2 = jax.random.split(key)
    means, noise = sampler["means"], sampler["noise"]
    k = jax.random.categorical(k1, sampler["log_probs"], shape=(batch,))
    z = means[k] + jax.random.normal(k2, (batch, means.shape[1]), means.dtype) @ noise.T
    d = means.shape[1] - sampler["mean_y"].shape[-1]
    return z[:, :d], z[:, d:]


def two_gaussians(mu: float = 2.0, sigma: float = 1.0) -> Task:
    """y = +-1 equiprobable, x | y ~ N(mu y, sigma^2) (the single-neuron task)."""
    _positive(sigma=sigma)
    return mixture("two_gaussians", [0.5, 0.5], [[mu], [-mu]], [[1.0], [-1.0]], sigma,
                             inputs=("x",), outputs=("y",))


def correlated_gaussians(mu=(3.0, 1.0), sigma=(1.0, 1.0), p: float = 0.8) -> Task:
    """Two aspects: y1 = +-1, y2 = s y1 (s = -1 w.p. p), x_i ~ N(mu_i y_i, sigma_i^2), x3 = 1.

    Sigma_y = [[1, r], [r, 1]], Sigma_yx = [[mu1, mu2 r, 0], [mu1 r, mu2, 0]], r = 1 - 2p.
    """
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"p: must be a probability in [0, 1], got {p}")
    (m1, m2), (s1, s2) = _pair(mu, "mu"), _pair(sigma, "sigma")
    _positive(sigma=min(s1, s2))
    comps = [(y1, y1 * s) for y1 in (1.0, -1.0) for s in (1.0, -1.0)]
    probs = [0.5 * (p if s < 0 else 1.0 - p) for _ in (1.0, -1.0) for s in (1.0, -1.0)]
    return mixture("correlated_gaussians", probs,
                             [[m1 * a, m2 * b, 1.0] for a, b in comps], comps, (s1, s2, 0.0),
                             inputs=("x1", "x2", "bias"), outputs=("easy", "hard"))


def semantic_hierarchy(levels: int = 3) -> Task:
    """P = 2^(levels-1) one-hot items under a binary tree; O = 2^levels - 1 node features.

    Outputs are ordered by level (root first); :func:`hierarchy_levels` gives each one's level.
    """
    if int(levels) != levels or levels < 2:
        raise ConfigError(f"levels: must be an integer >= 2, got {levels}")
    P = 2 ** (levels - 1)
    lv = hierarchy_levels(levels)
    index = np.concatenate([np.arange(2 ** (l - 1)) for l in range(1, levels + 1)])
    Y = (np.arange(P)[None, :] // 2 ** (levels - lv)[:, None] == index[:, None]).astype(float)
    names = tuple(f"L{l}.{j}" for l, j in zip(lv, index))
    return mixture("semantic_hierarchy", np.full(P, 1.0 / P), np.eye(P), Y.T, 0.0,
                             inputs=tuple(f"item{i}" for i in range(P)), outputs=names)


def hierarchy_or_prototypes(dataset: str, *, levels: int, data_seed: int) -> Task:
    """:func:`semantic_hierarchy` (``dataset="hierarchy"``) or the ten-class
    :func:`prototypes` (``"prototypes"``)."""
    if dataset == "hierarchy":
        return semantic_hierarchy(levels)
    if dataset == "prototypes":
        return prototypes(data_seed=data_seed)
    raise ConfigError(f"dataset: 'hierarchy' or 'prototypes', got {dataset!r}")


def hierarchy_levels(levels: int) -> np.ndarray:
    """The tree level (1 = root) of each output of :func:`semantic_hierarchy`."""
    return np.concatenate([np.full(2 ** (l - 1), l) for l in range(1, levels + 1)])


def class_means(*, amplitude: float = 1.5, look_alike: float = 0.6, other: float = 0.2,
                n_pixels: int = 25, data_seed: int = 0) -> np.ndarray:
    """Ten class means (10 x n_pixels) with Gram matrix A^2 G (see the module docstring)."""
    G = np.full((10, 10), other)
    for a, b in LOOK_ALIKE:
        G[a, b] = G[b, a] = look_alike
    np.fill_diagonal(G, 1.0)
    w, V = np.linalg.eigh(G)
    if w[0] <= 0:
        raise ConfigError(f"look_alike/other: the class Gram matrix is not positive definite "
                          f"(smallest eigenvalue {w[0]:.3g})")
    q, _ = np.linalg.qr(np.random.default_rng(data_seed).standard_normal((n_pixels, 10)))
    return amplitude * (V * np.sqrt(w)) @ V.T @ q.T


def prototypes(*, noise: float = 1.0, **means) -> Task:
    """Ten-class task: one-hot outputs '0'..'9', 25 pixels + bias, x | c ~ N(m_c, noise^2 I)."""
    m = class_means(**means)
    x = np.concatenate([m, np.ones((10, 1))], axis=1)
    return mixture("prototypes", np.full(10, 0.1), x, np.eye(10), _pixel_noise(m, noise),
                             inputs=_pixels(m), outputs=tuple(str(c) for c in range(10)))


def prototype_pair(a: int, b: int, *, noise: float = 1.0, **means) -> Task:
    """Binary task 'a vs b': y = +1 for class a, -1 for class b (25 pixels + bias)."""
    return prototype_tasks([(a, b)], noise=noise, **means)


def prototype_tasks(pairs, *, noise: float = 1.0, **means) -> Task:
    """Several binary tasks presented together: one sample shows every task's input.

    Task i owns pixel block i and output i; the tasks' classes are drawn independently, so the
    joint Sigma_x has E[x_i x_j^T] = E[x_i] E[x_j]^T off the diagonal blocks. One bias input
    is shared (separate constant inputs would make Sigma_x singular).
    """
    pairs = [tuple(int(c) for c in pair) for pair in pairs]
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1] or not all(0 <= c <= 9 for c in pair):
            raise ConfigError(f"pairs: each task is two distinct classes in 0..9, got {pair}")
    m = class_means(**means)
    combos = list(itertools.product((0, 1), repeat=len(pairs)))
    x = [np.concatenate([m[pair[c]] for pair, c in zip(pairs, combo)] + [[1.0]])
         for combo in combos]
    y = [[1.0 - 2.0 * c for c in combo] for combo in combos]
    pix = np.concatenate([np.full(m.shape[1] * len(pairs), noise), [0.0]])
    inputs = tuple(f"t{i}.{p}" for i in range(len(pairs)) for p in _pixels(m)[:-1]) + ("bias",)
    return mixture(" ".join(f"{a}v{b}" for a, b in pairs), np.full(len(combos),
                             0.5 ** len(pairs)), x, y, pix, inputs=inputs,
                             outputs=tuple(f"{a} vs {b}" for a, b in pairs))


def pair_distance(a: int, b: int, **means) -> float:
    """||m_a - m_b||: larger is easier to tell apart."""
    m = class_means(**means)
    return float(np.linalg.norm(m[a] - m[b]))


def load_statistics(path: str | Path) -> Task:
    """A task from an ``.npz`` with ``sigma_x``, ``sigma_yx``, ``sigma_y`` (and optionally
    ``mean_x``, ``mean_y``), e.g. computed offline from real MNIST.

    The sampler draws (x, y) jointly Gaussian with these first and second moments: the average
    dynamics are the same as for the real data; only the SGD noise differs.
    """
    try:
        f = np.load(path)
    except OSError as err:
        raise ConfigError(f"statistics_file: cannot read {path}: {err}") from None
    missing = [k for k in ("sigma_x", "sigma_yx", "sigma_y") if k not in f]
    if missing:
        raise ConfigError(f"statistics_file: {path} lacks {', '.join(missing)}")
    stats = check_stats(f["sigma_x"], f["sigma_yx"], f["sigma_y"], name="statistics_file")
    d, o = stats.sigma_x.shape[0], stats.sigma_y.shape[0]
    mx = np.asarray(f["mean_x"], np.float64) if "mean_x" in f else np.zeros(d)
    my = np.asarray(f["mean_y"], np.float64) if "mean_y" in f else np.zeros(o)
    mean = np.concatenate([mx, my])
    second = np.block([[stats.sigma_x, stats.sigma_yx.T], [stats.sigma_yx, stats.sigma_y]])
    cov = second - np.outer(mean, mean)
    w, V = np.linalg.eigh((cov + cov.T) / 2)
    noise = V * np.sqrt(np.clip(w, 0.0, None))  # L L^T = cov (PSD square root)
    return Task(Path(path).stem, *stats, mx, my, np.ones(1), mean[None], noise,
                          tuple(f"x{i + 1}" for i in range(d)),
                          tuple(f"y{i + 1}" for i in range(o)))


# ---- helpers ------------------------------------------------------------------------------
def _pixels(m: np.ndarray) -> tuple[str, ...]:
    return tuple(f"p{i}" for i in range(m.shape[1])) + ("bias",)


def _pixel_noise(m: np.ndarray, noise: float) -> np.ndarray:
    _positive(noise=noise)
    return np.concatenate([np.full(m.shape[1], noise), [0.0]])


def _pair(values, name: str) -> tuple[float, float]:
    values = tuple(float(v) for v in np.atleast_1d(values))
    if len(values) != 2:
        raise ConfigError(f"{name}: two values (one per aspect), got {values}")
    return values


def _positive(**values) -> None:
    for name, v in values.items():
        if not v > 0:
            raise ConfigError(f"{name}: must be > 0, got {v}")


def stack_samplers(tasks) -> dict:
    """Samplers of equally shaped tasks stacked along a leading axis (numpy)."""
    samplers = [t.sampler() for t in tasks]
    return {k: np.stack([s[k] for s in samplers]) for k in samplers[0]}


def as_jax(sampler: dict, dtype) -> dict:
    """A sampler dict as jax arrays of ``dtype`` (log-probabilities kept in float32 or more)."""
    return {k: jnp.asarray(v, dtype) for k, v in sampler.items()}
