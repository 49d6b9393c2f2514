"""Config fields shared by the per-weight gain studies (``effort_gain``, ``effort_continual``),
and which fields of every learning-effort study keep array shapes (:func:`batch_fields`).

Carrasco-Davis, Masís & Saxe, arXiv:2310.19919: a two-layer linear network on correlated
Gaussians, gains G in [-g_bound, g_bound] with cost exp(beta sum G^2) - 1, optimised by
projected gradient ascent from small random gains; SGD networks driven by the same gains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..core.config import Config, param

__all__ = ["BATCH_CANDIDATES", "GainStudyConfig", "batch_fields"]

#: scalar fields that enter the compiled programs (the unrolled value, its ascent and the SGD
#: loop) only as traced numbers of the problem, its initial weights or the SGD arguments; the
#: horizon, widths, batch sizes and iteration counts are shapes
BATCH_CANDIDATES = ("beta", "gamma", "lr", "lam", "mu", "sigma", "p", "p_a", "p_b", "w0",
                    "g_max", "g_bound", "u_bound", "init_scale", "init_noise", "init_seed",
                    "data_seed", "step", "adam_lr")


def batch_fields(config: type[Config]) -> tuple[str, ...]:
    """The :data:`BATCH_CANDIDATES` among the scalar fields of ``config``: a sweep over them
    runs every point through the same compiled programs (the study's ``batch_fields``)."""
    scalar = {f.name for f in dataclasses.fields(config)
              if isinstance(f.default, int | float) and not isinstance(f.default, bool)}
    return tuple(f for f in BATCH_CANDIDATES if f in scalar)


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
