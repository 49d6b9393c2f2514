"""The ``learndyn`` command: ``list``, ``run``, ``sweep``, ``show``.

Exit codes: 0 all checks passed; 3 the run finished but a check failed; 2 usage or config
error; 1 anything else (a diverging run, sweep tasks that kept failing); 130 interrupted.
Errors print one line (``--debug`` for the traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import api, registry
from .core import store
from .core.config import ConfigError
from .core.study import Check

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CHECKS, EXIT_INTERRUPT = 0, 1, 2, 3, 130


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise _UsageError(f"{message} (see '{self.prog} --help')")


class _Bar:
    """A rich progress bar that appears only once a run has taken more than ``delay`` seconds.

    When the console is not a terminal (a log file, a batch job) it prints a plain line per
    label instead, at most every ``every`` seconds and when the label completes.
    """

    def __init__(self, console: Console, delay: float = 1.5, every: float = 60.0):
        self.console, self.delay, self.every = console, delay, every
        self.start = time.monotonic()
        self.progress: Progress | None = None
        self.tasks: dict[str, int] = {}
        self.printed: dict[str, float] = {}

    def __call__(self, done: int, total: int, label: str = "") -> None:
        now = time.monotonic()
        if now - self.start < self.delay:
            return
        if not self.console.is_terminal:
            if done >= total or now - self.printed.get(label, -np.inf) >= self.every:
                self.printed[label] = now
                self.console.print(f"{label or 'training'}: {done}/{total} "
                                   f"({now - self.start:.0f} s)", highlight=False)
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeRemainingColumn(), console=self.console, transient=True,
            )
            self.progress.start()
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(label or "training", total=total)
        self.progress.update(self.tasks[label], completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _checks_table(checks: Sequence[Check], title: str = "checks") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("check", "value", "", "threshold", "result", "claim"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(
            c.name, f"{c.value:.4g}", c.comparison, f"{c.threshold:.4g}",
            "[green]pass[/green]" if c.passed else "[red]FAIL[/red]", c.claim,
        )
    return table


def _cmd_list(args: argparse.Namespace, console: Console) -> int:
    table = Table(title="learndyn studies", title_justify="left")
    for column in ("study", "presets", "claim"):
        table.add_column(column, overflow="fold")
    broken = 0
    for name in registry.studies():
        try:
            st = registry.get(name)
        except ConfigError as err:  # one broken study must not hide the others
            broken += 1
            table.add_row(name, "", f"[red]cannot load[/red]: {err}")
            continue
        table.add_row(name, ", ".join(st.presets), st.claim)
    console.print(table)
    return EXIT_ERROR if broken else EXIT_OK


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    st = registry.get(args.study)
    bar = _Bar(console)
    try:
        result = api.run(
            st.name, preset=args.preset, seeds=args.seeds, overrides=args.set, out=args.out,
            config_file=args.config, force=args.force, progress=bar,
        )
    finally:
        bar.close()
    where = "re-used stored run" if result.cached else "wrote"
    console.print(_checks_table(result.checks, f"{st.name} ({args.preset}): checks"))
    console.print(f"{where}: {result.path}")
    for path in result.figures.values():
        console.print(f"  figure: {path}")
    passed = sum(c.passed for c in result.checks)
    console.print(f"{passed}/{len(result.checks)} checks passed")
    return EXIT_OK if result.passed else EXIT_CHECKS


def _cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    st = registry.get(args.study)
    bar = _Bar(console)
    try:
        result = api.sweep(
            st.name, preset=args.preset, grid=args.grid, seeds=args.seeds, overrides=args.set,
            out=args.out, executor=args.executor, scheduler=args.scheduler,
            workers=args.workers, retries=args.retries, config_file=args.config,
            force=args.force, progress=bar,
        )
    finally:
        bar.close()
    ds = result.dataset
    fields = list(json.loads(ds.attrs["grid"]))
    table = Table(title=f"{st.name} sweep ({args.preset}): checks per grid point",
                  title_justify="left")
    for column in (*fields, "checks passed", st.headline_label or "headline"):
        table.add_column(column)
    stacked = ds[["check_passed", "headline"]].stack(point=fields)
    for i in range(stacked.sizes["point"]):
        point = stacked.isel(point=i)
        passed = point.check_passed.values
        known = passed[~np.isnan(passed.astype(float))]
        table.add_row(*(str(point[f].values) for f in fields),
                      f"{int(np.sum(known))}/{len(known)}", f"{float(point.headline):.4g}")
    console.print(table)
    where = "re-used stored sweep" if result.cached else "wrote"
    console.print(f"{where}: {result.path}")
    for path in result.figures.values():
        console.print(f"  figure: {path}")
    return EXIT_OK if result.passed else EXIT_CHECKS


def _find_run(name: str) -> Path:
    path = Path(name)
    if path.is_dir():
        return path
    matches = [p for p in store.list_runs() if p.name.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no stored run '{name}' (in {store.home()} or as a folder)")
    raise ConfigError(f"'{name}' matches several runs: " + ", ".join(p.name for p in matches))


def _cmd_show(args: argparse.Namespace, console: Console) -> int:
    if args.run is None:
        runs = store.list_runs()
        if not runs:
            console.print(f"no stored runs in {store.home()}")
            return EXIT_OK
        table = Table(title=f"stored runs in {store.home()}", title_justify="left")
        for column in ("run", "study", "seeds", "checks passed", "written"):
            table.add_column(column)
        for path in runs:
            result = api.load(path)
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(
                (path / store.RESULTS).stat().st_mtime))
            ok = sum(c.passed for c in result.checks)
            table.add_row(path.name, result.study, str(len(result.seeds)),
                          f"{ok}/{len(result.checks)}", stamp)
        console.print(table)
        return EXIT_OK
    result = api.load(_find_run(args.run))
    console.print(f"[bold]{result.study}[/bold] at {result.path}  (seeds {result.seeds})")
    for name, value in result.config.to_dict().items():
        console.print(f"  {name} = {value}")
    console.print(_checks_table(result.checks))
    for path in result.figures.values():
        console.print(f"  figure: {path}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    from .core import report

    paths = [_find_run(name) for name in args.runs] or [store.home()]
    if not args.runs and not store.list_runs():
        raise ConfigError(f"no stored runs in {store.home()}; run a study first "
                          "(learndyn run deep_linear)")
    out = Path(args.out) if args.out else store.home() / "report"
    index = report.build(paths, out, lookup=registry.get)
    console.print(str(index), highlight=False, soft_wrap=True)
    return EXIT_OK


def _parser() -> _Parser:
    parser = _Parser(prog="learndyn", description=__doc__.splitlines()[0] + " "
                     "Theory and simulation of learning dynamics, side by side.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="studies, their presets and claims")
    p = sub.add_parser("run", help="run a study (or re-use its stored result)")
    p.add_argument("study")
    p.add_argument("--preset", default="quick", help="quick (default) or paper")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (repeatable)")
    p.add_argument("--config", metavar="FILE", help="TOML or JSON file of config fields")
    p.add_argument("--seeds", type=int, metavar="N", help="number of seeds (default: preset's)")
    p.add_argument("--out", metavar="DIR", help="write the run to DIR")
    p.add_argument("--force", action="store_true", help="recompute / replace a stored run")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    p = sub.add_parser("sweep", help="run a study over a grid of config values")
    p.add_argument("study")
    p.add_argument("--preset", default="quick", help="quick (default) or paper")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="values of a field to sweep (repeatable: the product is swept; "
                        "list-valued fields separate values with ';')")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (repeatable)")
    p.add_argument("--config", metavar="FILE", help="TOML or JSON file of config fields")
    p.add_argument("--seeds", type=int, metavar="N", help="number of seeds (default: preset's)")
    p.add_argument("--executor", default="local", choices=("local", "processes", "dask"))
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes (processes, dask)")
    p.add_argument("--retries", type=int, default=1, metavar="N",
                   help="extra attempts for a failed task (default 1)")
    p.add_argument("--out", metavar="DIR", help="write the sweep to DIR")
    p.add_argument("--force", action="store_true", help="recompute every task")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    p = sub.add_parser("show", help="list stored runs, or show one")
    p.add_argument("run", nargs="?", help="run folder or stored run name (prefix)")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    p = sub.add_parser("report", help="write a static HTML report of stored runs and sweeps")
    p.add_argument("runs", nargs="*", metavar="RUN_OR_SWEEP",
                   help="run or sweep folders, stores, or stored run names (default: the store)")
    p.add_argument("--out", metavar="DIR", help="report folder (default: <store>/report)")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def _error(message: str, prefix: str = "learndyn: error: ") -> None:
    """One unwrapped line on stderr."""
    print(prefix + " ".join(message.split()), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    debug = "--debug" in argv
    try:
        args = _parser().parse_args(argv)
        command = {"list": _cmd_list, "run": _cmd_run, "sweep": _cmd_sweep,
                   "show": _cmd_show, "report": _cmd_report}[args.command]
        return command(args, console)
    except _UsageError as e:
        _error(str(e))
        return EXIT_USAGE
    except ConfigError as e:
        if debug:
            raise
        _error(str(e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted; stored runs are unchanged", prefix="learndyn: ")
        return EXIT_INTERRUPT
    except Exception as e:  # noqa: BLE001 - the one place that turns errors into a line
        if debug:
            raise
        _error(str(e))
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
