"""Shared test setup: float64 and strict rank promotion (silent broadcasting bugs fail).

The suite runs in parallel (pytest-xdist, ``--dist loadgroup``): every test of a family, and
the quick preset of each of its studies, go to one worker, so compiled programs and quick runs
are shared within the family. Quick runs are stored once per session in a folder shared by all
workers (a file lock keeps two workers from computing the same one), and compiled programs in a
shared compilation cache.
"""

import fcntl
import importlib
import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

TESTS = Path(__file__).parent


def _session_root(tmp_path_factory) -> Path:
    """A folder shared by every worker of this test session."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _families() -> dict[str, str]:
    """{study name: family} from the families' ``STUDIES``."""
    out = {}
    for path in sorted((TESTS.parent / "src" / "learndyn").iterdir()):
        if (path / "__init__.py").is_file() and path.name not in ("core", "studies"):
            module = importlib.import_module(f"learndyn.{path.name}")
            out.update({study: path.name for study in getattr(module, "STUDIES", ())})
    return out


def pytest_collection_modifyitems(config, items):
    """Group each family's tests with its studies' quick presets (one worker each)."""
    families = _families()
    for item in items:
        parts = Path(str(item.fspath)).relative_to(TESTS).parts
        group = parts[0] if len(parts) > 1 else None
        if parts[-1] == "test_studies.py" and hasattr(item, "callspec"):
            group = families.get(item.callspec.params.get("name"), group)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", autouse=True)
def _shared_compilation_cache(tmp_path_factory):
    """Compiled programs shared by the workers (studies run through ``learndyn.run`` use it)."""
    cache = _session_root(tmp_path_factory) / "jax-cache"
    os.environ.setdefault("LEARNDYN_COMPILATION_CACHE", str(cache))


@pytest.fixture
def store_home(tmp_path, monkeypatch):
    """A fresh, empty run store: ``$LEARNDYN_HOME`` points into the test's tmp_path."""
    home = tmp_path / "store"
    monkeypatch.setenv("LEARNDYN_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def run_quick(tmp_path_factory):
    """``run_quick(study)``: the study's quick preset, run once per test session (whatever the
    number of workers: the first computes it, the others read it from the shared folder)."""
    import learndyn

    shared = _session_root(tmp_path_factory) / "quick-runs"
    shared.mkdir(exist_ok=True)
    results = {}

    def get(name):
        if name not in results:
            with open(shared / f"{name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                results[name] = learndyn.run(name, preset="quick", out=shared / name)
        return results[name]

    return get


def _recheck(study, ds, **changes):
    """``{check id: passed}`` of ``study`` after replacing some of ``ds``'s variables (for
    negative tests; the config comes from the dataset)."""
    ds = ds.copy(deep=True)
    for name, value in changes.items():
        ds[name] = value
    return {c.id: c.passed for c in study.evaluate(ds)}


@pytest.fixture
def recheck():
    """``recheck(study, ds, **changes)``: see :func:`_recheck` (test modules cannot import
    conftest, so it comes as a fixture)."""
    return _recheck
