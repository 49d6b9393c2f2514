"""The spontaneous strategy switch task of Löwe et al. (PLOS Comp Biol 2024).

Löwe, Touzo, Muhle-Karbe, Saxe, Summerfield & Schuck, *Abrupt and spontaneous strategy
switches emerge in simple regularised neural networks*, PLOS Comput Biol 20(10): e1012505.

Binary choice between two answers; motion is the instructed feature, colour the hidden one.
Per trial, with y the target (0/1 or -1/+1) and s = 2 label - 1 its sign,

    x_m ~ N(y mu_m(coh), sigma_m^2),   x_c ~ N(y mu_c, sigma_c^2)  (colour predictive),
    x_c ~ N(0, sigma_c^2) (authors' code) or N(r mu_c, sigma_c^2), r = +-1 at random
    (paper text) when colour is not predictive.

Curriculum (blocks of 100 trials): phase 0, pre-training (``pretrain_blocks`` blocks, the
three easiest coherence levels drawn uniformly, answers Bernoulli(1/2)); phase 1, motion
phase (2 blocks, all five levels: 30/10/20/20/20 trials per block at 5/10/20/30/45 %
coherence, each level split evenly between the answers, order permuted within the block);
phase 2, motion + colour (4 blocks; colour predicts the answer from its first trial on, for
test networks only); optional phase 3, one instructed block (gates frozen). Control networks
see the same sequences but colour never becomes predictive.

Motion means mu_m are per network (the authors fitted one 5-vector per participant).
``synthetic_motion_means`` draws mu_m = max(0, N(m_l, s_l^2)) per network and level, with the
column means and SDs of the published fitted table; a table of one's own (networks x 5 CSV) is
read by :func:`load_motion_means`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import ConfigError

__all__ = [
    "BLOCK",
    "COHERENCES",
    "LEVEL_COUNTS",
    "MEAN_SD",
    "MEAN_MEAN",
    "PRETRAIN_LEVELS",
    "Task",
    "load_motion_means",
    "main_block",
    "sample_inputs",
    "synthetic_motion_means",
    "trial_sequence",
]

BLOCK = 100
#: coherence levels (fractions), hardest first
COHERENCES = (0.05, 0.10, 0.20, 0.30, 0.45)
#: trials per 100-trial block at each level (phases 1-3)
LEVEL_COUNTS = (30, 10, 20, 20, 20)
#: levels used in pre-training (indices into COHERENCES): the three easiest
PRETRAIN_LEVELS = (2, 3, 4)
#: column means and SDs of the published per-participant fitted motion means (5 ... 45 %)
MEAN_MEAN = (0.063, 0.088, 0.199, 0.311, 0.358)
MEAN_SD = (0.05, 0.09, 0.10, 0.10, 0.10)


@dataclass(frozen=True)
class Task:
    """Curriculum and input statistics (defaults: the authors' code)."""

    pretrain_blocks: int = 8
    motion_blocks: int = 2
    colour_blocks: int = 4
    instructed_block: bool = False
    mu_c: float = 0.22
    sigma_m: float = 0.1
    sigma_c: float = 0.01
    plus_minus: bool = False  # targets -1/+1 (paper) instead of 0/1 (code)
    random_sign_colour: bool = False  # non-predictive colour +-mu_c (paper) instead of mean 0

    @property
    def n_pretrain(self) -> int:
        return self.pretrain_blocks * BLOCK

    @property
    def onset(self) -> int:
        """Index (0-based) of the first trial on which colour can be predictive."""
        return self.n_pretrain + self.motion_blocks * BLOCK

    @property
    def n_main(self) -> int:
        """Trials of phases 1-2 (the ones the insight criterion looks at)."""
        return (self.motion_blocks + self.colour_blocks) * BLOCK

    @property
    def n_trials(self) -> int:
        return self.n_pretrain + self.n_main + BLOCK * int(self.instructed_block)

    def phases(self) -> np.ndarray:
        """Phase code (0-3) of every trial."""
        p = np.zeros(self.n_trials, np.int32)
        p[self.n_pretrain:] = 1
        p[self.onset:] = 2
        p[self.n_pretrain + self.n_main:] = 3
        return p


def main_block() -> tuple[np.ndarray, np.ndarray]:
    """(levels, labels) of one unshuffled 100-trial block: exact level counts, each level's
    trials split evenly between the two answers."""
    levels = np.repeat(np.arange(len(LEVEL_COUNTS)), LEVEL_COUNTS)
    labels = np.concatenate([np.arange(c) % 2 for c in LEVEL_COUNTS])
    return levels.astype(np.int32), labels.astype(np.int32)


def trial_sequence(key: jax.Array, task: Task, n: int) -> tuple[jax.Array, jax.Array]:
    """(level index, label in {0, 1}) of every trial for ``n`` networks, shape
    ``(n, n_trials)`` each: pre-training levels and labels drawn uniformly, then blocks of
    :func:`main_block` in an independent random order each."""
    k_pre_level, k_pre_label, k_blocks = jax.random.split(key, 3)
    n_pre = task.n_pretrain
    pre_levels = jnp.asarray(PRETRAIN_LEVELS, jnp.int32)[
        jax.random.randint(k_pre_level, (n, n_pre), 0, len(PRETRAIN_LEVELS))]
    pre_labels = jax.random.bernoulli(k_pre_label, 0.5, (n, n_pre)).astype(jnp.int32)
    n_blocks = task.motion_blocks + task.colour_blocks + int(task.instructed_block)
    levels, labels = (jnp.asarray(a) for a in main_block())
    orders = jnp.argsort(jax.random.uniform(k_blocks, (n, n_blocks, BLOCK)), axis=-1)
    return (jnp.concatenate([pre_levels, levels[orders].reshape(n, -1)], axis=1),
            jnp.concatenate([pre_labels, labels[orders].reshape(n, -1)], axis=1))


def synthetic_motion_means(key: jax.Array, n: int, dtype=jnp.float64) -> jax.Array:
    """Motion means of ``n`` networks, max(0, N(m_l, s_l^2)) per level, shape ``(n, 5)``."""
    z = jax.random.normal(key, (n, len(COHERENCES)), dtype)
    mean, sd = jnp.asarray(MEAN_MEAN, dtype)[None, :], jnp.asarray(MEAN_SD, dtype)[None, :]
    return jnp.maximum(0.0, mean + sd * z)


def load_motion_means(path: str | Path, n_networks: int) -> np.ndarray:
    """A motion-means table: CSV of ``n_networks`` rows x 5 non-negative numbers (levels
    5 ... 45 %, one row per network; ``#`` starts a comment).

    Raises:
        ConfigError: naming ``motion_means_file`` if the file is missing or malformed.
    """
    field = "config field 'motion_means_file'"
    try:
        table = np.loadtxt(path, delimiter=",", comments="#", ndmin=2, dtype=np.float64)
    except OSError as err:
        raise ConfigError(f"{field}: cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise ConfigError(f"{field}: {path} is not a CSV of numbers ({err})") from None
    want = (n_networks, len(COHERENCES))
    if table.shape != want:
        raise ConfigError(f"{field}: {path} must hold {want[0]} rows x {want[1]} columns "
                          f"(one row per network), got {table.shape[0]} x {table.shape[1]}")
    if not np.all(np.isfinite(table)) or np.any(table < 0):
        raise ConfigError(f"{field}: {path} must hold finite non-negative motion means")
    return table


def sample_inputs(z: jax.Array, task: Task, level: jax.Array, label: jax.Array,
                  mu_m: jax.Array, predictive: jax.Array) -> tuple[jax.Array, ...]:
    """One trial's (x_m, x_c, y) for one network from three standard normals ``z`` (motion
    noise, colour noise, and a random colour sign from the sign of ``z[2]``); ``mu_m`` are the
    network's 5 motion means, ``predictive`` whether colour predicts the answer on this trial."""
    dtype = mu_m.dtype
    sign = (2 * label - 1).astype(dtype)
    y = sign if task.plus_minus else label.astype(dtype)
    x_m = y * mu_m[level] + task.sigma_m * z[0]
    if task.random_sign_colour:
        other = jnp.where(z[2] > 0, task.mu_c, -task.mu_c).astype(dtype)
    else:
        other = jnp.zeros((), dtype)
    x_c = jnp.where(predictive, y * task.mu_c, other) + task.sigma_c * z[1]
    return x_m, x_c, y
