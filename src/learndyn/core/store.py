"""Results on disk: one folder per run, written atomically, found again by content hash.

A run folder holds::

    results.nc       the xarray Dataset (netCDF4 via h5netcdf); attrs: study, config, seeds,
                     version, key (the content hash)
    config.toml      the full config (loadable with ``--config``)
    checks.json      [{id, name, value, threshold, passed, claim, comparison}, ...]
    figures/*.png    and figures/captions.json: {figure name: one-sentence caption}

The default store is ``$LEARNDYN_HOME`` or ``./learndyn-runs``, with folders named
``<study>-<key>``; the key hashes (study, config, seeds, version), so asking for the same run
again re-uses it. Every write goes to a hidden temporary folder beside the target that is
renamed into place only when complete: an interrupted run leaves no folder that loads as a run,
and a replaced run is swapped out only after its successor is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from .study import Check

__all__ = [
    "StoreError",
    "atomic_write",
    "write_files",
    "home",
    "is_run",
    "list_runs",
    "read_captions",
    "read_checks",
    "read_dataset",
    "run_key",
    "write_run",
]

RESULTS, CONFIG, CHECKS, FIGURES = "results.nc", "config.toml", "checks.json", "figures"
CAPTIONS = "captions.json"


class StoreError(RuntimeError):
    """A run folder cannot be written or read."""


def home() -> Path:
    """The default store: ``$LEARNDYN_HOME`` or ``./learndyn-runs``."""
    return Path(os.environ.get("LEARNDYN_HOME", "learndyn-runs"))


def run_key(study: str, config: Mapping[str, Any], seeds: Sequence[int], version: str) -> str:
    """Content hash of everything that determines a run's numbers."""
    blob = json.dumps(
        {"study": study, "config": dict(config), "seeds": list(seeds), "version": version},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_dataset(path: str | Path) -> xr.Dataset:
    """Load ``results.nc`` of a run folder fully into memory (the file is closed after)."""
    file = Path(path) / RESULTS
    try:
        return xr.load_dataset(file, engine="h5netcdf")
    except (OSError, ValueError) as err:
        raise StoreError(f"{path} holds no readable learndyn run ({err})") from None


def read_checks(path: str | Path) -> list[Check]:
    try:
        return [Check.from_dict(d) for d in json.loads((Path(path) / CHECKS).read_text())]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise StoreError(f"{path}: unreadable {CHECKS} ({err})") from None


def read_captions(path: str | Path) -> dict[str, str]:
    """``{figure name: caption}`` of a run folder (empty when it has none)."""
    try:
        return dict(json.loads((Path(path) / FIGURES / CAPTIONS).read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def _captions(figures: Mapping[str, Any]) -> str:
    return json.dumps({name: fig.get_label() for name, fig in figures.items()}, indent=2) + "\n"


def stored_key(path: str | Path) -> str | None:
    """The content hash of the run stored in ``path``, or None if it holds no valid run."""
    path = Path(path)
    if not all((path / name).is_file() for name in (RESULTS, CONFIG, CHECKS)):
        return None
    try:
        ds = read_dataset(path)
    except StoreError:
        return None
    key = ds.attrs.get("key")
    return str(key) if key else None


def is_run(path: str | Path) -> bool:
    return stored_key(path) is not None


def list_runs(root: str | Path | None = None) -> list[Path]:
    """Run folders directly under ``root`` (default: the store), newest first."""
    root = Path(root) if root is not None else home()
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and is_run(p)]
    return sorted(runs, key=lambda p: (p / RESULTS).stat().st_mtime, reverse=True)


def write_run(
    path: str | Path,
    dataset: xr.Dataset,
    config_toml: str,
    checks: Sequence[Check],
    figures: Mapping[str, Any],
) -> Path:
    """Write a complete run folder at ``path`` atomically, replacing what is there.

    ``figures`` maps names to matplotlib figures (saved as ``figures/<name>.png``).
    The caller decides whether replacing is allowed.
    """
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        (tmp / FIGURES).mkdir()
        for name, fig in figures.items():
            fig.savefig(tmp / FIGURES / f"{name}.png", dpi=120)
        (tmp / FIGURES / CAPTIONS).write_text(_captions(figures))
        (tmp / CONFIG).write_text(config_toml)
        (tmp / CHECKS).write_text(json.dumps([c.to_dict() for c in checks], indent=2) + "\n")
        dataset.to_netcdf(tmp / RESULTS, engine="h5netcdf")  # last: marks the run complete
        _swap_in(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def write_files(
    path: str | Path,
    dataset: xr.Dataset,
    config_toml: str,
    checks: Sequence[Check],
    figures: Mapping[str, Any],
) -> Path:
    """Write the run files into an existing folder, each atomically, ``results.nc`` last.

    For folders that hold more than one run's files (a sweep keeps its shards beside them).
    """
    path = Path(path).absolute()
    (path / FIGURES).mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        atomic_write(path / FIGURES / f"{name}.png", lambda tmp, fig=fig: fig.savefig(tmp, dpi=120,
                                                                               format="png"))
    text = _captions(figures)
    atomic_write(path / FIGURES / CAPTIONS, lambda tmp: Path(tmp).write_text(text))
    atomic_write(path / CONFIG, lambda tmp: Path(tmp).write_text(config_toml))
    text = json.dumps([c.to_dict() for c in checks], indent=2) + "\n"
    atomic_write(path / CHECKS, lambda tmp: Path(tmp).write_text(text))
    atomic_write(path / RESULTS, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf"))
    return path


def atomic_write(target: Path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``target``, then rename it over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _swap_in(new: Path, path: Path) -> None:
    """Rename ``new`` to ``path``; an existing ``path`` is removed only after the rename."""
    if not path.exists():
        os.replace(new, path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    os.replace(path, old / "run")
    try:
        os.replace(new, path)
    except BaseException:
        os.replace(old / "run", path)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
