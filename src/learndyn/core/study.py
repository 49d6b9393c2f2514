"""What a study is: a config class, presets, and three functions (run, figures, checks).

A *study* reproduces one published result. ``run(config, *, seeds, progress)`` returns an
``xarray.Dataset`` in which theory and simulation share names (``<quantity>_theory`` and
``<quantity>_sim`` with a ``seed`` dimension); ``figures(ds, config)`` draws it (each figure
with a one-sentence caption, :func:`learndyn.core.plotting.captioned`) and ``checks(ds,
config)`` turns the paper's claims into :class:`Check` values that pass or fail. The typed
config travels with the dataset; :meth:`Study.config_of` is the one way to get it back from a
stored result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import xarray as xr
from matplotlib.figure import Figure

from .config import Config, ConfigError

__all__ = ["Check", "Preset", "Progress", "Study", "check_batch", "run_each"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:=+-]*")


class Progress(Protocol):
    """Called by long computations as ``progress(done, total, label)``."""

    def __call__(self, done: int, total: int, label: str = "") -> None: ...


@dataclass(frozen=True)
class Check:
    """One quantitative claim: ``value`` compared with ``threshold``.

    ``id`` is stable (no spaces; tests and sweeps refer to checks by it), ``name``
    is for people. Build with :meth:`at_most` or :meth:`at_least`; a NaN value never passes.
    """

    id: str
    name: str
    value: float
    threshold: float
    passed: bool
    claim: str
    comparison: str = "<="

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise ValueError(f"check id {self.id!r}: letters, digits and _ . : = + - only")

    @classmethod
    def at_most(cls, id: str, name: str, value: float, threshold: float, claim: str) -> Check:
        value = float(value)
        return cls(id, name, value, float(threshold), bool(value <= threshold), claim, "<=")

    @classmethod
    def at_least(cls, id: str, name: str, value: float, threshold: float, claim: str) -> Check:
        value = float(value)
        return cls(id, name, value, float(threshold), bool(value >= threshold), claim, ">=")

    def to_dict(self) -> dict[str, Any]:
        def clean(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "id": self.id,
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
        return cls(d["id"], d["name"], value, threshold, bool(d["passed"]), d["claim"],
                   d.get("comparison", "<="))


@dataclass(frozen=True)
class Preset:
    """A named parameter set: field values over the config defaults and a number of seeds.

    ``cost`` says what a run takes where it is long (measured, e.g. "about 20 min on 2 CPU
    cores; GPU welcome"); the command line prints it before the run starts.
    """

    seeds: int
    values: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""
    cost: str = ""


@dataclass(frozen=True)
class Study:
    """A reproducible result: theory + simulation + figures + checks.

    Attributes:
        name: registry name (``learndyn run NAME``); the study's module is
            ``learndyn.studies.NAME``.
        claim: the paper's result in one line.
        paper: citation.
        config: the study's :class:`Config` subclass.
        presets: at least ``quick`` (seconds on 2 CPU cores) and ``paper`` (published values).
        run: ``run(config, *, seeds, progress) -> xr.Dataset``.
        figures: ``figures(ds, config) -> {name: Figure}``, each figure captioned.
        checks: ``checks(ds, config) -> [Check]``.
        batch_fields: config fields that keep every array shape; sweeps over them call
            ``run_batch(configs, *, seeds, progress) -> [Dataset]``, one vmapped program.
        headline: ``headline(ds, config) -> float``, the study's key number, plotted by sweeps
            (default: the fraction of checks passed); ``headline_label`` names it.
    """

    name: str
    claim: str
    paper: str
    config: type[Config]
    presets: Mapping[str, Preset]
    run: Callable[..., xr.Dataset]
    figures: Callable[[xr.Dataset, Any], dict[str, Figure]]
    checks: Callable[[xr.Dataset, Any], list[Check]]
    batch_fields: tuple[str, ...] = ()
    run_batch: Callable[..., list[xr.Dataset]] | None = None
    headline: Callable[[xr.Dataset, Any], float] | None = None
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

    def config_of(self, ds: xr.Dataset) -> Config:
        """The config a stored result was computed with (its ``config`` attribute)."""
        return self.config.from_dataset(ds)

    def evaluate(self, ds: xr.Dataset, config: Config | None = None) -> list[Check]:
        """The checks of ``ds`` (config from the dataset unless given); ids must be unique."""
        checks = self.checks(ds, self.config_of(ds) if config is None else config)
        ids = [c.id for c in checks]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"study '{self.name}': check ids repeat: {', '.join(twice)}")
        return checks


def check_batch(configs: Sequence[Config], fields: Sequence[str]) -> None:
    """Raise :class:`ConfigError` unless ``configs`` differ only in ``fields`` (the fields a
    study's ``run_batch`` takes together: its ``batch_fields``)."""
    first = configs[0].to_dict()
    for other in configs[1:]:
        differ = [k for k, v in other.to_dict().items() if v != first[k] and k not in fields]
        if differ:
            raise ConfigError(f"run_batch: configs differ in '{differ[0]}', which changes "
                              "shapes; they may differ only in " + ", ".join(fields))


def run_each(run: Callable[..., xr.Dataset], fields: Sequence[str]
             ) -> Callable[..., list[xr.Dataset]]:
    """A ``run_batch`` that checks the configs (:func:`check_batch`) and runs them one after
    another through ``run``: for studies whose compiled programs take ``fields`` as traced
    arguments, so the whole batch compiles once (not one vmapped program: use where the
    values are cheap to run in turn, or the study's run is not easily vmapped)."""
    fields = tuple(fields)

    def run_batch(configs, *, seeds, progress: Progress | None = None) -> list[xr.Dataset]:
        check_batch(configs, fields)
        return [run(c, seeds=seeds, progress=progress) for c in configs]

    run_batch.__doc__ = f"``run`` for configs differing only in {', '.join(fields)}, in turn " \
                        "through one compiled program."
    return run_batch
