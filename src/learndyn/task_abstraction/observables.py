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
    "conservation_drift",
    "gates_by_role",
    "last_blocks",
    "law_times",
    "first_crossing",
    "match_paths",
    "reference_gates",
    "path_order",
    "relabel",
    "specialisation",
    "summarise",
    "time_to_threshold",
    "within_block_stats",
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


def summarise(values: dict) -> dict:
    """Path-relabelled observables of simulated runs: each of ``values``' arrays has leading
    axes (spec, seed, time). Returns ``order`` (spec, seed, P), relabelled ``alignment``,
    ``gates``, ``w``, ``weight_norm``, ``conserved``, and ``concat`` / ``concat_distinct``
    (spec, seed, time)."""
    n_spec = values["alignment"].shape[0]
    n_paths = values["alignment"].shape[-1]
    out: dict[str, list] = {k: [] for k in ("order", "alignment", "gates", "w", "weight_norm",
                                            "conserved", "concat", "concat_distinct")}
    for i in range(n_spec):
        align = values["alignment"][i]
        order = path_order(match_paths(align), n_paths)
        out["order"].append(order)
        out["alignment"].append(relabel(align, order, axis=3))
        out["gates"].append(relabel(values["gates"][i], order, axis=2))
        out["w"].append(relabel(values["w"][i], order, axis=2))
        norms = np.sqrt(np.diagonal(values["gram"][i], axis1=-2, axis2=-1))
        out["weight_norm"].append(relabel(norms, order, axis=2))
        out["conserved"].append(relabel(values["conserved"][i], order, axis=2))
        concat, distinct = concat_alignment(align)
        out["concat"].append(concat)
        out["concat_distinct"].append(distinct)
    return {k: np.stack(v) for k, v in out.items()}


def within_block_stats(blocks: np.ndarray, sim: np.ndarray, theory: np.ndarray, last: int
                       ) -> tuple[float, float]:
    """Over the ``last`` blocks of ``blocks`` (block of every record): the worst (over seeds
    and blocks) deviation of the simulated sum_p ||W^p||^2 ``sim`` (seed, time) from the
    within-block relation ``theory``, relative to the relation's in-block swing; and the mean
    dip of ``sim`` below its block-start value."""
    devs, dips = [], []
    for k in np.unique(blocks)[-last:]:
        idx = np.flatnonzero(blocks == k)
        swing = theory[:, idx].max(axis=1) - theory[:, idx].min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            devs.append(np.abs(sim[:, idx] - theory[:, idx]).max(axis=1) / swing)
        dips.append(sim[:, idx[0]] - sim[:, idx].min(axis=1))
    return float(np.max(devs)), float(np.mean(dips))


def gates_by_role(gates_end: np.ndarray, block_tasks, teachers) -> tuple[np.ndarray, np.ndarray]:
    """(active, inactive) gates at block ends: ``gates_end`` (seed, block, path) with paths
    relabelled so that path m serves teacher m; ``block_tasks``: the task of every block.
    Returns the active gate (seed, block) and the other paths' gates (seed, block, P - 1)."""
    gates_end = np.asarray(gates_end)
    active = np.array([list(teachers).index(t) for t in block_tasks])
    blocks = np.arange(len(active))
    others = np.array([[p for p in range(gates_end.shape[-1]) if p != a] for a in active])
    return (gates_end[:, blocks, active],
            gates_end[:, blocks[:, None], others])


def conservation_drift(conserved: np.ndarray, weight_norm: np.ndarray, tau_w: float) -> float:
    """Largest drift of a conserved quantity (seed, time, path) from its first value, relative
    to the path's largest tau_w ||W^p||^2 over time (worst seed and path)."""
    q = np.asarray(conserved)
    scale = (tau_w * np.asarray(weight_norm) ** 2).max(axis=1)
    return float((np.abs(q - q[:, :1]).max(axis=1) / scale).max())


def last_blocks(x, n: int):
    """The last ``n`` blocks of ``x`` (an xarray object with a ``block`` dim)."""
    return x.isel(block=slice(-n, None))


def law_times(ttt: np.ndarray, concat_final: np.ndarray, late: int, threshold: float = 0.95
              ) -> np.ndarray:
    """Mean time to threshold over the last ``late`` blocks of the specialised seeds
    (final concat >= ``threshold``), per run: ``ttt`` (run, seed, block), ``concat_final``
    (run, seed). NaN for a run without a specialised seed."""
    ttt, ok = np.asarray(ttt)[..., -late:].mean(axis=-1), np.asarray(concat_final) >= threshold
    out = np.full(ttt.shape[0], np.nan)
    for i in range(len(out)):
        if ok[i].any():
            out[i] = ttt[i][ok[i]].mean()
    return out


def reference_gates(gates_end: np.ndarray, plan: np.ndarray, n_tasks: int, k_s: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The gates a composed task's are compared with: for every composed block k >= k_s of
    task (m, m+1), the gates at the end of the last base block of task m and of task m+1
    before k_s. ``gates_end`` (model, seed, block, path[, unit]); returns two arrays
    (model, seed, n_composed, path[, unit])."""
    last = {int(plan[k]): k for k in range(k_s)}
    a = [last[int(plan[k]) - n_tasks] for k in range(k_s, len(plan))]
    b = [last[(int(plan[k]) - n_tasks + 1) % n_tasks] for k in range(k_s, len(plan))]
    return gates_end[:, :, a], gates_end[:, :, b]
