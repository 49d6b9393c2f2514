r"""Data of the alignment studies: the two-point task and XOR.

Reference: L. van Rossem, A. M. Saxe, *When Representations Align: Universality in
Representation Learning Dynamics*, ICML 2024 (arXiv:2402.09142), section 4 and appendix.

Two points (as the reference code) along the all-ones direction, so that the squared input and
target distances are exactly ``dx2`` and ``dy2``:

.. math:: x_1 = -\mathbb 1/\sqrt{d_{in}}, \quad x_2 = (-1 + \sqrt{dx2})\,\mathbb 1/\sqrt{d_{in}},
          \qquad y_1 = 0.6\,\mathbb 1/\sqrt{d_{out}}, \quad
          y_2 = (0.6 + \sqrt{dy2})\,\mathbb 1/\sqrt{d_{out}}.

XOR: the four corners :math:`x \in \{\pm 1\}^2` with target 1 where the signs differ, else 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pairwise_sq_distances", "two_points", "xor"]


def two_points(dx2: float, dy2: float, *, d_in: int = 1, d_out: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(2, d_in)`` and targets ``(2, d_out)`` with ``|dx|^2 = dx2``, ``|dy*|^2 = dy2``."""
    if dx2 <= 0 or dy2 < 0:
        raise ValueError(f"need dx2 > 0 and dy2 >= 0, got dx2={dx2}, dy2={dy2}")
    ex, ey = np.ones(d_in) / np.sqrt(d_in), np.ones(d_out) / np.sqrt(d_out)
    x = np.stack([-1.0 * ex, (-1.0 + np.sqrt(dx2)) * ex])
    y = np.stack([0.6 * ey, (0.6 + np.sqrt(dy2)) * ey])
    return x, y


def xor() -> tuple[np.ndarray, np.ndarray]:
    """XOR corners ``(4, 2)``, ordered (-,-), (-,+), (+,-), (+,+), and 0/1 targets ``(4, 1)``."""
    x = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    y = (x[:, :1] != x[:, 1:]).astype(float)
    return x, y


def pairwise_sq_distances(z: np.ndarray) -> np.ndarray:
    """``D[i, j] = |z_i - z_j|^2`` for points along the first axis."""
    z = np.asarray(z, float)
    diff = z[:, None, :] - z[None, :, :]
    return np.sum(diff * diff, axis=-1)
