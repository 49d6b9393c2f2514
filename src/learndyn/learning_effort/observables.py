r"""What is measured on controlled learning (Carrasco-Davis, Masís & Saxe, arXiv:2310.19919).

- discounted effort :math:`E = \alpha\sum_k\gamma^{t_k}\Phi(c_k)` for a cost C = beta Phi(c)
  (:func:`effort`);
- temporal centre of mass of a control's deviation from neutral,
  :math:`\bar t = \sum_k t_k|c_k - c_0| / \sum_k|c_k - c_0|` (:func:`center_of_mass`);
- gain summaries: mean |G2| per output row of W2 (per aspect) and mean |G1| per hidden unit
  (:func:`gain_summary`);
- post-switch losses in continual learning (:func:`block_start_means`);
- agreement of SGD with the average dynamics in units of max(rel x theory, 3 standard errors)
  (:func:`sgd_mismatch`).
"""

from __future__ import annotations

import numpy as np

from .theory import Problem, cost_curve

__all__ = [
    "block_start_means",
    "center_of_mass",
    "effort",
    "gain_summary",
    "sgd_mismatch",
]


def effort(p: Problem, control) -> float:
    """alpha sum_k gamma^{t_k} C(c_k) / beta: the discounted effort Phi for a cost beta Phi(c)."""
    c = cost_curve(p, control)
    disc = np.exp(np.arange(p.n_steps) * float(p.dt) * np.log(float(p.gamma)))
    return float(p.dt) * float(np.sum(disc * c)) / float(p.params["beta"])


def center_of_mass(times: np.ndarray, control: np.ndarray, neutral: float = 0.0) -> np.ndarray:
    """sum_k t_k |c_k - c0| / sum_k |c_k - c0| along the first axis (NaN where c = c0)."""
    dev = np.abs(np.asarray(control, np.float64) - neutral)
    t = np.asarray(times, np.float64).reshape((-1,) + (1,) * (dev.ndim - 1))
    total = dev.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (t * dev).sum(axis=0) / total, np.nan)


def gain_summary(control) -> tuple[np.ndarray, np.ndarray]:
    """(mean |G2| per output row (n, O), mean |G1| per hidden unit (n, H))."""
    g1, g2 = (np.abs(np.asarray(a)) for a in control)
    return g2.mean(axis=2), g1.mean(axis=2)


def block_start_means(loss: np.ndarray, steps: np.ndarray, switch_every: int,
                      fraction: float = 0.1) -> np.ndarray:
    """Mean of ``loss`` (last axis on the record ``steps``) over the first ``fraction`` of each
    task block after the first: shape (..., blocks - 1)."""
    steps = np.asarray(steps)
    blocks = steps // switch_every
    out = []
    for b in range(1, int(blocks.max()) + 1):
        start = b * switch_every
        sel = (steps >= start) & (steps < start + max(1, int(fraction * switch_every)))
        if sel.any() and start + switch_every <= steps.max() + 1:  # complete blocks only
            out.append(np.asarray(loss)[..., sel].mean(axis=-1))
    return np.stack(out, axis=-1) if out else np.empty(np.shape(loss)[:-1] + (0,))


def sgd_mismatch(sim: np.ndarray, theory: np.ndarray, rel: float, floor: float = 0.0) -> float:
    """max over records after the first of |mean_sim - theory| / max(rel |theory|, 3 s.e.,
    floor).

    ``sim`` has seeds on its first axis; values <= 1 mean agreement within tolerance. ``floor``
    is the smallest loss difference the simulation resolves (its precision).
    """
    sim, theory = np.asarray(sim)[:, 1:], np.asarray(theory)[1:]
    mean = sim.mean(axis=0)
    se = sim.std(axis=0, ddof=1) / np.sqrt(sim.shape[0])
    tol = np.maximum(np.maximum(rel * np.abs(theory), 3.0 * se), floor)
    return float(np.max(np.abs(mean - theory) / tol))
