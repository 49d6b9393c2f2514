"""Results on disk: one folder per run, written atomically, found again by content hash.

A run folder holds::

    results.nc       the xarray Dataset (netCDF4 via h5netcdf); attrs: study, config, seeds,
                     version, key (the content hash)
    config.toml      the full config (loadable with ``--config``)
    checks.json      [{id, name, value, threshold, passed, claim, comparison}, ...]
    figures/*.png    and figures/captions.json: {figure name: one-sentence caption}

The default store is ``$LEARNDYN_HOME`` or ``./learndyn-runs``, with folders named
``<study>-<key>``; the key hashes (study, config, seeds, version and the package's source code),
so asking for the same run again re-uses it, and a result computed by other code is not. Every
write goes to a hidden temporary folder beside the target that is renamed into place only when
complete: an interrupted run leaves no folder that loads as a run, and a replaced run is swapped
out only after its successor is complete. ``results.nc`` is written last and holds a manifest
(the SHA-256 of every other file), so files that do not belong together (a sweep killed while
rewriting its files in place) are not taken for a run. Temporary files left by a killed process
are removed by the next write beside them; folders and files get the permissions the umask
allows.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from .study import Check

__all__ = [
    "StoreError",
    "atomic_write",
    "clean_litter",
    "code_hash",
    "use_compilation_cache",
    "write_files",
    "home",
    "is_run",
    "list_runs",
    "read_captions",
    "read_checks",
    "read_dataset",
    "run_key",
    "source_hash",
    "write_run",
]

RESULTS, CONFIG, CHECKS, FIGURES = "results.nc", "config.toml", "checks.json", "figures"
CAPTIONS = "captions.json"


class StoreError(RuntimeError):
    """A run folder cannot be written or read."""


def home() -> Path:
    """The default store: ``$LEARNDYN_HOME`` or ``./learndyn-runs``."""
    return Path(os.environ.get("LEARNDYN_HOME", "learndyn-runs"))


def use_compilation_cache() -> Path | None:
    """Keep JAX's compiled programs on disk, so a second run in a new process does not
    compile again: in ``$LEARNDYN_COMPILATION_CACHE``, default ``<store>/.jax-cache`` (safe to
    delete; ``off`` disables it). A cache directory the user set for JAX is left as it is.
    Returns the directory in use."""
    import jax

    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir)
    where = os.environ.get("LEARNDYN_COMPILATION_CACHE", str(home() / ".jax-cache"))
    if where.strip().lower() in ("off", "none", "0", ""):
        return None
    try:
        Path(where).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return Path(where)


@functools.cache
def code_hash() -> str:
    """SHA-256 (16 hex digits) of the package's Python source: part of every run key."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for file in sorted(root.rglob("*.py")):
        digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def source_hash(fn: Any) -> str:
    """SHA-256 (16 hex digits) of the file that defines ``fn`` ("" if it has none): a study
    registered from outside the package brings its own code into its run keys."""
    try:
        return hashlib.sha256(Path(inspect.getfile(fn)).read_bytes()).hexdigest()[:16]
    except (TypeError, OSError):
        return ""


def run_key(study: str, config: Mapping[str, Any], seeds: Sequence[int], version: str,
            code: str = "") -> str:
    """Content hash of everything that determines a run's numbers: the package's source and
    ``code`` (e.g. :func:`source_hash` of the study's module) included."""
    blob = json.dumps(
        {"study": study, "config": dict(config), "seeds": list(seeds), "version": version,
         "code": code_hash() + code},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_dataset(path: str | Path) -> xr.Dataset:
    """Load ``results.nc`` of a run folder fully into memory (the file is closed after)."""
    file = Path(path) / RESULTS
    try:
        ds = xr.load_dataset(file, engine="h5netcdf")
    except (OSError, ValueError) as err:
        raise StoreError(f"{path} holds no readable learndyn run ({err})") from None
    ds.attrs.pop("manifest", None)  # the store's bookkeeping, not the result's
    return ds


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


def _manifest(path: Path) -> dict[str, str]:
    """SHA-256 of every file of a run folder but ``results.nc`` (relative path -> digest)."""
    files = [path / CONFIG, path / CHECKS, *sorted((path / FIGURES).glob("*"))]
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in files if f.is_file()}


def stored_key(path: str | Path) -> str | None:
    """The content hash of the run stored in ``path``, or None if it holds no valid run (a
    missing file, or files that are not the ones its ``results.nc`` was written with)."""
    path = Path(path)
    if not all((path / name).is_file() for name in (RESULTS, CONFIG, CHECKS)):
        return None
    try:
        with xr.open_dataset(path / RESULTS, engine="h5netcdf") as ds:
            attrs = dict(ds.attrs)
    except (OSError, ValueError):
        return None
    key, manifest = attrs.get("key"), attrs.get("manifest")
    if not key or (manifest is not None and json.loads(manifest) != _manifest(path)):
        return None
    return str(key)


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
    clean_litter(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    try:
        (tmp / FIGURES).mkdir()
        for name, fig in figures.items():
            fig.savefig(tmp / FIGURES / f"{name}.png", dpi=120)
        (tmp / FIGURES / CAPTIONS).write_text(_captions(figures))
        (tmp / CONFIG).write_text(config_toml)
        (tmp / CHECKS).write_text(json.dumps([c.to_dict() for c in checks], indent=2) + "\n")
        _write_results(tmp, dataset)  # last: marks the run complete
        _permit(tmp)
        _swap_in(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _write_results(folder: Path, dataset: xr.Dataset, write=None) -> None:
    """``results.nc`` with the manifest of the folder's other files in its attrs."""
    dataset = dataset.copy()
    dataset.attrs["manifest"] = json.dumps(_manifest(folder), sort_keys=True)
    if write is None:
        dataset.to_netcdf(folder / RESULTS, engine="h5netcdf")
    else:
        write(lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _permit(path: Path) -> None:
    """Folders 0777 and files 0666 less the umask (temporary files are created private)."""
    mask = _umask()
    for p in [path, *path.rglob("*")]:
        p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_litter(folder: Path, *, older_than: float = 60.0) -> None:
    """Remove temporary files and folders (``.NAME.tmp-PID-*``, ``.NAME.old-*``) that a killed
    process left in ``folder``: those whose process is gone, or, for names without a process
    id, older than ``older_than`` seconds."""
    if not folder.is_dir():
        return
    now = time.time()
    for p in folder.glob(".*"):
        name = p.name
        if ".tmp-" not in name and ".old-" not in name:
            continue
        pid = name.split(".tmp-", 1)[-1].split("-", 1)[0] if ".tmp-" in name else ""
        try:
            stale = (not _pid_alive(int(pid))) if pid.isdigit() else (
                now - p.stat().st_mtime > older_than)
            if stale:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        except OSError:
            pass


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
    clean_litter(path)
    clean_litter(path / FIGURES)
    for stale in (path / FIGURES).glob("*.png"):  # figures of a run these files replace
        if stale.stem not in figures:
            stale.unlink()
    for name, fig in figures.items():
        atomic_write(path / FIGURES / f"{name}.png", lambda tmp, fig=fig: fig.savefig(tmp, dpi=120,
                                                                               format="png"))
    text = _captions(figures)
    atomic_write(path / FIGURES / CAPTIONS, lambda tmp: Path(tmp).write_text(text))
    atomic_write(path / CONFIG, lambda tmp: Path(tmp).write_text(config_toml))
    text = json.dumps([c.to_dict() for c in checks], indent=2) + "\n"
    atomic_write(path / CHECKS, lambda tmp: Path(tmp).write_text(text))
    _write_results(path, dataset, lambda write: atomic_write(path / RESULTS, write))
    return path


def atomic_write(target: Path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``target``, then rename it over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
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
