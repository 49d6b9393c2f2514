"""What a study is: a config class, presets, and three functions (run, figures, checks).

A *study* reproduces one published result. ``run(config, seeds=..., progress=...)`` returns an
``xarray.Dataset`` in which theory and simulation share names (``<quantity>_theory`` and
``<quantity>_sim`` with a ``seed`` dimension); ``figures(ds)`` draws it and ``checks(ds)`` turns
the paper's claims into :class:`Check` values that pass or fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import xarray as xr
from matplotlib.figure import Figure

from .config import Config, ConfigError

__all__ = ["Check", "Preset", "Progress", "Study"]


class Progress(Protocol):
    """Called by long computations as ``progress(done, total, label)``."""

    def __call__(self, done: int, total: int, label: str = "") -> None: ...


@dataclass(frozen=True)
class Check:
    """One quantitative claim: ``value`` compared with ``threshold``.

    Build with :meth:`at_most` or :meth:`at_least`; a NaN value never passes.
    """

    name: str
    value: float
    threshold: float
    passed: bool
    claim: str
    comparison: str = "<="

    @classmethod
    def at_most(cls, name: str, value: float, threshold: float, claim: str) -> Check:
        value = float(value)
        return cls(name, value, float(threshold), bool(value <= threshold), claim, "<=")

    @classmethod
    def at_least(cls, name: str, value: float, threshold: float, claim: str) -> Check:
        value = float(value)
        return cls(name, value, float(threshold), bool(value >= threshold), claim, ">=")

    def to_dict(self) -> dict[str, Any]:
        def clean(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "name": self.name,
            "value": clean(self.value),
            "threshold": clean(self.threshold),
            "passed": self.passed,
            "claim": self.claim,
            "comparison": self.comparison,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Check:
        nan = float("nan")
        value = nan if d.get("value") is None else float(d["value"])
        threshold = nan if d.get("threshold") is None else float(d["threshold"])
        return cls(d["name"], value, threshold, bool(d["passed"]), d["claim"],
                   d.get("comparison", "<="))


@dataclass(frozen=True)
class Preset:
    """A named parameter set: field values over the config defaults and a number of seeds."""

    seeds: int
    values: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""


@dataclass(frozen=True)
class Study:
    """A reproducible result: theory + simulation + figures + checks.

    Attributes:
        name: registry name (``learndyn run NAME``).
        claim: the paper's result in one line.
        paper: citation.
        config: the study's :class:`Config` subclass.
        presets: at least ``quick`` (seconds on 2 CPU cores) and ``paper`` (published values).
        run: ``run(config, *, seeds, progress) -> xr.Dataset``.
        figures: ``figures(ds) -> {name: Figure}``.
        checks: ``checks(ds) -> [Check]``.
        batch_fields: config fields that keep every array shape; sweeps over them call
            ``run_batch(configs, *, seeds, progress) -> [Dataset]``, one vmapped program.
        headline: ``headline(ds) -> float``, the study's key number, plotted by sweeps
            (default: the fraction of checks passed); ``headline_label`` names it.
    """

    name: str
    claim: str
    paper: str
    config: type[Config]
    presets: Mapping[str, Preset]
    run: Callable[..., xr.Dataset]
    figures: Callable[[xr.Dataset], dict[str, Figure]]
    checks: Callable[[xr.Dataset], list[Check]]
    batch_fields: tuple[str, ...] = ()
    run_batch: Callable[..., list[xr.Dataset]] | None = None
    headline: Callable[[xr.Dataset], float] | None = None
    headline_label: str = ""

    def make_config(
        self,
        preset: str = "quick",
        *,
        values: Mapping[str, Any] | None = None,
        overrides: Sequence[str] = (),
    ) -> Config:
        """Preset values, then ``values`` (e.g. from a file), then ``field=value`` overrides."""
        if preset not in self.presets:
            raise ConfigError(
                f"study '{self.name}' has no preset '{preset}'; presets are: "
                + ", ".join(self.presets)
            )
        config = self.config.from_dict({**self.presets[preset].values, **(values or {})})
        return config.with_overrides(overrides) if overrides else config
