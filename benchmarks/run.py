"""``make bench``: every family's benchmark, one table, ``bench.json``.

Runs, in this order: the in-process comparisons of each family (this process pinned to one
core, XLA single-threaded: rates are per core), then whole-process rows: for a few studies,
``python -m learndyn run STUDY --preset quick`` in a fresh process with a fresh store (first
run: compiles every program; JAX's persistent compilation cache, kept with the store, is
empty), then the same command again with ``--force`` (recomputes, but should compile nothing:
the programs come from the cache). Those processes run on all the cores the machine gives, as
a user runs them. The number of programs compiled in each run is counted and reported.

    python benchmarks/run.py [--quick] [--only engine,deep_linear] [--studies deep_linear]
        [--reference-cmd 'CMD'] [--reference-ode-cmd 'CMD'] [--out DIR]

Writes ``bench.json`` to ``--out`` (default: ``$OUT`` if set, else ``benchmarks/out/``, which
git ignores). See benchmarks/README.md for the schema and the quoted references.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402  (after the path is set)

FAMILIES = ("engine", "teacher_student", "deep_linear", "learning_effort", "transformer")
#: whole-process rows by default (any registered study can be named with --studies)
STUDIES = ("deep_linear", "task_abstraction", "induction_heads")
#: quoted whole-process figures of the authors' code (provenance: benchmarks/README.md)
QUOTED = {"task_abstraction": ("authors' task-abstraction code, its Fig. 2 (quoted)", 9.4,
                               "not the same work: the quick preset runs the Fig. 2 settings "
                               "for 3 seeds with Wishart batches, the quoted figure is the "
                               "authors' script for their Fig. 2")}


def study_rows(studies, cores: list[int], env: dict[str, str]) -> list[harness.Row]:
    """First and second whole-process quick runs of each study, fresh store each."""
    rows = []
    for study in studies:
        home = tempfile.mkdtemp(prefix=f"bench-store-{study}-")
        run_env = {**env, "LEARNDYN_HOME": home,
                   "LEARNDYN_COMPILATION_CACHE": str(Path(home) / ".jax-cache")}
        cmd = [sys.executable, str(harness.COUNTED), "run", study, "--preset", "quick"]
        try:
            # exit status 3: a check failed (the run is complete and timed all the same)
            first, err1 = harness.run_process(cmd, env=run_env, cores=cores, timeout=900,
                                              ok=(0, 3))
            second, err2 = harness.run_process(cmd + ["--force"], env=run_env, cores=cores,
                                               timeout=900, ok=(0, 3))
        finally:
            shutil.rmtree(home, ignore_errors=True)
        c1, c2 = harness.compiles(err1), harness.compiles(err2)
        how = (f"whole process (python start, import, compile or load, compute, store), "
               f"{len(cores)} cores, not pinned; one pair of runs, fresh store; programs "
               f"compiled: first run {c1['compiled']} ({c1['compile_s']:.1f} s), second run "
               f"{c2['compiled']} ({c2['hits']} loaded from the cache, {c2['compile_s']:.1f} "
               f"s); second run: tracing {c2['trace_s']:.1f} s, lowering {c2['lower_s']:.1f} "
               f"s, import {c2['import_s']:.1f} s (first: {c1['trace_s']:.1f}, "
               f"{c1['lower_s']:.1f}, {c1['import_s']:.1f} s)")
        name = f"process: learndyn run {study} --preset quick --force, warm compilation cache"
        rows.append(harness.Row(name, second, "s",
                                "the first run, empty compilation cache (in-run)", first,
                                how_measured=how))
        if study in QUOTED:
            label, value, caveat = QUOTED[study]
            rows.append(harness.Row(name, second, "s", label, value,
                                    how_measured=f"{caveat}; {how}"))
    return rows


def _names(text: str, known) -> list[str]:
    names = [n for n in text.split(",") if n and n != "none"]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def main(argv=None) -> list[harness.Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and fewer repeats (a smoke test, a minute or two)")
    parser.add_argument("--only", default=",".join(FAMILIES),
                        help=f"families, comma-separated ('none': skip): {','.join(FAMILIES)}")
    parser.add_argument("--studies", default=None,
                        help="studies for the whole-process rows, comma-separated ('none': "
                             f"skip; default {','.join(STUDIES)}, with --quick deep_linear)")
    parser.add_argument("--reference-cmd", default=None,
                        help="command running the C++ simulator for 1e5 SGD steps (erf, "
                             "N = 500, K = M = 2): timed as a process beside ours")
    parser.add_argument("--reference-ode-cmd", default=None,
                        help="command running the C++ Euler ODE (erf, M = 2, K = 4, t to 1000)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin this process to one core (on a GPU machine)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="interleaved timed runs per program (default 5, --quick 3)")
    parser.add_argument("--out", type=Path,
                        default=Path(os.environ["OUT"]) if os.environ.get("OUT") else harness.OUT)
    opts = parser.parse_args(argv)
    families = _names(opts.only, FAMILIES)
    chosen = opts.studies if opts.studies is not None else (
        "deep_linear" if opts.quick else ",".join(STUDIES))
    studies = [n for n in chosen.split(",") if n and n != "none"]
    repeat = opts.repeat or (3 if opts.quick else 5)

    all_cores = sorted(os.sched_getaffinity(0))
    env = {"XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}  # the study processes: unpinned
    cores = f"{len(all_cores)} cores, unpinned" if opts.no_pin else harness.pin(1)
    import jax

    cores += f", {jax.default_backend()}"
    start = time.perf_counter()
    rows: list[harness.Row] = []
    for family in families:
        mod = importlib.import_module(family)
        kwargs = dict(quick=opts.quick, cores=cores, repeat=repeat)
        if family == "teacher_student":
            kwargs.update(reference_cmd=opts.reference_cmd,
                          reference_ode_cmd=opts.reference_ode_cmd)
        t0 = time.perf_counter()
        rows += mod.rows(**kwargs)
        print(f"[bench] {family}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    rows += study_rows(studies, all_cores, env)
    if studies:
        print(f"[bench] studies: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    meta = harness.machine()
    meta.update(total_seconds=time.perf_counter() - start, quick=opts.quick, repeat=repeat,
                in_process_cores=cores, cpu_affinity_at_start=all_cores)
    print(harness.table(rows))
    path = harness.write(rows, opts.out / "bench.json", meta)
    print(f"{len(rows)} rows in {meta['total_seconds']:.0f} s; load average at the end "
          f"{meta['load_average_at_end']}; wrote {path}")
    return rows


if __name__ == "__main__":
    main()
