"""The benchmark harness (benchmarks/harness.py) on a trivial pair: interleaving, the row schema
of bench.json, the ratio's direction. No assertion on wall-clock time."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load("harness")


def test_interleave_alternates_and_counts_runs():
    order = []
    timings = harness.interleave({"a": lambda: order.append("a"),
                                  "b": lambda: order.append("b")}, repeat=3)
    assert order == ["a", "b"] * 4  # one warm-up call each, then A, B, A, B, ...
    assert {k: len(t.times) for k, t in timings.items()} == {"a": 3, "b": 3}
    assert all(t.min <= t.median for t in timings.values())


def test_bench_json_rows_follow_the_schema(tmp_path):
    # fixed, made-up durations: the schema and the ratio's direction, never a measured speed
    timings = {"fast": harness.Timing([0.5, 0.25, 0.75]), "slow": harness.Timing([2.0, 1.0])}
    rows = [harness.compare("trivial, seconds", timings, "fast", "slow", how="1 core"),
            harness.compare("trivial, rate", timings, "fast", "slow", work=10, unit="sums/s"),
            harness.Row("quoted", 2.0, "s", "a quoted figure", 4.0, how_measured="quoted"),
            harness.Row("no reference", 1.0, "s")]
    path = harness.write(rows, tmp_path / "out" / "bench.json", {"machine": "test"})
    body = json.loads(path.read_text())
    assert body["machine"] == {"machine": "test"}
    for row in body["rows"]:
        assert tuple(row) == harness.FIELDS
        assert isinstance(row["name"], str) and isinstance(row["unit"], str)
        assert isinstance(row["value"], float) and isinstance(row["how_measured"], str)
        if row["reference_value"] is None:
            assert row["ratio"] is None
        else:
            assert isinstance(row["reference"], str)
    seconds, rate, quoted, _ = body["rows"]
    # ratio: times faster than the reference, whichever the unit
    assert seconds["value"] == 0.5 and seconds["reference_value"] == 1.5  # medians
    assert seconds["ratio"] == pytest.approx(3.0)  # 1.5 s against 0.5 s: 3x faster
    assert rate["ratio"] == pytest.approx(3.0)  # 20 against 6.67 sums/s: the same 3x
    assert quoted["ratio"] == 2.0
    assert "interleaved" in seconds["how_measured"]
    table = harness.table(harness.Row(**r) for r in body["rows"])
    assert table.count("\n") == len(rows) + 1


def test_compile_counts_are_read_from_a_counted_process():
    err = 'noise\nBENCH-COMPILES {"requests": 5, "hits": 5, "compile_s": 0.2, "compiled": 0}\n'
    assert harness.compiles(err)["compiled"] == 0
    assert harness.compiles("no line")["compiled"] == -1
