"""Config fields shared by the per-weight gain studies (``effort_gain``, ``effort_continual``).

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919: a two-layer linear network on correlated
Gaussians, gains G in [-g_bound, g_bound] with cost exp(beta sum G^2) - 1, optimised by
projected gradient ascent from small random gains; SGD networks driven by the same gains.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.config import Config, param

__all__ = ["GainStudyConfig"]


@dataclass(frozen=True)
class GainStudyConfig(Config):
    hidden: int = param(6, "hidden units H", ge=1)
    lr: float = param(5e-3, "learning rate alpha = Euler step; t = step x alpha", gt=0)
    lam: float = param(0.01, "weight decay lambda", ge=0)
    n_steps: int = param(4000, "horizon n (steps)", ge=10)
    init_scale: float = param(0.01, "std of the initial weights", gt=0)
    init_seed: int = param(0, "seed of the initial weights and gains", ge=0)
    beta: float = param(0.3, "cost of control beta (cost exp(beta sum G^2) - 1)", gt=0)
    gamma: float = param(0.99, "discount per unit time", gt=0, le=1)
    g_bound: float = param(0.5, "gains in [-g_bound, g_bound]", gt=0)
    init_noise: float = param(1e-3, "std of the random initial gains (then clipped)", ge=0)
    step: float = param(10.0, "projected-ascent step size", gt=0)
    iterations: int = param(100, "ascent iterations", ge=1)
    batch: int = param(32, "SGD batch size", ge=1)
    num_records: int = param(201, "SGD records", ge=3)
    dtype: str = param("float32", "SGD precision", choices=("float32", "float64"))
