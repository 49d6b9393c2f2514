"""Parameter sweeps: a grid of config values -> tasks -> an executor -> one merged Dataset.

Planning. The grid is the product of the values given per field. Points that differ only in
fields the study declares shape-keeping (``Study.batch_fields``) form one task, run by
``Study.run_batch`` as a single vmapped program; every other difference starts a new task.
Each task carries all the seeds.

Execution. Tasks are module-level data (:class:`Task`) run by the module-level function
:func:`run_task`, which imports the study by its ``module:attr`` target, so a task pickles
without any jitted closure. Executors: ``local`` (in this process), ``processes`` (a
spawn-based pool: JAX must never be forked) and ``dask`` (``distributed``: a scheduler address
or a local cluster). Each finished task writes its own shard atomically; a task whose shard
exists is not run again, so an interrupted sweep resumes where it stopped. A task that raises,
or whose worker dies, is retried with a fresh task key; if it still fails it is reported with
its grid point while every finished shard is kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import importlib
import itertools
import json
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr

from .checkpoint import checkpointing
from .config import Config, ConfigError
from .store import atomic_write, use_compilation_cache
from .study import Check, Progress, Study

__all__ = [
    "SweepError",
    "Task",
    "execute",
    "merge",
    "parse_grid",
    "plan",
    "point_label",
    "run_task",
]

EXECUTORS = ("local", "processes", "dask")


class SweepError(RuntimeError):
    """Some tasks failed after their retries (finished shards are kept)."""


@dataclass(frozen=True)
class Task:
    """A unit of work: grid points sharing array shapes, with all seeds."""

    target: str  # "module:attr" of the Study
    points: tuple[tuple[tuple[str, Any], ...], ...]  # grid values of each point
    configs: tuple[str, ...]  # full config of each point, as JSON
    seeds: tuple[int, ...]
    shard: str  # where the task writes its result

    @property
    def key(self) -> str:
        return Path(self.shard).stem


# ---- grid ---------------------------------------------------------------------------------
def _split_values(text: str) -> list[str]:
    """``a,b,c`` -> [a, b, c]; for list-valued fields ``1,2;3,4`` -> ["1,2", "3,4"]."""
    sep = ";" if ";" in text else ","
    return [v.strip() for v in text.split(sep) if v.strip()]


def parse_grid(config: Config, items: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``field=v1,v2,...`` strings against ``config`` (values coerced and validated).

    List-valued fields separate values with ``;`` (``depths=2;2,3``).
    """
    if not items:
        raise ConfigError("empty grid: give at least one --grid field=v1,v2,...")
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"grid '{item}' is not of the form field=v1,v2,...")
        if name not in config.field_names():
            raise ConfigError(f"unknown config field '{name}' in grid; fields are: "
                              + ", ".join(config.field_names()))
        if name in grid:
            raise ConfigError(f"grid field '{name}' given twice")
        raw = _split_values(text)
        if not raw:
            raise ConfigError(f"grid field '{name}' has no values")
        values = [getattr(config.with_overrides([f"{name}={v}"]), name) for v in raw]
        if len({json.dumps(v) for v in values}) != len(values):
            raise ConfigError(f"grid field '{name}' repeats a value")
        grid[name] = values
    return grid


def point_label(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_label(v)}" for k, v in point.items())


def _label(value: Any) -> Any:
    return ",".join(str(v) for v in value) if isinstance(value, tuple | list) else value


def _label_text(value: Any) -> str:
    """A grid value as command-line text (``parse_grid`` reads it back)."""
    return str(_label(value)).lower() if isinstance(value, bool) else str(_label(value))


def plan(study: Study, target: str, base: Config, grid: Mapping[str, Sequence[Any]],
         seeds: Sequence[int], shard_dir: str | Path, version: str) -> list[Task]:
    """Group the grid's points into tasks (one per set of array shapes)."""
    groups: dict[str, list[tuple[dict, Config]]] = {}
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        config = base.replace(**point)
        shape = {k: v for k, v in config.to_dict().items() if k not in study.batch_fields}
        if study.run_batch is None:
            shape = config.to_dict()
        groups.setdefault(json.dumps(shape, sort_keys=True), []).append((point, config))
    tasks = []
    for members in groups.values():
        configs = tuple(c.to_json() for _, c in members)
        key = hashlib.sha256(json.dumps(
            [study.name, configs, list(seeds), version]).encode()).hexdigest()[:16]
        tasks.append(Task(
            target=target,
            points=tuple(tuple(p.items()) for p, _ in members),
            configs=configs,
            seeds=tuple(int(s) for s in seeds),
            shard=str(Path(shard_dir) / f"{key}.nc"),
        ))
    return tasks


# ---- one task -----------------------------------------------------------------------------
def _load_study(target: str) -> Study:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def run_task(task: Task, progress: Progress | None = None) -> str:
    """Run a task's points (vmapped where the study allows) and write its shard atomically."""
    study = _load_study(task.target)
    configs = [study.config.from_dict(json.loads(c)) for c in task.configs]
    use_compilation_cache()  # worker processes share the compiled programs on disk
    resume = Path(task.shard).parent / f".{task.key}.resume"  # an interrupted task resumes
    with checkpointing(resume, remove_when_done=False), jax.enable_x64(True):
        if study.run_batch is not None and len(configs) > 1:
            datasets = study.run_batch(configs, seeds=list(task.seeds), progress=progress)
        else:
            datasets = [study.run(c, seeds=list(task.seeds), progress=progress)
                        for c in configs]
        pieces = []
        for ds, config in zip(datasets, configs):
            ds = ds.copy()
            ds.attrs["config"] = config.to_json()
            checks = study.evaluate(ds, config)
            ds = ds.assign(
                check_value=("check", np.array([c.value for c in checks], dtype=np.float64)),
                check_threshold=("check", np.array([c.threshold for c in checks])),
                check_passed=("check", np.array([c.passed for c in checks])),
            ).assign_coords(check=[c.id for c in checks])
            ds.attrs["checks"] = json.dumps([c.to_dict() for c in checks])
            ds["headline"] = float(study.headline(ds, config)) if study.headline else float(
                np.mean([c.passed for c in checks]))
            pieces.append(ds)
    merged = xr.concat(pieces, dim="point", combine_attrs="drop_conflicts")
    merged.attrs["checks"] = json.dumps([json.loads(p.attrs["checks"]) for p in pieces])
    merged.attrs["points"] = json.dumps([dict(p) for p in task.points], default=_label)
    merged.attrs.pop("config", None)
    Path(task.shard).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(task.shard), lambda tmp: merged.to_netcdf(tmp, engine="h5netcdf"))
    shutil.rmtree(resume, ignore_errors=True)
    return task.shard


def shard_done(task: Task) -> bool:
    """True when the task's shard exists and reads back."""
    try:
        with xr.open_dataset(task.shard, engine="h5netcdf") as ds:
            return "points" in ds.attrs
    except (OSError, ValueError):
        return False


# ---- executors ----------------------------------------------------------------------------
TaskProgress = Callable[[int, int, str], None]


def execute(
    tasks: Sequence[Task],
    executor: str = "local",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_processes: bool = True,
    retries: int = 1,
    progress: Progress | None = None,
) -> dict[Task, str]:
    """Run the tasks whose shards are missing; return {failed task: error message}."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}'; executors are: " + ", ".join(EXECUTORS))
    todo = [t for t in tasks if not shard_done(t)]
    done = len(tasks) - len(todo)

    def tick(n: int) -> None:
        if progress is not None:
            progress(n, len(tasks), "sweep tasks")

    tick(done)
    failed: dict[Task, str] = {}
    for attempt in range(retries + 1):
        if not todo:
            break
        if executor == "local":
            failed = _run_local(todo, progress, tick, done=len(tasks) - len(todo))
        elif executor == "processes":
            failed = _run_pool(todo, workers or os.cpu_count() or 1)
        else:
            failed = _run_dask(todo, workers, scheduler, dask_processes, attempt)
        todo = [t for t in todo if t in failed]
        tick(len(tasks) - len(todo))
    return failed


def _run_local(todo, progress, tick, done: int) -> dict[Task, str]:
    failed = {}
    for task in todo:
        try:
            run_task(task, progress)
            done += 1
        except Exception as err:  # noqa: BLE001 - reported per grid point
            failed[task] = f"{type(err).__name__}: {err}"
        tick(done)
    return failed


def die_with_parent(parent: int) -> None:
    """In a worker process: exit as soon as ``parent`` (the sweep) is gone, even when it was
    killed with SIGKILL and could not shut its pool down (a watcher thread polls twice a
    second)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="learndyn-die-with-parent", daemon=True).start()


def _run_pool(todo, workers: int) -> dict[Task, str]:
    failed = {}
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context,
                                initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(run_task, task): task for task in todo}
        for future in cf.as_completed(futures):
            try:
                future.result()
            except Exception as err:  # noqa: BLE001 - includes BrokenProcessPool (dead worker)
                failed[futures[future]] = f"{type(err).__name__}: {err}"
    return failed


def _run_dask(todo, workers, scheduler, processes: bool, attempt: int) -> dict[Task, str]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("the dask executor needs the 'dask' extra: "
                          "pip install 'learndyn[dask]'") from None
    failed = {}
    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1,
                               processes=processes, dashboard_address=None)
        client = Client(cluster)
    try:
        # a fresh key per attempt, so the scheduler never returns a cached failure
        futures = {client.submit(run_task, task, key=f"{task.key}-try{attempt}", pure=False): task
                   for task in todo}
        for future in as_completed(list(futures)):
            try:
                future.result()
            except Exception as err:  # noqa: BLE001 - includes KilledWorker
                failed[futures[future]] = f"{type(err).__name__}: {err}"
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return failed


# ---- merging ------------------------------------------------------------------------------
def merge(tasks: Sequence[Task], grid: Mapping[str, Sequence[Any]]) -> tuple[xr.Dataset,
                                                                              list[Check]]:
    """One Dataset with a dimension per swept field, and every point's checks.

    Where a swept field changes a coordinate (the recorded steps of a learning-rate sweep, the
    modes of a width sweep), that dimension ``d`` becomes positional, ``d_index``, and its
    coordinates (``d`` itself and those along it, such as ``step``) are kept per grid point
    with the grid dimensions; shorter points are padded with NaN.
    """
    points, checks = [], []
    for task in tasks:
        with xr.open_dataset(task.shard, engine="h5netcdf") as shard:
            shard = shard.load()
        per_point = json.loads(shard.attrs["checks"])
        for i, point in enumerate(task.points):
            point = dict(point)
            ds = shard.isel(point=i, drop=True)
            ds.attrs = {}
            points.append((point, ds))
            label = point_label(point)
            for c in per_point[i]:
                check = Check.from_dict(c)
                checks.append(Check(check.id, f"{label}: {check.name}", check.value,
                                    check.threshold, check.passed, check.claim,
                                    check.comparison))
    varying = _varying_dims([ds for _, ds in points])
    parts, moved = [], set()
    for point, ds in points:
        ds, names = _positional(ds, varying)
        moved |= names
        parts.append(ds.expand_dims({k: [_label(v)] for k, v in point.items()}))
    merged = xr.merge(parts, join="outer", compat="no_conflicts", combine_attrs="drop")
    merged = merged.set_coords(sorted(moved))
    order = {k: [_label(v) for v in values] for k, values in grid.items()}
    return merged.reindex(order), checks


def _varying_dims(datasets: Sequence[xr.Dataset]) -> list[str]:
    """Dimensions whose index coordinate is not the same at every grid point."""
    dims = {d for ds in datasets for d in ds.indexes if d != "check"}
    return sorted(d for d in dims if any(
        d not in ds.indexes or not ds.indexes[d].equals(datasets[0].indexes[d])
        for ds in datasets))


def _positional(ds: xr.Dataset, dims: Sequence[str]) -> tuple[xr.Dataset, set[str]]:
    """``ds`` with each of ``dims`` made positional (``d`` -> ``d_index``); its coordinates
    become variables (they are set back as coordinates after the merge)."""
    names: set[str] = set()
    for d in dims:
        if d not in ds.dims:
            continue
        along = [c for c in ds.coords if c != d and ds[c].dims == (d,)]
        values = xr.Variable((f"{d}_index",), ds[d].values, ds[d].attrs)
        ds = ds.drop_vars(d).rename_dims({d: f"{d}_index"}).reset_coords(along)
        ds = ds.assign_coords({f"{d}_index": np.arange(ds.sizes[f"{d}_index"])})
        ds[d] = values
        names |= {d, *along}
    return ds, names


def headline_figure(ds: xr.Dataset, grid: Mapping[str, Sequence[Any]], label: str,
                    config: Config | None = None):
    """The study's headline number against the first swept field (one line per other point),
    captioned. Field docs from ``config`` label the axes; a field spanning a decade or more is
    drawn on a log axis; integer fields get integer ticks."""
    from matplotlib.ticker import MaxNLocator

    from . import plotting

    def describe(field: str) -> str:
        doc = ""
        if config is not None:
            for f in dataclasses.fields(config):
                if f.name == field:
                    doc = f.metadata.get("doc", "")
        return f"{field} ({doc})" if doc else field

    fields = list(grid)
    first, rest = fields[0], fields[1:]
    x_labels = list(ds[first].values)
    numeric = all(isinstance(v, int | float | np.number) for v in x_labels)
    x = np.asarray(x_labels, dtype=float) if numeric else np.arange(len(x_labels))
    fig, axes = plotting.figure(width=4.5, height=3.4)
    ax = axes[0, 0]
    combos = list(itertools.product(*(list(ds[f].values) for f in rest))) or [()]
    for color, combo in zip(plotting.colors(len(combos)), combos):
        sel = ds.sel(dict(zip(rest, combo))) if rest else ds
        y = np.asarray(sel["headline"].values, dtype=float)
        passed = np.asarray(sel["check_passed"].fillna(1).astype(bool).all("check"))
        name = point_label(dict(zip(rest, combo))) or None
        ax.plot(x, y, "-", color=color, label=name)
        ax.scatter(x[passed], y[passed], color=color, marker="o", zorder=3)
        ax.scatter(x[~passed], y[~passed], color=color, marker="x", zorder=3)
    if numeric and np.all(x > 0) and x.max() / x.min() >= 10:
        ax.set_xscale("log")
        ax.set_xlim(x.min() / 1.3, x.max() * 1.3)  # also when every headline is NaN
    elif numeric and all(float(v).is_integer() for v in x):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not numeric:
        ax.set_xticks(x, [str(v) for v in x_labels])
    y_all = np.asarray(ds["headline"].values, dtype=float)
    y_all = y_all[np.isfinite(y_all)]
    if y_all.size and np.all(y_all > 0) and y_all.max() / y_all.min() >= 10:
        ax.set_yscale("log")
    ax.set(xlabel=describe(first), ylabel=label or "fraction of checks passed",
           title="o: all checks passed   x: some failed")
    if rest:
        ax.legend(fontsize=8, title=", ".join(rest), title_fontsize=8)
    return plotting.captioned(
        fig, f"The study's headline number ({label or 'fraction of checks passed'}) at every "
             f"grid point of the sweep over {', '.join(fields)}; circles mark points where "
             "every check passed, crosses points where some failed.")
