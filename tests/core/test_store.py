"""The run store: round trips, content keys, and atomic writes under interruption and kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

from learndyn.core import store
from learndyn.core.study import Check

CONFIG = {"n": 3, "lr": 0.1, "xs": [1.0, 2.0]}


def make_dataset(key: str, scale: float = 1.0) -> xr.Dataset:
    ds = xr.Dataset(
        {
            "loss_sim": (("seed", "time"), scale * np.arange(12.0).reshape(3, 4)),
            "loss_theory": (("time",), scale * np.linspace(0.0, 1.0, 4)),
        },
        coords={"time": np.array([0.0, 0.5, 1.0, 2.0]), "seed": [0, 1, 2]},
    )
    ds.attrs.update(study="toy", config=json.dumps(CONFIG), key=key)
    return ds


CHECKS = [
    Check.at_most("error", "error", 0.01, 0.05, "theory tracks simulation"),
    Check.at_least("nan", "nan value", float("nan"), 1.0, "a NaN never passes"),
]


def small_figure():
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    return fig


def write(path: Path, key: str, *, scale: float = 1.0, figures=None) -> Path:
    figures = {"loss": small_figure()} if figures is None else figures
    try:
        return store.write_run(path, make_dataset(key, scale), "n = 3\n", CHECKS, figures)
    finally:
        for fig in figures.values():
            if isinstance(fig, plt.Figure):
                plt.close(fig)


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


# ---- round trip and keys ------------------------------------------------------------------


def test_write_then_read(tmp_path):
    path = tmp_path / "runs" / "toy-abc"
    out = write(path, "abc")
    assert out == path.absolute()
    assert sorted(p.name for p in path.iterdir()) == sorted(
        [store.RESULTS, store.CONFIG, store.CHECKS, store.FIGURES])
    assert (path / store.FIGURES / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert (path / store.CONFIG).read_text() == "n = 3\n"
    assert store.stored_key(path) == "abc"
    assert store.is_run(path)
    ds = store.read_dataset(path)
    xr.testing.assert_identical(ds, make_dataset("abc"))
    checks = store.read_checks(path)
    assert checks[0] == CHECKS[0]
    assert checks[1].name == "nan value" and np.isnan(checks[1].value)
    assert not checks[1].passed
    assert leftovers(path.parent) == []


def test_replace_existing_run(tmp_path):
    path = tmp_path / "run"
    write(path, "old", scale=1.0)
    write(path, "new", scale=2.0)
    assert store.stored_key(path) == "new"
    np.testing.assert_array_equal(store.read_dataset(path)["loss_theory"],
                                  2.0 * np.linspace(0.0, 1.0, 4))
    assert leftovers(tmp_path) == []


def test_run_key_depends_on_everything_that_determines_the_numbers():
    key = store.run_key("toy", CONFIG, [0, 1, 2], "0.1.0")
    assert len(key) == 16 and int(key, 16) >= 0
    assert key == store.run_key("toy", dict(reversed(list(CONFIG.items()))), [0, 1, 2], "0.1.0")
    others = {
        store.run_key("toy", {**CONFIG, "lr": 0.2}, [0, 1, 2], "0.1.0"),
        store.run_key("toy", {**CONFIG, "extra": True}, [0, 1, 2], "0.1.0"),
        store.run_key("toy", CONFIG, [0, 1], "0.1.0"),
        store.run_key("toy", CONFIG, [2, 1, 0], "0.1.0"),
        store.run_key("toy", CONFIG, [0, 1, 2], "0.1.1"),
        store.run_key("other", CONFIG, [0, 1, 2], "0.1.0"),
    }
    assert key not in others and len(others) == 6


def test_home_follows_environment(store_home):
    assert store.home() == store_home
    assert store.list_runs() == []  # not created yet
    write(store_home / "toy-1", "1")
    assert store.list_runs() == [(store_home / "toy-1").absolute()]


def test_home_default(monkeypatch):
    monkeypatch.delenv("LEARNDYN_HOME", raising=False)
    assert store.home() == Path("learndyn-runs")


# ---- what is not a run --------------------------------------------------------------------


def test_list_runs_newest_first_and_ignores_hidden_and_incomplete(tmp_path):
    first, second = write(tmp_path / "toy-a", "a"), write(tmp_path / "toy-b", "b")
    os.utime(first / store.RESULTS, (1e9, 1e9))
    os.utime(second / store.RESULTS, (2e9, 2e9))
    write(tmp_path / ".toy-c.tmp-xyz", "c")  # a complete run, but a hidden temp folder
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("not a folder")
    no_checks = write(tmp_path / "toy-d", "d")
    (no_checks / store.CHECKS).unlink()
    assert store.list_runs(tmp_path) == [second, first]
    assert store.list_runs(tmp_path / "missing") == []


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, "truncated"])
def test_corrupt_results_is_not_a_run(tmp_path, content):
    path = write(tmp_path / "toy-a", "a")
    data = (path / store.RESULTS).read_bytes()
    (path / store.RESULTS).write_bytes(data[: len(data) // 2] if content == "truncated"
                                       else content)
    assert store.stored_key(path) is None
    assert not store.is_run(path)
    assert store.list_runs(tmp_path) == []
    with pytest.raises(store.StoreError, match="no readable learndyn run"):
        store.read_dataset(path)


def test_dataset_without_key_is_not_a_run(tmp_path):
    path = write(tmp_path / "toy-a", "")
    assert store.read_dataset(path).attrs["key"] == ""
    assert not store.is_run(path)


def test_corrupt_checks(tmp_path):
    path = write(tmp_path / "toy-a", "a")
    (path / store.CHECKS).write_text("[{\"name\": 1}]")
    with pytest.raises(store.StoreError, match=store.CHECKS):
        store.read_checks(path)


# ---- atomicity ----------------------------------------------------------------------------


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["netcdf", "figure"])
@pytest.mark.parametrize("existing", [True, False], ids=["replace", "new"])
def test_interrupted_write_leaves_no_run_and_keeps_the_old_one(tmp_path, monkeypatch, where,
                                                               existing):
    path = tmp_path / "toy-run"
    if existing:
        write(path, "old")
    before = sorted(p.name for p in tmp_path.iterdir())
    if where == "netcdf":
        monkeypatch.setattr(xr.Dataset, "to_netcdf", _interrupt)
        figures = None
    else:
        class Broken:
            savefig = staticmethod(_interrupt)

        figures = {"a": small_figure(), "b": Broken()}
    with pytest.raises(KeyboardInterrupt):
        write(path, "new", scale=3.0, figures=figures)
    monkeypatch.undo()
    # (a) the previous run is intact and loads with its old key
    if existing:
        assert store.stored_key(path) == "old"
        xr.testing.assert_identical(store.read_dataset(path), make_dataset("old"))
    else:
        assert not path.exists()
    # (b) no new folder that looks like a run; (c) no temp folder left over
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert [p.name for p in store.list_runs(tmp_path)] == (["toy-run"] if existing else [])


def test_failed_swap_restores_the_old_run(tmp_path, monkeypatch):
    """If the final rename fails, the old run is put back in place."""
    path = (tmp_path / "toy-run").absolute()
    write(path, "old")
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == path and ".tmp-" in Path(src).name:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write(path, "new")
    monkeypatch.undo()
    assert store.stored_key(path) == "old"
    assert leftovers(tmp_path) == []


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    import numpy as np, xarray as xr
    from learndyn.core import store

    class SlowFigure:
        def __init__(self, marker):
            self.marker = marker

        def savefig(self, file, **kwargs):
            Path(file).write_bytes(b"half a png")
            self.marker.write_text("writing")
            time.sleep(120)

    def write(target, marker):
        ds = xr.Dataset({"x": ("t", np.arange(3.0))}, attrs={"key": "new"})
        store.write_run(target, ds, "n = 1\\n", [], {"a": SlowFigure(marker)})

    threads = [threading.Thread(target=write, args=(Path(target), Path(marker)))
               for target, marker in zip(sys.argv[1::2], sys.argv[2::2])]
    for thread in threads:
        thread.start()
    for thread in threads:  # the main thread stays alive (no imports after shutdown begins)
        thread.join()
    """
)


def test_hard_kill_mid_write(tmp_path):
    """kill -9 while two runs are being written, one new and one replacing a stored run."""
    root = tmp_path / "store"
    root.mkdir()
    old, new = root / "toy-old", root / "toy-new"
    write(old, "old")
    runs_before = store.list_runs(root)
    markers = [tmp_path / "marker-old", tmp_path / "marker-new"]
    argv = [str(old), str(markers[0]), str(new), str(markers[1])]
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, *argv], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not all(m.exists() for m in markers):
            if proc.poll() is not None:
                pytest.fail(f"writer exited early: {proc.stderr.read().decode()}")
            assert time.monotonic() < deadline, "writer never started writing"
            time.sleep(0.05)
        temps = [p.name for p in root.iterdir() if ".tmp-" in p.name]
        assert len(temps) == 2  # both mid-write
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert store.list_runs(root) == runs_before == [old.absolute()]
    assert store.stored_key(old) == "old"
    xr.testing.assert_identical(store.read_dataset(old), make_dataset("old"))
    assert not store.is_run(new)
    assert not new.exists()
    assert all(p.name.startswith(".") for p in root.iterdir() if p != old)


@pytest.mark.parametrize("torn", ["checks.json", "config.toml", "figures/loss.png"])
def test_files_rewritten_in_place_must_belong_together(tmp_path, torn):
    """A sweep rewrites its files in place, results.nc last. Killed half-way, the folder holds
    a new file beside the old results.nc: the manifest in results.nc no longer matches, so the
    folder is not taken for a (stale) run."""
    path = tmp_path / "sweep"
    fig = small_figure()
    store.write_files(path, make_dataset("k1", 1.0), "n = 3\n", CHECKS, {"loss": fig})
    plt.close(fig)
    assert store.stored_key(path) == "k1"
    target = path / torn
    target.write_bytes(target.read_bytes() + b" ")  # what a rewrite killed before results.nc
    assert store.stored_key(path) is None


def test_stale_temporary_files_are_removed(tmp_path):
    live = tmp_path / f".run.tmp-{os.getpid()}-live"
    dead = tmp_path / ".run.tmp-999999999-dead"
    shard = tmp_path / ".shard.nc.tmp-999999999-x"
    for p in (live, dead):
        p.mkdir()
    shard.write_bytes(b"")
    store.clean_litter(tmp_path)
    assert live.exists() and not dead.exists() and not shard.exists()
