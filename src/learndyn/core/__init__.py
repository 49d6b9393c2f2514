"""Machinery every study uses: configs, studies and checks, the training engine, ODEs, storage,
plotting. ``core`` imports no family, and importing it changes no global state (JAX's x64 mode,
matplotlib's backend): :func:`learndyn.run` computes a study in 64-bit mode, and simulations
choose their dtype explicitly (float32 by default). Names are imported on first use.
"""

from importlib import import_module

_PUBLIC = {
    "Check": "study",
    "Config": "config",
    "ConfigError": "config",
    "DivergenceError": "engine",
    "Preset": "study",
    "Progress": "study",
    "Recording": "engine",
    "Stream": "engine",
    "Study": "study",
    "TrainState": "engine",
    "float64": "precision",
    "gradient_step": "engine",
    "param": "config",
    "record_steps": "engine",
    "simulate": "engine",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'learndyn.core' has no attribute {name!r}")
    value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
