"""learndyn: theory and simulation of neural-network learning dynamics, side by side.

>>> import learndyn
>>> result = learndyn.run("deep_linear", preset="quick")   # doctest: +SKIP
>>> result.dataset, result.checks, result.figures, result.path  # doctest: +SKIP

The public names below are imported on first use, so ``import learndyn`` (and the command
line's ``--help`` and ``list``) stay fast and import no JAX.
"""

from importlib import import_module

_PUBLIC = {
    "Check": "core.study",
    "Config": "core.config",
    "ConfigError": "core.config",
    "DivergenceError": "core.engine",
    "Preset": "core.study",
    "Result": "api",
    "SolveError": "api",
    "Study": "core.study",
    "SweepError": "core.sweep",
    "get_study": "registry:get",
    "load": "api",
    "param": "core.config",
    "run": "api",
    "studies": "registry",
    "sweep": "api",
}

__all__ = sorted([*_PUBLIC, "__version__"])


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("learndyn")
        except PackageNotFoundError:  # running from a source tree
            value = "0.0.0"
        globals()[name] = value
        return value
    if name not in _PUBLIC:
        raise AttributeError(f"module 'learndyn' has no attribute {name!r}")
    module, _, attr = _PUBLIC[name].partition(":")
    value = getattr(import_module(f".{module}", __name__), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
