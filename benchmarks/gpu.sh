#!/usr/bin/env bash
# One prepared run on a GPU machine: `make bench` (benchmarks/run.py, unpinned, on the GPU) and
# the GPU-sized paper presets, each under a `timeout`, within about 10 minutes in all. Figures,
# checks and results of every run, bench.json and a summary (gpu_runs.json) go under $OUT if
# set, else benchmarks/out/gpu.
#
#   bash benchmarks/gpu.sh                      # on the GPU machine
#   LEARNDYN_GPU_TINY=1 bash benchmarks/gpu.sh  # a few minutes on a CPU: the same commands,
#                                               # shrunk, to catch a typo before a GPU run
#
# The GPU machine may have no internet: install JAX's CUDA wheels where there is one
# (`pip install -c constraints.txt -e '.[gpu]'` into .venv) and carry the whole .venv with the
# tree. Nothing is downloaded here. PYTHON overrides the interpreter (default .venv/bin/python).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/out/gpu}
TINY=${LEARNDYN_GPU_TINY:-0}
mkdir -p "$OUT/runs"
# the run store and its compilation cache stay off $OUT (only results travel back)
export LEARNDYN_HOME=${LEARNDYN_GPU_STORE:-${TMPDIR:-/tmp}/learndyn-gpu-store}
SUMMARY="$OUT/gpu_runs.tsv"
printf 'step\tcommand\trc\tseconds\n' > "$SUMMARY"

backend=$("$PY" -c 'import jax; print(jax.default_backend())') || {
    echo "gpu.sh: $PY cannot import jax" >&2; exit 1; }
echo "gpu.sh: JAX backend $backend; tiny=$TINY; writing to $OUT"
if [ "$backend" != "gpu" ] && [ "$TINY" = 0 ]; then
    echo "gpu.sh: no GPU backend in $PY: install '.[gpu]' where there is internet and carry" \
         "the venv (or set LEARNDYN_GPU_TINY=1 for a CPU trial)" >&2
    exit 1
fi

step() {  # step NAME SECONDS CMD...: run CMD under a timeout, log it, record rc and time
    local name=$1 limit=$2; shift 2
    echo "== $name (at most ${limit} s): $*"
    local start=$SECONDS
    timeout -s INT -k 15 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    printf '%s\t%s\t%s\t%s\n' "$name" "$*" "$rc" "$((SECONDS - start))" >> "$SUMMARY"
    echo "   rc $rc after $((SECONDS - start)) s; log $OUT/$name.log"
    tail -n 3 "$OUT/$name.log"
}

if [ "$TINY" = 0 ]; then
    # what `make bench` runs, unpinned (the GPU does the work; rates are not per CPU core)
    step bench 220 "$PY" benchmarks/run.py --no-pin --out "$OUT"
    step transformer_scale 60 "$PY" benchmarks/transformer_scale.py --steps 200 \
        --out "$OUT/transformer_scale.json"
    step induction_heads 120 "$PY" -m learndyn run induction_heads --preset paper \
        --out "$OUT/runs/induction_heads-paper"
    step induction_clamping 80 "$PY" -m learndyn run induction_clamping --preset paper \
        --out "$OUT/runs/induction_clamping-paper"
    step icl_transience 80 "$PY" -m learndyn run icl_transience --preset calibration \
        --out "$OUT/runs/icl_transience-calibration"
else
    step bench 300 "$PY" benchmarks/run.py --no-pin --quick --only engine,deep_linear \
        --studies none --out "$OUT"
    step transformer_scale 200 "$PY" benchmarks/transformer_scale.py --only coopetition \
        --steps 3 --out "$OUT/transformer_scale.json"
    step induction_heads 200 "$PY" -m learndyn run induction_heads --preset paper --seeds 1 \
        --set num_sequences=6400 --set eval_every=3200 --set n_eval=64 --set n_strength=64 \
        --out "$OUT/runs/induction_heads-paper"
    step induction_clamping 200 "$PY" -m learndyn run induction_clamping --preset paper \
        --set num_sequences=6400 --set eval_every=3200 --set n_eval=64 --set n_strength=64 \
        --out "$OUT/runs/induction_clamping-paper"
    step icl_transience 200 "$PY" -m learndyn run icl_transience --preset calibration \
        --set num_sequences=640 --set eval_every=320 --set n_eval=64 \
        --out "$OUT/runs/icl_transience-calibration"
fi

"$PY" - "$SUMMARY" "$OUT/gpu_runs.json" "$backend" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for r in rows:
    r["rc"], r["seconds"] = int(r["rc"]), int(r["seconds"])
json.dump({"backend": sys.argv[3], "steps": rows}, open(sys.argv[2], "w"), indent=2)
print(f"gpu.sh: wrote {sys.argv[2]}")
for r in rows:
    print(f"  {r['step']:<20} rc {r['rc']:>3}  {r['seconds']:>4} s")
EOF
