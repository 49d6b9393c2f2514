"""Machinery every study uses: configs, studies and checks, the training engine, ODEs, storage,
plotting. ``core`` imports no family, and importing it changes no global state (JAX's x64 mode,
matplotlib's backend): :func:`learndyn.run` computes a study in 64-bit mode, and simulations
choose their dtype explicitly (float32 by default).
"""

from .config import Config, ConfigError, param
from .engine import DivergenceError, Recording, TrainState, gradient_step, record_steps, simulate
from .precision import float64
from .study import Check, Preset, Progress, Study

__all__ = [
    "Check",
    "Config",
    "ConfigError",
    "DivergenceError",
    "Preset",
    "Progress",
    "Recording",
    "Study",
    "TrainState",
    "float64",
    "gradient_step",
    "param",
    "record_steps",
    "simulate",
]
