"""Sweeps: grid parsing, planning, vmapped == looped, every executor gives the same numbers,
dead workers and failing tasks are survived, partial sweeps resume."""

from pathlib import Path

import numpy as np
import pytest

import learndyn
from learndyn import cli
from learndyn.core import engine
from learndyn.core import sweep as sweeps
from learndyn.core.config import ConfigError
from learndyn.studies.deep_linear import STUDY

TESTS = Path(__file__).parent
# a small deep_linear configuration: all shapes are unusual, so compiles are counted afresh
SMALL = {"depths": (2,), "n_hidden": 5, "t_max": 6.0, "num_records": 40}


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNDYN_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("LEARNDYN_STUDIES", "sweep_toy=sweep_toy:TOY")
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # worker processes import sweep_toy
    monkeypatch.syspath_prepend(str(TESTS))


@pytest.mark.parametrize(
    ("items", "needle"),
    [
        ([], "empty grid"),
        (["colour=1,2"], "unknown config field 'colour'"),
        (["lr=fast,slow"], "'lr'"),
        (["lr=-1,1"], "'lr'"),
        (["lr"], "field=v1,v2"),
        (["lr="], "no values"),
        (["lr=0.1,0.1"], "repeats"),
        (["lr=0.1", "lr=0.2"], "twice"),
    ],
)
def test_grid_errors(items, needle):
    with pytest.raises(ConfigError, match=needle):
        sweeps.parse_grid(STUDY.make_config("quick"), items)


def test_grid_parsing_and_planning(tmp_path):
    base = STUDY.make_config("quick")
    grid = sweeps.parse_grid(base, ["init_scale=1e-3,1e-2", "depths=2;2,3"])
    assert grid == {"init_scale": [1e-3, 1e-2], "depths": [(2,), (2, 3)]}
    tasks = sweeps.plan(STUDY, "x:y", base, grid, [0, 1], tmp_path, "v")
    # init_scale keeps shapes (vmapped inside a task); depths changes them (one task each)
    assert len(tasks) == 2 and all(len(t.points) == 2 for t in tasks)
    grid = sweeps.parse_grid(base, ["lr=0.001,0.002,0.004"])
    assert len(sweeps.plan(STUDY, "x:y", base, grid, [0], tmp_path, "v")) == 3


def test_vmapped_sweep_equals_looped_runs_and_compiles_once(tmp_path):
    values = [1e-3, 3e-3, 1e-2]
    before = engine._advance._cache_size()
    swept = learndyn.sweep("deep_linear", grid={"init_scale": values}, seeds=2,
                           overrides=SMALL, out=tmp_path / "sweep")
    # one compiled program per network kind (aligned and random init), not one per value
    assert engine._advance._cache_size() - before == 2
    ds = swept.dataset
    assert ds.sizes["init_scale"] == 3 and list(ds.init_scale.values) == values
    for value in values:
        single = learndyn.run("deep_linear", seeds=2, overrides={**SMALL, "init_scale": value},
                              out=tmp_path / f"single-{value}")
        got = ds.sel(init_scale=value)
        for name in ("mode_strength_sim", "loss_sim", "mode_strength_theory"):
            np.testing.assert_allclose(got[name].values, single.dataset[name].values,
                                       rtol=1e-12, atol=1e-15)
        n_checks = len(single.checks)
        assert got.check_passed.sum() == sum(c.passed for c in single.checks)
        assert got.sizes["check"] == n_checks
    assert (swept.path / "figures" / "headline.png").stat().st_size > 5_000
    again = learndyn.sweep("deep_linear", grid={"init_scale": values}, seeds=2,
                           overrides=SMALL, out=tmp_path / "sweep")
    assert again.cached


def _toy_sweep(tmp_path, name, executor, **kwargs):
    return learndyn.sweep("sweep_toy", grid={"a": [0.5, 1.0, 2.0]}, seeds=2,
                          out=tmp_path / name, executor=executor, **kwargs)


def test_executors_give_identical_numbers(tmp_path):
    local = _toy_sweep(tmp_path, "local", "local").dataset
    assert local.x_sim.dims == ("a", "seed", "time", "i") and local.sizes["a"] == 3
    for name, kwargs in [
        ("processes", dict(executor="processes", workers=2)),
        ("dask-threads", dict(executor="dask", workers=2, dask_processes=False)),
        ("dask-processes", dict(executor="dask", workers=2, dask_processes=True)),
    ]:
        other = _toy_sweep(tmp_path, name, **kwargs).dataset
        np.testing.assert_array_equal(other.x_sim.values, local.x_sim.values, err_msg=name)
        np.testing.assert_array_equal(other.headline.values, local.headline.values)


def test_killed_worker_is_survived(tmp_path):
    marker = tmp_path / "killed-once"
    result = learndyn.sweep("sweep_toy", grid={"a": [0.5, 1.0]}, seeds=2,
                            overrides={"kill_once": str(marker)}, out=tmp_path / "sweep",
                            executor="processes", workers=2, retries=2)
    assert marker.exists()  # a worker really died
    assert result.dataset.sizes["a"] == 2 and result.passed


def test_failing_point_is_reported_and_partial_sweep_resumes(tmp_path):
    log = tmp_path / "runs.log"
    kwargs = dict(grid={"a": [0.5, 1.0, 2.0]}, seeds=2, out=tmp_path / "sweep")
    with pytest.raises(learndyn.SweepError, match=r"a=2\.0.*planned failure"):
        learndyn.sweep("sweep_toy", overrides={"log": str(log), "fail_at": 2.0}, **kwargs)
    shards = sorted((tmp_path / "sweep" / "shards").glob("*.nc"))
    assert len(shards) == 2  # the finished points are kept
    assert sorted(log.read_text().split()) == ["0.5", "1.0", "2.0", "2.0"]  # one retry
    # running the same sweep again runs only the missing point (which fails again)
    shard_keys = {p.name for p in shards}
    log.write_text("")
    with pytest.raises(learndyn.SweepError):
        learndyn.sweep("sweep_toy", overrides={"log": str(log), "fail_at": 2.0}, **kwargs)
    assert log.read_text().split() == ["2.0", "2.0"]  # finished tasks were not run again
    assert {p.name for p in (tmp_path / "sweep" / "shards").glob("*.nc")} == shard_keys


def test_interrupted_sweep_resumes(tmp_path, monkeypatch):
    log = tmp_path / "runs.log"
    kwargs = dict(grid={"a": [0.5, 1.0, 2.0]}, seeds=2, overrides={"log": str(log)},
                  out=tmp_path / "sweep")
    real = sweeps.run_task
    calls = []

    def interrupt_third(task, progress=None):
        calls.append(task)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task, progress)

    monkeypatch.setattr(sweeps, "run_task", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        learndyn.sweep("sweep_toy", **kwargs)
    monkeypatch.setattr(sweeps, "run_task", real)
    assert len(list((tmp_path / "sweep" / "shards").glob("*.nc"))) == 2
    assert not learndyn.core.store.is_run(tmp_path / "sweep")
    result = learndyn.sweep("sweep_toy", **kwargs)
    assert log.read_text().split() == ["0.5", "1.0", "2.0"]  # each point ran exactly once
    assert result.dataset.sizes["a"] == 3


def test_cli_sweep(capsys, tmp_path):
    code = cli.main(["sweep", "sweep_toy", "--grid", "a=0.5,1", "--out", str(tmp_path / "s")])
    out, _ = capsys.readouterr()
    assert code == 0 and "grid point" in out and "1/1" in out
    code = cli.main(["sweep", "sweep_toy", "--grid", "b=1,2"])
    _, err = capsys.readouterr()
    assert code == 2 and "unknown config field 'b'" in err and len(err.splitlines()) == 1
    code = cli.main(["sweep", "sweep_toy", "--grid", "a=0.5", "--executor", "slurm"])
    _, err = capsys.readouterr()
    assert code == 2 and "invalid choice" in err


def test_dask_scheduler_address(tmp_path):
    from distributed import LocalCluster

    local = _toy_sweep(tmp_path, "local", "local").dataset
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        remote = _toy_sweep(tmp_path, "remote", "dask", scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(remote.dataset.x_sim.values, local.x_sim.values)


def test_sweeps_over_shape_and_time_changing_fields_merge(tmp_path):
    """A shape-keeping field (u0, vmapped), one that changes a dimension (singular_values:
    the modes) and one that changes the recorded steps (lr) merge into one dataset: changed
    dimensions become positional (``mode_index``, ``time_index``) and every grid point keeps
    its own coordinates."""
    small = {**SMALL, "random_init": False, "t_max": 3.0, "num_records": 12}
    result = learndyn.sweep(
        "deep_linear", grid={"lr": [0.002, 0.003], "singular_values": [(3.0, 2.0, 1.0, 0.5),
                                                                        (3.0, 2.0)],
                             "u0": [1e-3, 1e-2]},
        seeds=1, overrides=small, out=tmp_path / "sweep")
    ds = result.dataset
    assert {"time_index", "mode_index"} <= set(ds.dims)
    assert ds.step.dims == ("lr", "singular_values", "u0", "time_index")
    for lr in (0.002, 0.003):
        steps = engine.record_steps(round(3.0 / lr), 12, spacing="log")
        point = ds.sel(lr=lr, singular_values="3.0,2.0", u0=1e-3)
        np.testing.assert_array_equal(point.step.values, steps)
        np.testing.assert_allclose(point.time.values, steps * lr)
    narrow = ds.sel(lr=0.002, singular_values="3.0,2.0", u0=1e-3)
    assert np.isnan(narrow.mode_strength_sim.isel(mode_index=3)).all()
    assert np.isfinite(narrow.mode_strength_sim.isel(mode_index=1)).all()
    ids = {c.id for c in result.checks}
    assert len(result.checks) == 8 * len(ids)  # every one of the 8 grid points checked


def test_workers_exit_when_the_sweep_is_killed(tmp_path):
    """A sweep killed with SIGKILL cannot shut its pool down; its workers notice the parent
    is gone and exit within seconds."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pids = tmp_path / "pids"
    pids.mkdir()
    code = ("import learndyn; learndyn.sweep('sweep_toy', grid={'a': [0.5, 1.0]}, seeds=1, "
            f"overrides={{'pids': {str(pids)!r}}}, out={str(tmp_path / 'sweep')!r}, "
            "executor='processes', workers=2)")
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 120
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2, "the workers did not start"
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers)
