"""The command line: list, run, show; exit codes; one-line errors; stored runs never lost."""

import io
import json
import subprocess
import sys

import pytest

from learndyn import cli
from learndyn.core import store

# a short aligned-only run: every check still applies, and it takes a second or two
FAST = ["--set", "depths=2", "--set", "random_init=false", "--set", "t_max=12",
        "--set", "num_records=80", "--seeds", "2"]


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _store(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNDYN_HOME", str(tmp_path / "store"))


def test_list_shows_studies(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    assert "deep_linear" in out and "quick" in out and "paper" in out


def test_run_writes_exactly_the_run_layout(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "run", "deep_linear", *FAST, "--out", str(out_dir))
    assert code == 0, err
    assert "checks passed" in out and "pass" in out
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["checks.json", "config.toml", "figures", "results.nc"]
    pngs = sorted(p.name for p in (out_dir / "figures").iterdir())
    assert pngs == ["captions.json", "loss.png", "mode_strengths.png"]
    checks = json.loads((out_dir / "checks.json").read_text())
    assert checks and all(
        {"name", "value", "threshold", "passed", "claim"} <= set(c) for c in checks)

    # the stored config.toml reproduces the run: same content hash -> re-used
    code, out, _ = run_cli(capsys, "run", "deep_linear", "--config", str(out_dir / "config.toml"),
                           "--seeds", "2", "--out", str(out_dir))
    assert code == 0 and "re-used" in out

    # a different run into the same folder is refused, and the stored run survives
    key = store.stored_key(out_dir)
    code, _, err = run_cli(capsys, "run", "deep_linear", *FAST, "--set", "lr=0.003",
                           "--out", str(out_dir))
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    assert store.stored_key(out_dir) == key
    code, _, _ = run_cli(capsys, "run", "deep_linear", *FAST, "--set", "lr=0.003",
                         "--out", str(out_dir), "--force")
    assert code == 0 and store.stored_key(out_dir) != key

    code, out, _ = run_cli(capsys, "show", str(out_dir))
    assert code == 0 and "deep_linear" in out and "lr = 0.003" in out


def test_default_store_cache_and_show(capsys):
    code, out, _ = run_cli(capsys, "run", "deep_linear", *FAST)
    assert code == 0 and "wrote" in out
    code, out, _ = run_cli(capsys, "run", "deep_linear", *FAST)
    assert code == 0 and "re-used" in out
    code, out, _ = run_cli(capsys, "run", "deep_linear", *FAST, "--force")
    assert code == 0 and "wrote" in out
    (path,) = store.list_runs()
    n = len(store.read_checks(path))
    code, out, _ = run_cli(capsys, "show")
    assert code == 0 and path.name in out and f"{n}/{n}" in out
    code, out, _ = run_cli(capsys, "show", path.name[:16])  # a unique prefix finds the run
    assert code == 0 and str(path) in out


def test_failing_check_exits_3(capsys):
    # eta = 0.02 shifts the simulated curves by ~3% in time, above the 2% tolerance
    code, out, _ = run_cli(capsys, "run", "deep_linear", *FAST, "--set", "lr=0.02")
    assert code == 3 and "FAIL" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "no_such_study"], "unknown study 'no_such_study'"),
        (["run", "deep_linear", "--set", "colour=blue"], "unknown config field 'colour'"),
        (["run", "deep_linear", "--set", "lr=fast"], "'lr'"),
        (["run", "deep_linear", "--set", "n_hidden=0"], "'n_hidden'"),
        (["run", "deep_linear", "--set", "n_hidden=-3"], "'n_hidden'"),
        (["run", "deep_linear", "--set", "lr"], "field=value"),
        (["run", "deep_linear", "--preset", "huge"], "no preset 'huge'"),
        (["run", "deep_linear", "--seeds", "0"], "seeds"),
        (["run", "deep_linear", "--seeds", "many"], "invalid int"),
        (["frobnicate"], "invalid choice"),
        (["show", "nothing-here"], "no stored run"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1


def test_config_file_errors(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 3\n")
    code, _, err = run_cli(capsys, "run", "deep_linear", "--config", str(bad))
    assert code == 2 and "malformed config file" in err
    code, _, err = run_cli(capsys, "run", "deep_linear", "--config", str(tmp_path / "none.toml"))
    assert code == 2 and "cannot read config file" in err
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"learning_rate": 0.1}))
    code, _, err = run_cli(capsys, "run", "deep_linear", "--config", str(unknown))
    assert code == 2 and "learning_rate" in err


def test_diverging_learning_rate(capsys):
    code, _, err = run_cli(capsys, "run", "deep_linear", *FAST, "--set", "lr=1.0",
                           "--set", "t_max=100")
    assert code == 1
    assert "diverged" in err and "step" in err and "smaller learning rate" in err
    assert len(err.strip().splitlines()) == 1
    assert store.list_runs() == []


def test_out_folder_with_foreign_files_is_refused(capsys, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    for extra in ([], ["--force"]):
        code, _, err = run_cli(capsys, "run", "deep_linear", *FAST, "--out", str(folder), *extra)
        assert code == 2 and "not a learndyn run" in err
    assert (folder / "notes.txt").read_text() == "precious"


def test_interrupted_run_keeps_stored_runs(capsys, tmp_path, monkeypatch):
    out_dir = tmp_path / "run"
    assert run_cli(capsys, "run", "deep_linear", *FAST, "--out", str(out_dir))[0] == 0
    key = store.stored_key(out_dir)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    from learndyn.core import engine

    monkeypatch.setattr(engine, "_advance", interrupt)  # Ctrl-C inside the training loop
    code, _, err = run_cli(capsys, "run", "deep_linear", *FAST, "--set", "lr=0.003",
                           "--out", str(out_dir), "--force")
    assert code == 130 and "interrupted" in err
    assert store.stored_key(out_dir) == key
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_debug_shows_traceback(capsys):
    with pytest.raises(Exception, match="unknown study"):
        cli.main(["--debug", "run", "no_such_study"])


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "learndyn", "list"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "deep_linear" in proc.stdout


def test_progress_without_a_terminal_prints_plain_lines():
    from rich.console import Console

    from learndyn.cli import _Bar

    console = Console(file=io.StringIO(), force_terminal=False, width=100)
    bar = _Bar(console, delay=0.0, every=3600.0)
    bar(1, 10, "SGD")
    bar(2, 10, "SGD")  # within `every` of the last line: silent
    bar(10, 10, "SGD")
    lines = console.file.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["SGD: 1/10", "SGD: 10/10"]


# ---- reliability: destinations, the cache, litter, permissions ------------------------------


@pytest.mark.parametrize("out", [".", "", ".."])
def test_out_current_folder_or_empty_is_refused_before_computing(capsys, tmp_path,
                                                                  monkeypatch, out):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    inode = work.stat().st_ino
    code, _, err = run_cli(capsys, "run", "deep_linear", *FAST, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert work.stat().st_ino == inode and (work / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("where", ["file", "proc"])
def test_unwritable_out_fails_before_computing(capsys, tmp_path, monkeypatch, where):
    from learndyn.studies import deep_linear

    monkeypatch.setattr(deep_linear, "run_batch", lambda *a, **k: pytest.fail("computed"))
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "run" if where == "file" else "/proc/learndyn-run"
    code, _, err = run_cli(capsys, "run", "deep_linear", *FAST, "--out", str(out))
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1


def test_code_changes_invalidate_the_cache(capsys, monkeypatch):
    """The run key hashes the package source: after an edit the stored result is not served
    (the default store computes afresh; an explicit --out holding it asks for --force)."""
    assert run_cli(capsys, "run", "deep_linear", *FAST)[0] == 0
    code, out, _ = run_cli(capsys, "run", "deep_linear", *FAST)
    assert code == 0 and "re-used stored run" in out
    monkeypatch.setattr(store, "code_hash", lambda: "edited-source")
    code, out, _ = run_cli(capsys, "run", "deep_linear", *FAST)
    assert code == 0 and "re-used" not in out and len(store.list_runs()) == 2


def test_litter_of_killed_runs_is_cleaned_and_permissions_follow_the_umask(capsys, tmp_path):
    import os

    home = tmp_path / "store"
    home.mkdir()
    dead = home / ".deep_linear-x.tmp-999999999-abcd"  # a process id that does not exist
    dead.mkdir()
    (dead / "results.nc").write_bytes(b"")
    old = os.umask(0o022)
    try:
        assert run_cli(capsys, "run", "deep_linear", *FAST)[0] == 0
    finally:
        os.umask(old)
    assert not dead.exists()
    (run,) = store.list_runs(home)
    assert run.stat().st_mode & 0o777 == 0o755
    assert (run / "results.nc").stat().st_mode & 0o777 == 0o644
    assert (run / "figures" / "loss.png").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(("argv", "needle"), [
    (["sweep", "deep_linear", "--grid", "u0=1e-3,1e-2", "--workers", "0"], "--workers"),
    (["sweep", "deep_linear", "--grid", "u0=1e-3,1e-2", "--workers", "-1"], "--workers"),
    (["sweep", "deep_linear", "--grid", "u0=1e-3,1e-2", "--retries", "-1"], "--retries"),
    (["run", "neural_race", "--set", "ks="], "'ks'"),
    (["run", "deep_linear", "--set", "singular_values="], "'singular_values'"),
])
def test_more_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(("value", "needle"), [
    ("deep_linear=os:system", "built-in"),
    ("mine=os:system", "not a learndyn Study"),
])
def test_outside_studies_cannot_shadow_or_be_anything(capsys, monkeypatch, value, needle):
    monkeypatch.setenv("LEARNDYN_STUDIES", value)
    code, _, err = run_cli(capsys, "run", value.split("=")[0])
    assert code == 2 and needle in err


def test_a_failed_ode_solve_names_the_study_and_the_regime():
    from learndyn import api, get_study
    from learndyn.core import ode

    study = get_study("alignment")
    config = study.make_config("quick", values={"sigma_h": 100.0})
    with pytest.raises(api.SolveError, match=r"alignment.*solver steps.*sigma_h=100"):
        with api._failures(study, config, "quick"):
            ode.solve(lambda t, y, a: y * y, 1.0, [0.0, 10.0], max_steps=4)


# ---- a command line that explains itself ----------------------------------------------------


def test_help_and_list_import_no_jax():
    code = ("import sys, io, contextlib; from learndyn import cli; "
            "out = io.StringIO(); "
            "ctx = contextlib.redirect_stdout(out); ctx.__enter__(); "
            "assert cli.main(['list']) == 0; ctx.__exit__(None, None, None); "
            "assert 'deep_linear' in out.getvalue(); "
            "assert 'jax' not in sys.modules and 'xarray' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_run_help_lists_the_fields_and_presets(capsys):
    code, out, _ = run_cli(capsys, "run", "deep_linear", "--help")
    assert code == 0
    for needle in ("--preset", "n_hidden", "hidden width", "> 0", "paper", "hierarchy"):
        assert needle in out, needle
    code, out2, _ = run_cli(capsys, "describe", "deep_linear")
    assert code == 0 and "singular_values" in out2


def test_failing_sweep_names_the_checks_per_point_and_show_reads_any_folder(capsys, tmp_path):
    out = tmp_path / "sweep"
    code, text, _ = run_cli(capsys, "sweep", "deep_linear", *FAST, "--grid", "lr=0.004,0.15",
                            "--out", str(out))
    assert code == 3, text
    assert "failed at lr=0.15:" in text and "failed at lr=0.004" not in text
    code, text, _ = run_cli(capsys, "show", str(out))
    assert code == 0 and "sweep" in text and "swept: lr = 0.004, 0.15" in text


def test_second_process_reuses_the_compiled_programs(tmp_path):
    """The first run fills the store's compilation cache; a second process running the same
    study (forced, so it computes again) finds every program there and writes nothing new."""
    import os
    from pathlib import Path

    tests = Path(__file__).parent
    env = {**{k: v for k, v in os.environ.items() if k != "LEARNDYN_COMPILATION_CACHE"},
           "LEARNDYN_HOME": str(tmp_path / "store"),
           "LEARNDYN_STUDIES": "sweep_toy=sweep_toy:TOY",
           "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    cache = tmp_path / "store" / ".jax-cache"
    counts = []
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "learndyn", "run", "sweep_toy", "--force"],
                       env=env, check=True, capture_output=True, timeout=300)
        counts.append(len(list(cache.iterdir())))
    assert counts[0] > 0 and counts[1] == counts[0], counts


def test_an_interrupted_run_resumes_when_run_again(capsys, tmp_path, monkeypatch):
    """Ctrl-C during a run keeps its checkpoint; the same command again resumes from it and
    stores exactly the numbers of an uninterrupted run, then removes the checkpoint."""
    from learndyn.core import checkpoint

    monkeypatch.setenv("LEARNDYN_CHECKPOINT_SECONDS", "0")
    argv = ["run", "deep_linear", *FAST, "--set", "num_records=200"]
    real = checkpoint.Saver.progress
    saves = []

    def interrupt_after_a_save(self, *args):
        real(self, *args)
        saves.append(self.path)
        if len(saves) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.Saver, "progress", interrupt_after_a_save)
    assert run_cli(capsys, *argv, "--out", str(tmp_path / "a"))[0] == 130
    folder = saves[-1].parent
    assert saves[-1].is_file() and store.list_runs(tmp_path) == []
    monkeypatch.setattr(checkpoint.Saver, "progress", real)
    loaded, load = [], checkpoint.load
    monkeypatch.setattr(checkpoint, "load", lambda *a: loaded.append(load(*a)) or loaded[-1])
    assert run_cli(capsys, *argv, "--out", str(tmp_path / "a"))[0] == 0
    assert any(s is not None and not s["complete"] and s["group"] > 0 for s in loaded)
    assert not folder.exists()
    assert run_cli(capsys, *argv, "--out", str(tmp_path / "b"))[0] == 0  # uninterrupted
    import xarray as xr

    a, b = (store.read_dataset(tmp_path / x) for x in "ab")
    xr.testing.assert_allclose(a.mode_strength_sim, b.mode_strength_sim, rtol=0, atol=0)
