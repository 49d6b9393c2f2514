"""Teachers and block curricula for the task-abstraction family (Sandbrink et al., NeurIPS 2024).

Teachers are linear maps W*^m (d_out x d_in). In the ``orthogonal`` construction a Haar-random
orthogonal matrix R in O(d_in) is drawn from ``teacher_seed``; its first M d_out rows, scaled by
1/sqrt(d_in), are split into M consecutive blocks of d_out rows. Every teacher then has
orthonormal rows of norm 1/sqrt(d_in) and <W*^m, W*^n>_F = S delta_mn with S = d_out/d_in. The
``toy`` construction is the paper's mechanism model: scalar input (d_in = 1), W*^m = e_m in R^M,
so S = 1.

Inputs are x ~ N(0, I_{d_in}), a fresh batch every step, and targets y = W*^{m(t)} x, so the
expected loss of a student map W is 1/2 ||W*^{m(t)} - W||_F^2 (``population`` gradients).

Curricula are lists of task indices, one per block, into a stack of target maps:

- ``A_B``: block k uses base teacher k mod M;
- ``A_B_C__AB_BC_CA``: blocks k < k_s = floor(0.75 n_blocks) cycle the base teachers; from k_s on
  they cycle the composed tasks (M of them: AB, BC, CA for M = 3), which follow the base tasks
  in the stack. Composition is a mixture mu W*^m + (1 - mu) W*^{m+1} (``mix``) or row
  interleaving, even output rows from W*^m and odd rows from W*^{m+1} (``interleave``).

Each task also has coordinates in the teacher span (``target_coords``): one-hot for base tasks,
(mu, 1 - mu, 0) etc. for mixtures. Interleaved tasks leave the span (coordinates NaN).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.config import ConfigError

__all__ = [
    "Tasks",
    "block_plan",
    "composed_tasks",
    "haar_orthogonal",
    "make_tasks",
    "steps_per_block",
    "teachers",
]


class Tasks(NamedTuple):
    """Everything the simulation and the theory need to know about the targets."""

    maps: np.ndarray  # (K, d_out, d_in): base teachers first, then composed tasks
    coords: np.ndarray  # (K, M): coordinates in the teacher span (NaN rows: outside it)
    names: tuple[str, ...]  # ("A", "B", ..., "AB", ...)
    n_base: int  # M
    overlap: float  # S = <W*^m, W*^m>_F

    @property
    def base(self) -> np.ndarray:
        return self.maps[: self.n_base]


def haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed n x n orthogonal matrix (QR of a Gaussian with sign correction)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def teachers(n_tasks: int, d_in: int, d_out: int, *, seed: int = 0,
             mode: str = "orthogonal") -> np.ndarray:
    """M teacher maps, shape (M, d_out, d_in), float64 (see the module docstring).

    Raises:
        ConfigError: ``orthogonal`` with M d_out > d_in (not enough orthonormal rows), or
            ``toy`` with d_in != 1 or d_out != M.
    """
    if mode == "orthogonal":
        if n_tasks * d_out > d_in:
            raise ConfigError(
                f"orthogonal teachers need n_tasks * d_out <= d_in, got {n_tasks} * {d_out} > "
                f"{d_in}")
        rows = haar_orthogonal(d_in, np.random.default_rng(seed))[: n_tasks * d_out]
        return rows.reshape(n_tasks, d_out, d_in) / np.sqrt(d_in)
    if mode == "toy":
        if d_in != 1 or d_out != n_tasks:
            raise ConfigError(f"toy teachers need d_in = 1 and d_out = n_tasks, got d_in = "
                              f"{d_in}, d_out = {d_out}, n_tasks = {n_tasks}")
        return np.eye(n_tasks)[:, :, None].copy()
    raise ConfigError(f"unknown teacher mode {mode!r}; use 'orthogonal' or 'toy'")


def _letters(m: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[m] if m < 26 else f"T{m}"


def composed_tasks(base: np.ndarray, kind: str = "mix", mu: float = 0.5
                   ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The M composed tasks (m, m+1 mod M): maps (M, d_out, d_in), span coords (M, M), names."""
    n = base.shape[0]
    maps, coords, names = [], [], []
    for m in range(n):
        a, b = m, (m + 1) % n
        names.append(_letters(a) + _letters(b))
        if kind == "mix":
            maps.append(mu * base[a] + (1.0 - mu) * base[b])
            coord = np.zeros(n)
            coord[a] += mu
            coord[b] += 1.0 - mu
            coords.append(coord)
        elif kind == "interleave":
            comp = base[b].copy()
            comp[0::2] = base[a][0::2]
            maps.append(comp)
            coords.append(np.full(n, np.nan))
        else:
            raise ConfigError(f"unknown composition {kind!r}; use 'mix' or 'interleave'")
    return np.stack(maps), np.stack(coords), tuple(names)


def make_tasks(n_tasks: int, d_in: int, d_out: int, *, seed: int = 0, mode: str = "orthogonal",
               composition: str | None = None, mu: float = 0.5) -> Tasks:
    """Base teachers, followed by the composed tasks when ``composition`` is given."""
    base = teachers(n_tasks, d_in, d_out, seed=seed, mode=mode)
    overlap = float(np.sum(base[0] ** 2))
    maps, coords = base, np.eye(n_tasks)
    names = tuple(_letters(m) for m in range(n_tasks))
    if composition is not None:
        comp, comp_coords, comp_names = composed_tasks(base, composition, mu)
        maps = np.concatenate([base, comp])
        coords = np.concatenate([coords, comp_coords])
        names = names + comp_names
    return Tasks(maps, coords, names, n_tasks, overlap)


def steps_per_block(block_time: float, dt: float) -> int:
    """n_B = round(tau_B / dt) steps per block (exactly 1000 for tau_B = 1, dt = 1e-3)."""
    n = int(round(block_time / dt))
    if n < 1:
        raise ConfigError(f"a block of {block_time} time units is shorter than one step dt = {dt}")
    return n


def composition_start(n_blocks: int) -> int:
    """k_s = floor(0.75 n_blocks): the first composed block (counted over blocks actually run)."""
    return int(np.floor(0.75 * n_blocks))


def block_plan(curriculum: str, n_blocks: int, n_tasks: int) -> np.ndarray:
    """Task index (into :class:`Tasks` ``maps``) of every block, shape (n_blocks,), int32."""
    k = np.arange(n_blocks)
    if curriculum == "A_B":
        return (k % n_tasks).astype(np.int32)
    if curriculum == "A_B_C__AB_BC_CA":
        k_s = composition_start(n_blocks)
        plan = np.where(k < k_s, k % n_tasks, n_tasks + (k - k_s) % n_tasks)
        return plan.astype(np.int32)
    raise ConfigError(f"unknown curriculum {curriculum!r}; use 'A_B' or 'A_B_C__AB_BC_CA'")
