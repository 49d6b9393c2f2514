"""Machinery every study uses: configs, studies and checks, the training engine, ODEs, storage,
plotting. ``core`` imports no family.

Importing it switches JAX to 64-bit mode: theory runs in float64, and simulations choose their
dtype explicitly (float32 by default).
"""

import jax

jax.config.update("jax_enable_x64", True)

from .config import Config, ConfigError, param  # noqa: E402
from .study import Check, Preset, Progress, Study  # noqa: E402

__all__ = ["Check", "Config", "ConfigError", "Preset", "Progress", "Study", "param"]
