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
