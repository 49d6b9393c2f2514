"""Observables of the gated network, computed from recorded quantities (numpy, post hoc).

The simulation records, per seed and time, the row-wise alignment ``A[m, p]`` (cosine between
row i of teacher m and row i of path p, averaged over rows), the span coordinates, gates, Gram
matrices and the conserved quantities (:func:`learndyn.task_abstraction.model.make_trainer`).
From these:

- :func:`match_paths`: the permutation symmetry of the paths is fixed post hoc, per seed, by
  giving each teacher a distinct path maximising the summed time-averaged alignment;
- :func:`concat_alignment`: the M teachers stacked (M d_out rows) against, for each teacher, its
  best-matching path at that time: mean_m max_p A[m, p]. 1 = one distinct module per task,
  1/sqrt(2) = a path equal to the task average, 0.5 = paths that track only the current task.
  Whether the per-teacher best paths are distinct is returned as well;
- :func:`specialisation`: mean matched |cos| minus mean unmatched |cos| over the last part of
  training;
- :func:`time_to_threshold`: the running first crossing recorded inside the compiled loop,
  censored at the block length with a ``reached`` flag (never averaged away as NaN).
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = [
    "block_end_index",
    "concat_alignment",
    "first_crossing",
    "match_paths",
    "relabel",
    "specialisation",
    "time_to_threshold",
]


def match_paths(alignment: np.ndarray) -> np.ndarray:
    """Path assigned to each teacher, per seed: (seed, M) from alignment (seed, time, M, P).

    Among all injective maps teacher -> path, the one with the largest summed time-averaged
    alignment (P, M are small: brute force).
    """
    mean = np.asarray(alignment).mean(axis=1)  # (seed, M, P)
    n_teachers, n_paths = mean.shape[-2:]
    perms = np.array(list(itertools.permutations(range(n_paths), n_teachers)))  # (n, M)
    scores = mean[:, np.arange(n_teachers)[None, :], perms].sum(axis=-1)  # (seed, n)
    return perms[np.argmax(scores, axis=-1)]


def path_order(match: np.ndarray, n_paths: int) -> np.ndarray:
    """Full path order per seed: the matched paths (teacher order), then the unmatched ones."""
    orders = []
    for row in match:
        rest = [p for p in range(n_paths) if p not in row]
        orders.append(list(row) + rest)
    return np.array(orders)


def relabel(values: np.ndarray, order: np.ndarray, axis: int) -> np.ndarray:
    """Reorder the path axis ``axis`` of ``values`` (seed first) by ``order`` (seed, P)."""
    values = np.asarray(values)
    out = np.empty_like(values)
    for s, o in enumerate(order):
        out[s] = np.take(values[s], o, axis=axis - 1)
    return out


def concat_alignment(alignment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(concat alignment, best paths distinct) from alignment (..., M, P): mean_m max_p A."""
    alignment = np.asarray(alignment)
    best = np.argmax(alignment, axis=-1)  # (..., M)
    value = np.max(alignment, axis=-1).mean(axis=-1)
    srt = np.sort(best, axis=-1)
    distinct = np.all(np.diff(srt, axis=-1) != 0, axis=-1)
    return value, distinct


def specialisation(alignment: np.ndarray, match: np.ndarray, last_fraction: float = 0.1
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(specialisation, matched, unmatched) per seed over the last ``last_fraction`` of times.

    matched = mean over teachers of |A[m, match[m]]|; unmatched = mean |A| over all other
    (teacher, path) pairs; specialisation = matched - unmatched.
    """
    alignment = np.abs(np.asarray(alignment))
    n_time = alignment.shape[1]
    late = alignment[:, n_time - max(1, int(round(last_fraction * n_time))):].mean(axis=1)
    n_seed, n_teachers, n_paths = late.shape
    mask = np.zeros((n_seed, n_teachers, n_paths), bool)
    mask[np.arange(n_seed)[:, None], np.arange(n_teachers)[None, :], match] = True
    matched = np.where(mask, late, 0).sum(axis=(1, 2)) / n_teachers
    n_un = n_teachers * n_paths - n_teachers
    unmatched = (np.where(~mask, late, 0).sum(axis=(1, 2)) / n_un if n_un else
                 np.zeros(n_seed))
    return matched - unmatched, matched, unmatched


def time_to_threshold(ttt: np.ndarray, block_time: float) -> tuple[np.ndarray, np.ndarray]:
    """(time, reached) from the in-loop first crossings (-1 = not reached): censored at tau_B."""
    ttt = np.asarray(ttt, dtype=np.float64)
    reached = ttt >= 0
    return np.where(reached, ttt, block_time), reached


def first_crossing(loss: np.ndarray, n_block: int, n_blocks: int, theta: float, dt: float
                   ) -> np.ndarray:
    """Per block, the time from its start to the first loss < theta (-1: never), from a loss
    recorded at every step count 0..n_blocks*n_block (leading axes are kept)."""
    loss = np.asarray(loss)
    blocks = loss[..., : n_blocks * n_block].reshape(*loss.shape[:-1], n_blocks, n_block)
    below = blocks < theta
    first = np.argmax(below, axis=-1)
    return np.where(below.any(axis=-1), first * dt, -1.0)


def block_end_index(steps: np.ndarray, n_block: int, n_blocks: int) -> np.ndarray:
    """Record index of the end of every block: the last record at or before step count
    (k+1) n_block, i.e. after all of block k's updates (the schedule records it exactly)."""
    steps = np.asarray(steps)
    ends = np.arange(1, n_blocks + 1) * n_block
    return np.searchsorted(steps, ends, side="right") - 1
