"""The shared benchmark harness: interleaved timing, one row schema, one table, ``bench.json``.

Every benchmark of ``benchmarks/`` reports :class:`Row` objects:

- ``name``: what is measured (family: program, size, precision);
- ``value`` and ``unit``: the measurement (a median over interleaved repeats, see below);
- ``reference`` and ``reference_value``: what it is compared with, in the same unit: another
  program timed in the same run, or a quoted figure (then ``reference`` says "quoted" and
  benchmarks/README.md gives its provenance); ``None`` where there is no reference;
- ``ratio``: how many times faster than the reference (> 1: learndyn is faster), whatever the
  unit (seconds: reference / value; a rate: value / reference);
- ``how_measured``: precision, cores, repeats, the median and min of both sides.

:func:`interleave` times the compared programs in turn (A, B, A, B, ...) after one untimed
warm-up call each, so that both see the same machine load; it reports the median and the min of
each. :func:`pin` restricts the process (and the XLA thread pool) to one core before JAX is
imported, so that rates are per core, comparable with a single-threaded reference.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: bench.json and the figures of benchmarks/gpu.sh go here (git-ignored) unless overridden
OUT = Path(__file__).resolve().parent / "out"
FIELDS = ("name", "value", "unit", "reference", "reference_value", "ratio", "how_measured")


@dataclass
class Timing:
    """Wall-clock seconds of the timed (not warm-up) calls of one program."""

    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    def describe(self, work: float = 1.0, unit: str = "s") -> str:
        """``median M, min m (n runs)`` of ``work / seconds`` (a rate) or of the seconds."""
        if unit == "s":
            return f"median {self.median:.3g} s, min {self.min:.3g} s (n = {len(self.times)})"
        return (f"median {work / self.median:.3g}, best {work / self.min:.3g} {unit} "
                f"(n = {len(self.times)})")


@dataclass
class Row:
    """One line of the table and of bench.json (see the module docstring)."""

    name: str
    value: float
    unit: str
    reference: str | None = None
    reference_value: float | None = None
    ratio: float | None = None
    how_measured: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None and self.reference_value:
            self.ratio = speedup(self.value, self.reference_value, self.unit)


def speedup(value: float, reference: float, unit: str) -> float:
    """Times faster than the reference: reference / value for seconds, value / reference for
    a rate (any unit ending in ``/s``)."""
    return reference / value if unit == "s" else value / reference


def interleave(programs: dict[str, Callable[[], Any]], *, repeat: int = 5,
               warmup: bool = True) -> dict[str, Timing]:
    """Time each program ``repeat`` times, in turn (A, B, A, B, ...), after one untimed call
    each (compilation) when ``warmup``."""
    if warmup:
        for fn in programs.values():
            fn()
    out = {name: Timing() for name in programs}
    for _ in range(repeat):
        for name, fn in programs.items():
            start = time.perf_counter()
            fn()
            out[name].times.append(time.perf_counter() - start)
    return out


def compare(name: str, timings: dict[str, Timing], program: str, reference: str | None, *,
            work: float = 1.0, unit: str = "s", label: str | None = None,
            how: str = "") -> Row:
    """A row for ``program`` against ``reference`` (keys of ``timings``, both from one
    :func:`interleave`): the medians, as seconds (``unit="s"``) or as ``work / seconds``."""
    mine = timings[program]
    value = mine.median if unit == "s" else work / mine.median
    ref_value, ref_how = None, ""
    if reference is not None:
        ref = timings[reference]
        ref_value = ref.median if unit == "s" else work / ref.median
        ref_how = f"; reference {ref.describe(work, unit)}, interleaved with it"
    return Row(name, value, unit, label or reference, ref_value,
               how_measured=f"{how}; {mine.describe(work, unit)}{ref_how}".lstrip("; "))


def pin(cores: int = 1) -> str:
    """Restrict this process to ``cores`` cores and XLA's CPU thread pool to one thread each;
    call before importing JAX. Returns a phrase for ``how_measured``."""
    if "jax" in sys.modules:
        raise RuntimeError("pin() must run before JAX is imported")
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, available[:cores])
    flags = os.environ.get("XLA_FLAGS", "")
    if cores == 1 and "multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
    return f"{cores} core{'s' if cores > 1 else ''} (pinned)"


def run_process(cmd: Sequence[str] | str, *, env: dict[str, str] | None = None,
                cores: Sequence[int] | None = None, timeout: float = 600,
                ok: Sequence[int] = (0,)) -> tuple[float, str]:
    """Run a command as a fresh process (``str``: through the shell); return its wall seconds
    and its stderr; an exit status not in ``ok`` raises. ``cores`` sets the child's CPU
    affinity (default: this process's)."""
    if cores is not None:  # through taskset: no fork hook in this (multithreaded) process
        prefix = ["taskset", "-c", ",".join(map(str, cores))]
        cmd = prefix + (["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd))
    start = time.perf_counter()
    done = subprocess.run(cmd, shell=isinstance(cmd, str), env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise RuntimeError(f"{cmd!r} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stderr


def compiles(stderr: str) -> dict[str, Any]:
    """The ``BENCH-COMPILES`` report of a process run through ``benchmarks/counted.py``
    (``compiled`` -1 if there is none)."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("BENCH-COMPILES "):
            return json.loads(line.split(" ", 1)[1])
    nan = float("nan")
    return {"compiled": -1, "hits": -1, "compile_s": nan, "trace_s": nan, "lower_s": nan,
            "import_s": nan}


COUNTED = Path(__file__).resolve().parent / "counted.py"


def machine() -> dict[str, Any]:
    """Where the numbers were taken."""
    import jax

    device = jax.devices()[0]
    return {"platform": platform.platform(), "python": platform.python_version(),
            "jax": jax.__version__, "device": f"{device.platform}: {device.device_kind}",
            "cpu_count": os.cpu_count(), "load_average_at_end": list(os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 1e5 else f"{x:.2e}"


def table(rows: Sequence[Row]) -> str:
    """The rows as one Markdown table (``how_measured`` left out: it is in bench.json)."""
    lines = ["| name | value | unit | reference | reference value | ratio |",
             "|---|---:|---|---|---:|---:|"]
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.3g}x"
        lines.append(f"| {r.name} | {_fmt(r.value)} | {r.unit} | {r.reference or '-'} | "
                     f"{_fmt(r.reference_value)} | {ratio} |")
    return "\n".join(lines)


def write(rows: Sequence[Row], path: Path, meta: dict[str, Any] | None = None) -> Path:
    """Write ``{"machine": ..., "rows": [...]}`` to ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"machine": meta if meta is not None else machine(),
            "rows": [asdict(r) for r in rows]}
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path
