"""Shared test setup: float64 and strict rank promotion (silent broadcasting bugs fail)."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def store_home(tmp_path, monkeypatch):
    """A fresh, empty run store: ``$LEARNDYN_HOME`` points into the test's tmp_path."""
    home = tmp_path / "store"
    monkeypatch.setenv("LEARNDYN_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def run_quick(tmp_path_factory):
    """``run_quick(study)``: the study's quick preset, run once per test session."""
    import learndyn

    results = {}

    def get(name):
        if name not in results:
            out = tmp_path_factory.mktemp("runs") / name
            results[name] = learndyn.run(name, preset="quick", out=out)
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
