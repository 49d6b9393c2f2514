"""``python benchmarks/counted.py ARGS``: the learndyn command line (``learndyn ARGS``; or
``-c CODE``: run CODE), and at exit one line on stderr, ``BENCH-COMPILES {json}``: how many
programs XLA compiled in this process (``compiled``: requests to the persistent compilation
cache that missed), how many came from the cache (``hits``), the seconds spent compiling or
loading them (``compile_s``), tracing Python into jaxprs (``trace_s``) and lowering those to
XLA (``lower_s``: neither is saved by the persistent cache), and importing learndyn
(``import_s``)."""

from __future__ import annotations

import atexit
import json
import sys
import time

START = time.perf_counter()
from jax import monitoring  # noqa: E402  (after the clock starts)

COUNTS = {"requests": 0, "hits": 0, "compile_s": 0.0, "trace_s": 0.0, "lower_s": 0.0,
          "import_s": 0.0}
DURATIONS = {"/jax/core/compile/backend_compile_duration": "compile_s",
             "/jax/core/compile/jaxpr_trace_duration": "trace_s",
             "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s"}


def _event(event: str, **kwargs) -> None:
    if event == "/jax/compilation_cache/compile_requests_use_cache":
        COUNTS["requests"] += 1
    elif event == "/jax/compilation_cache/cache_hits":
        COUNTS["hits"] += 1


def _duration(event: str, duration: float, **kwargs) -> None:
    if event in DURATIONS:
        COUNTS[DURATIONS[event]] += duration


def _report() -> None:
    out = {**COUNTS, "compiled": COUNTS["requests"] - COUNTS["hits"]}
    print("BENCH-COMPILES " + json.dumps(out), file=sys.stderr, flush=True)


if __name__ == "__main__":
    monitoring.register_event_listener(_event)
    monitoring.register_event_duration_secs_listener(_duration)
    atexit.register(_report)
    import learndyn.cli

    COUNTS["import_s"] = time.perf_counter() - START
    if sys.argv[1:2] == ["-c"]:
        exec(compile(sys.argv[2], "<bench>", "exec"), {"__name__": "__main__"})
    else:
        sys.exit(learndyn.cli.main(sys.argv[1:]))
