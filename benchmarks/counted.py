"""``python benchmarks/counted.py ARGS``: the learndyn command line (``learndyn ARGS``), and at
exit one line on stderr, ``BENCH-COMPILES {json}``: how many programs XLA compiled in this
process (``compiled``: requests to the persistent compilation cache that missed), how many came
from the cache (``hits``) and the seconds spent compiling or loading them (``compile_s``)."""

from __future__ import annotations

import atexit
import json
import sys

from jax import monitoring

COUNTS = {"requests": 0, "hits": 0, "compile_s": 0.0}


def _event(event: str, **kwargs) -> None:
    if event == "/jax/compilation_cache/compile_requests_use_cache":
        COUNTS["requests"] += 1
    elif event == "/jax/compilation_cache/cache_hits":
        COUNTS["hits"] += 1


def _duration(event: str, duration: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        COUNTS["compile_s"] += duration


def _report() -> None:
    out = {**COUNTS, "compiled": COUNTS["requests"] - COUNTS["hits"]}
    print("BENCH-COMPILES " + json.dumps(out), file=sys.stderr, flush=True)


if __name__ == "__main__":
    monitoring.register_event_listener(_event)
    monitoring.register_event_duration_secs_listener(_duration)
    atexit.register(_report)
    from learndyn.cli import main

    sys.exit(main(sys.argv[1:]))
