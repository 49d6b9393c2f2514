"""The ``learndyn`` command: ``list``, ``describe``, ``run``, ``sweep``, ``show``, ``report``.

Exit codes: 0 all checks passed; 3 the run finished but a check failed; 2 usage or config
error; 1 anything else (a diverging run, a failed ODE solve, sweep tasks that kept failing);
130 interrupted. Errors print one line (``--debug`` for the traceback). ``learndyn --help``,
``list`` and ``describe`` answer without importing JAX.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from . import registry
from .core.config import ConfigError

if TYPE_CHECKING:
    from .core.study import Check

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CHECKS, EXIT_INTERRUPT = 0, 1, 2, 3, 130


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise _UsageError(f"{message} (see '{self.prog} --help')")


class _Bar:
    """Progress of a run: a rich bar (in a terminal) or plain lines (a log file, a batch job).

    The bar appears once a run has taken ``delay`` seconds, with the time elapsed, so a long
    compilation (a label still at 0 steps, shown as "compiling") is not a silent minute.
    Without a terminal it prints a line per label at most every ``every`` seconds and when the
    label completes, and a "compiling" line if a label has not moved after ``every / 3``
    seconds. Either way, a label estimated to need more than two minutes says so once.
    """

    def __init__(self, console: Console, delay: float = 1.5, every: float = 60.0):
        self.console, self.delay, self.every = console, delay, every
        self.start = time.monotonic()
        self.progress: Progress | None = None
        self.tasks: dict[str, int] = {}
        self.printed: dict[str, float] = {}
        self.first: dict[str, tuple[float, int]] = {}
        self.estimated: set[str] = set()
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None
        self.closed = False

    def __call__(self, done: int, total: int, label: str = "") -> None:
        with self.lock:
            now = time.monotonic()
            label = label or "training"
            self.first.setdefault(label, (now, done))
            self._estimate(label, done, total, now)
            if not self.console.is_terminal:
                self._line(label, done, total, now)
                return
            if self.progress is None:
                self.progress = Progress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
                    transient=True)
            if label not in self.tasks:
                self.tasks[label] = self.progress.add_task(label, total=total)
            description = f"{label} (compiling)" if done == 0 else label
            self.progress.update(self.tasks[label], completed=done, total=total,
                                 description=description)
            self._show_later(now)

    def _show_later(self, now: float) -> None:
        if self.timer is None:
            self.timer = threading.Timer(max(0.0, self.delay - (now - self.start)), self._show)
            self.timer.daemon = True
            self.timer.start()

    def _show(self) -> None:
        with self.lock:
            if not self.closed and self.progress is not None:
                self.progress.start()

    def _line(self, label: str, done: int, total: int, now: float) -> None:
        if now - self.start < self.delay:
            return
        if done >= total or (done and now - self.printed.get(label, -1e300) >= self.every):
            self.printed[label] = now
            self.console.print(f"{label}: {done}/{total} ({now - self.start:.0f} s)",
                               highlight=False)
        elif done == 0 and self.timer is None:
            def compiling() -> None:
                with self.lock:
                    if not self.closed and label not in self.printed:
                        elapsed = time.monotonic() - self.start
                        self.console.print(f"{label}: compiling ({elapsed:.0f} s)",
                                           highlight=False)
            self.timer = threading.Timer(self.every / 3, compiling)
            self.timer.daemon = True
            self.timer.start()

    def _estimate(self, label: str, done: int, total: int, now: float) -> None:
        t0, d0 = self.first[label]
        if label in self.estimated or done <= d0 or now - t0 < 5.0 or done >= total:
            return
        left = (total - done) * (now - t0) / (done - d0)
        if left > 120:
            self.estimated.add(label)
            (self.progress.console if self.progress else self.console).print(
                f"{label}: about {_duration(left)} to go (estimated from the first "
                f"{done - d0} steps)", highlight=False)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
            if self.progress is not None:
                self.progress.stop()


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _checks_table(checks: Sequence[Check], title: str = "checks") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("check", "value", "", "threshold", "result", "claim"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(
            f"{c.name}\n[dim]{c.id}[/dim]", f"{c.value:.4g}", c.comparison, f"{c.threshold:.4g}",
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
            info = registry.describe(name)
        except ConfigError as err:  # one broken study must not hide the others
            broken += 1
            table.add_row(name, "", f"[red]cannot load[/red]: {err}")
            continue
        table.add_row(name, ", ".join(info["presets"]), info["claim"])
    console.print(table)
    return EXIT_ERROR if broken else EXIT_OK


def _describe_study(name: str, console: Console) -> None:
    """The study's claim, config fields (type, default, allowed values, meaning) and presets."""
    from .core.config import describe_fields

    st = registry.get(name)
    console.print(f"[bold]{st.name}[/bold]: {st.claim}\n{st.paper}", highlight=False)
    table = Table(title="config fields (--set FIELD=VALUE)", title_justify="left")
    for column in ("field", "type", "default", "allowed", "meaning"):
        table.add_column(column, overflow="fold")
    for row in describe_fields(st.config):
        table.add_row(*row)
    console.print(table)
    table = Table(title="presets (--preset NAME)", title_justify="left")
    for column in ("preset", "seeds", "what it is", "fields it sets", "cost"):
        table.add_column(column, overflow="fold")
    for key, preset in st.presets.items():
        values = ", ".join(f"{k}={v}" for k, v in preset.values.items()) or "(the defaults)"
        table.add_row(key, str(preset.seeds), preset.doc, values, preset.cost)
    console.print(table)


def _cmd_describe(args: argparse.Namespace, console: Console) -> int:
    _describe_study(args.study, console)
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from . import api

    st = registry.get(args.study)
    preset = st.presets.get(args.preset)
    if preset is not None and preset.cost:  # a long run says so before it starts
        console.print(f"{st.name} ({args.preset} preset): {preset.cost}", highlight=False)
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
    import numpy as np

    from . import api

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
    failed: dict[str, list[str]] = {}
    for c in result.checks:
        if not c.passed:
            failed.setdefault(c.name.split(": ", 1)[0], []).append(c.id)
    for point, ids in failed.items():
        console.print(f"failed at {point}: {', '.join(ids)}", highlight=False)
    where = "re-used stored sweep" if result.cached else "wrote"
    console.print(f"{where}: {result.path}")
    for path in result.figures.values():
        console.print(f"  figure: {path}")
    return EXIT_OK if result.passed else EXIT_CHECKS


def _find_run(name: str) -> Path:
    from .core import store

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
    from . import api
    from .core import store

    if args.run is None:
        runs = store.list_runs()
        if not runs:
            console.print(f"no stored runs in {store.home()}")
            return EXIT_OK
        table = Table(title=f"stored runs in {store.home()}", title_justify="left")
        for column in ("run", "study", "preset", "seeds", "swept", "checks passed", "written"):
            table.add_column(column)
        for path in runs:
            result = api.load(path)
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(
                (path / store.RESULTS).stat().st_mtime))
            ok = sum(c.passed for c in result.checks)
            table.add_row(path.name, result.study, str(result.dataset.attrs.get("preset", "")),
                          str(len(result.seeds)), _swept(result.dataset.attrs),
                          f"{ok}/{len(result.checks)}", stamp)
        console.print(table)
        return EXIT_OK
    path = _find_run(args.run)
    if not store.is_run(path):
        raise ConfigError(f"{path} holds no complete learndyn run or sweep")
    result = api.load(path)
    attrs = result.dataset.attrs
    kind = "sweep" if attrs.get("kind") == "sweep" else "run"
    console.print(f"[bold]{result.study}[/bold] {kind} at {result.path}  (preset "
                  f"{attrs.get('preset', '?')}, seeds {result.seeds})")
    if kind == "sweep":
        console.print(f"  swept: {_swept(attrs)}", highlight=False)
    for name, value in result.config.to_dict().items():
        console.print(f"  {name} = {value}")
    console.print(_checks_table(result.checks))
    for path in result.figures.values():
        console.print(f"  figure: {path}")
    return EXIT_OK


def _swept(attrs) -> str:
    grid = json.loads(attrs.get("grid", "{}"))
    return "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in grid.items())


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    from .core import report, store

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
    parser.subcommands = sub.choices
    sub.add_parser("list", help="studies, their presets and claims")
    p = sub.add_parser("describe", help="a study's config fields and presets")
    p.add_argument("study")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    p = sub.add_parser("run", help="run a study (or re-use its stored result); "
                       "'run STUDY --help' lists its fields and presets")
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
        if len(argv) >= 2 and argv[0] in ("run", "sweep") and not argv[1].startswith("-") \
                and ("-h" in argv or "--help" in argv):  # the study's fields and presets too
            parser = _parser()
            console.print(parser.subcommands[argv[0]].format_help(), highlight=False)
            _describe_study(argv[1], console)
            return EXIT_OK
        args = _parser().parse_args(argv)
        if args.command in ("run", "sweep"):
            import matplotlib

            matplotlib.use("Agg")  # figures are written to files; this process owns the backend
        command = {"list": _cmd_list, "run": _cmd_run, "sweep": _cmd_sweep,
                   "show": _cmd_show, "report": _cmd_report,
                   "describe": _cmd_describe}[args.command]
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
