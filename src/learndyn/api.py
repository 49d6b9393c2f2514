"""The Python front door: ``learndyn.run`` and ``learndyn.load``.

``run`` builds the config (preset, then a config file, then overrides), re-uses a stored run
with the same content hash unless ``force``, otherwise runs the study, evaluates its checks,
draws its figures and stores everything atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import matplotlib.pyplot as plt
import xarray as xr

from . import __version__, registry
from .core import checkpoint, store
from .core import sweep as sweeps
from .core.config import Config, ConfigError
from .core.study import Check, Progress

__all__ = ["Result", "SolveError", "load", "run", "sweep"]



@dataclass
class Result:
    """A stored run: its dataset, checks, figure files and folder."""

    study: str
    config: Config
    seeds: list[int]
    dataset: xr.Dataset
    checks: list[Check]
    figures: dict[str, Path]
    path: Path
    cached: bool = field(default=False)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)


def _build_config(st, preset, overrides, config_file) -> Config:
    """Preset, then a config file, then overrides (a mapping or ``field=value`` strings)."""
    values = dict(st.config.file_values(config_file)) if config_file else {}
    assignments: Sequence[str] = ()
    if isinstance(overrides, Mapping):
        values.update(overrides)
    elif overrides is not None:
        assignments = list(overrides)
    return st.make_config(preset, values=values, overrides=assignments)


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"seeds must be a positive number, got {seeds}")
        return list(range(seeds))
    seeds = [int(s) for s in seeds]
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct non-negative integers, got {seeds}")
    return seeds


def run(
    study: str,
    *,
    preset: str = "quick",
    seeds: int | Sequence[int] | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    out: str | Path | None = None,
    config_file: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Result:
    """Run ``study`` (or re-use its stored result) and return the :class:`Result`.

    Args:
        study: a registered study name (see :func:`learndyn.studies`).
        preset: ``"quick"`` (seconds) or ``"paper"`` (the published parameters).
        seeds: number of seeds (``0..N-1``) or explicit seeds; default from the preset.
        overrides: field values, as a mapping or as ``"field=value"`` strings.
        out: folder to write; default ``<store>/<study>-<hash>``.
        config_file: TOML/JSON file of field values applied after the preset.
        force: recompute even if stored, and replace a different run stored at ``out``.
        progress: callback ``(done, total, label)`` for long runs.

    Raises:
        ConfigError: unknown study/preset/field, bad value, a configuration too large for
            the memory available, or ``out`` holding another run or not writable.
        SolveError: a theory ODE solve failed (the message names the study and the
            overrides).
        DivergenceError: the simulation produced non-finite values.
    """
    st = registry.get(study)
    config = _build_config(st, preset, overrides, config_file)
    seed_list = _seed_list(st.presets[preset].seeds if seeds is None else seeds)
    key = store.run_key(st.name, config.to_dict(), seed_list, __version__,
                        store.source_hash(st.run))
    target = _destination(out, store.home() / f"{st.name}-{key}")

    if _claim(target, key, force, allowed=()):
        cached = load(target)
        cached.cached = True
        return cached

    store.use_compilation_cache()
    started = time.perf_counter()
    resume = store.home() / ".checkpoints" / key  # an interrupted run continues from here
    # theory in float64 (simulations pick their dtype)
    every = float(os.environ.get("LEARNDYN_CHECKPOINT_SECONDS", "60"))
    with checkpoint.checkpointing(resume, every=every), jax.enable_x64(True), \
            _failures(st, config, preset):
        dataset = st.run(config, seeds=seed_list, progress=progress)
        dataset.attrs.update(
            study=st.name,
            preset=preset,
            config=config.to_json(),
            seeds=json.dumps(seed_list),
            version=__version__,
            key=key,
            paper=st.paper,
            claim=st.claim,
        )
        checks = st.evaluate(dataset, config)
        dataset.attrs["checks"] = json.dumps([c.to_dict() for c in checks])
        figures = st.figures(dataset, config)
    dataset.attrs["wall_time_s"] = round(time.perf_counter() - started, 3)  # run, checks, figures
    header = f"learndyn {__version__}: study {st.name}, preset {preset}, seeds {seed_list}"
    try:
        store.write_run(target, dataset, config.to_toml(header), checks, figures)
    finally:
        for fig in figures.values():
            plt.close(fig)
    shutil.rmtree(resume, ignore_errors=True)
    return load(target)


class SolveError(RuntimeError):
    """A theory computation (an ODE solve) failed for the configuration asked for."""


def _destination(out: str | Path | None, default: Path) -> Path:
    """The run folder to write, checked before anything is computed: not the current folder
    or one above it, and its parent creatable and writable."""
    if out is None:
        target = default
    elif not str(out).strip():
        raise ConfigError("--out: empty path; name a folder for the run")
    else:
        target = Path(out)
    resolved, here = target.resolve(), Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise ConfigError(f"--out {out}: refusing to write a run into the current folder or one "
                          "above it; name a new folder")
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=resolved.parent):
            pass
    except OSError as err:
        raise ConfigError(f"--out {target}: cannot write there ({err.strerror or err})") from None
    return target


@contextlib.contextmanager
def _failures(st, config: Config, preset: str):
    """Turn failures of a study's computation into one clear line: memory exhausted (a
    :class:`ConfigError`) and a failed ODE solve (:class:`SolveError`)."""
    try:
        yield
    except (ConfigError, KeyboardInterrupt):
        raise
    except Exception as err:  # noqa: BLE001 - classified below, re-raised otherwise
        text = str(err)
        changed = {k: v for k, v in config.to_dict().items()
                   if v != st.make_config(preset).to_dict().get(k)}
        regime = (", ".join(f"{k}={v}" for k, v in changed.items()) or "its preset values")
        if isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in text or \
                "Out of memory" in text:
            raise ConfigError(f"study '{st.name}': not enough memory for this configuration "
                              f"({regime}); use smaller sizes or fewer seeds") from None
        if "EquinoxRuntimeError" in text or "EquinoxRuntimeError" in type(err).__name__:
            why = next((line.split("RuntimeError:", 1)[1] for line in text.splitlines()
                        if "EquinoxRuntimeError:" in line), text).strip()
            why = why.split(" Try increasing")[0].rstrip(".")
            raise SolveError(f"study '{st.name}': an ODE solve of the theory failed ({why}) "
                             f"with {regime} (preset '{preset}'); try values closer to the "
                             "preset's") from None
        raise


def _claim(target: Path, key: str, force: bool, allowed: Sequence[str]) -> bool:
    """May we write ``key`` to ``target``? True if it already holds it (re-use it).

    Refuses a folder holding another run (unless ``force``) or files that are not a run's
    (other than the names in ``allowed``).
    """
    if not target.exists():
        return False
    if not target.is_dir():
        raise ConfigError(f"--out {target} is a file, not a folder")
    existing = store.stored_key(target)
    if existing == key and not force:
        return True
    run_files = {store.RESULTS, store.CONFIG, store.CHECKS, store.FIGURES, *allowed}
    if existing is None and any(p.name not in run_files for p in target.iterdir()):
        raise ConfigError(f"refusing to write into {target}: it holds files that are not a "
                          "learndyn run")
    if existing is not None and existing != key and not force:
        raise ConfigError(f"{target} holds a different run; use --force to replace it")
    return False


def sweep(
    study: str,
    *,
    grid: Mapping[str, Sequence[Any]] | Sequence[str] = (),
    preset: str = "quick",
    seeds: int | Sequence[int] | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    out: str | Path | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    dask_processes: bool = True,
    retries: int = 1,
    config_file: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Result:
    """Run ``study`` over a grid of config values and return the merged :class:`Result`.

    Args:
        grid: ``{"field": [v1, v2]}`` or ``["field=v1,v2", ...]``; the product is swept.
        executor: ``"local"`` (this process), ``"processes"`` (spawned pool of ``workers``)
            or ``"dask"`` (``scheduler`` address, or a local cluster of ``workers``;
            ``dask_processes=False`` keeps its workers in this process).
        retries: extra attempts for a failed task (fresh task keys).
        out: the sweep folder (default ``<store>/<study>-sweep-<hash>``); finished tasks keep
            their shards in ``out/shards``, so re-running resumes an interrupted sweep.
        Others as in :func:`run`.

    Raises:
        SweepError: tasks still failing after the retries (their grid points are named;
            finished shards stay on disk).
    """
    st = registry.get(study)
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise ConfigError(f"--workers must be a positive number, got {workers}")
    if isinstance(retries, bool) or int(retries) < 0:
        raise ConfigError(f"--retries must be 0 or more, got {retries}")
    base = _build_config(st, preset, overrides, config_file)
    if isinstance(grid, Mapping):
        grid = [f"{k}=" + ";".join(sweeps._label_text(v) for v in values)
                for k, values in grid.items()]
    values = sweeps.parse_grid(base, list(grid))
    seed_list = _seed_list(st.presets[preset].seeds if seeds is None else seeds)
    grid_json = json.dumps(values, default=list)
    key = store.run_key(f"{st.name}/sweep", {**base.to_dict(), "grid": grid_json}, seed_list,
                        __version__, store.source_hash(st.run))
    target = _destination(out, store.home() / f"{st.name}-sweep-{key}")
    if _claim(target, key, force, allowed=("shards",)):
        cached = load(target)
        cached.cached = True
        return cached
    shard_dir = target / "shards"
    store.clean_litter(shard_dir)
    if force and shard_dir.exists():
        for shard in shard_dir.glob("*.nc"):
            shard.unlink()
    tasks = sweeps.plan(st, registry.target(st.name), base, values, seed_list, shard_dir,
                        __version__)
    store.use_compilation_cache()
    failed = sweeps.execute(tasks, executor, workers=workers, scheduler=scheduler,
                            dask_processes=dask_processes, retries=retries, progress=progress)
    if failed:
        lines = [f"{sweeps.point_label(dict(p))}: {msg}" for t, msg in failed.items()
                 for p in t.points]
        raise sweeps.SweepError(f"{len(lines)} grid point(s) failed after {retries} retries "
                                f"(finished shards kept in {shard_dir}): " + "; ".join(lines))
    dataset, checks = sweeps.merge(tasks, values)
    dataset.attrs.update(study=st.name, preset=preset, config=base.to_json(),
                         seeds=json.dumps(seed_list), version=__version__, key=key,
                         grid=grid_json, kind="sweep", paper=st.paper, claim=st.claim)
    fig = sweeps.headline_figure(dataset, values, st.headline_label, base)
    header = (f"learndyn {__version__}: sweep of {st.name}, preset {preset}, seeds {seed_list}"
              f"\ngrid: {grid_json}")
    try:
        store.write_files(target, dataset, base.to_toml(header), checks, {"headline": fig})
    finally:
        plt.close(fig)
    return load(target)


def load(path: str | Path) -> Result:
    """Load a stored run folder."""
    path = Path(path)
    dataset = store.read_dataset(path)
    try:
        name = str(dataset.attrs["study"])
        st = registry.get(name)
        config = st.config.from_dict(json.loads(dataset.attrs["config"]))
        seeds = [int(s) for s in json.loads(dataset.attrs["seeds"])]
    except (KeyError, ValueError) as err:
        raise store.StoreError(f"{path}: results.nc lacks valid run metadata ({err})") from None
    figures = {p.stem: p for p in sorted((path / store.FIGURES).glob("*.png"))}
    return Result(name, config, seeds, dataset, store.read_checks(path), figures, path)
