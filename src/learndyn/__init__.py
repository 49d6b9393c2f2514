"""learndyn: theory and simulation of neural-network learning dynamics, side by side.

>>> import learndyn
>>> result = learndyn.run("deep_linear", preset="quick")   # doctest: +SKIP
>>> result.dataset, result.checks, result.figures, result.path  # doctest: +SKIP
"""

from .api import Result, __version__, load, run, sweep
from .core.config import Config, ConfigError, param
from .core.engine import DivergenceError
from .core.study import Check, Preset, Study
from .core.sweep import SweepError
from .registry import get as get_study
from .registry import studies

__all__ = [
    "Check",
    "Config",
    "ConfigError",
    "DivergenceError",
    "Preset",
    "Result",
    "Study",
    "SweepError",
    "__version__",
    "get_study",
    "load",
    "param",
    "run",
    "studies",
    "sweep",
]
