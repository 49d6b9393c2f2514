"""Benchmark: online SGD of a teacher-student network and its order-parameter ODE.

The problem of the reference C++ simulator's published figures: erf, N = 500, K = M = 2,
first layer only, lr 0.5, one seed. Compared, interleaved, on one core, float64 (the C++
simulator is float64):

- ``engine``: :func:`learndyn.teacher_student.online.run` (the studies' path: inputs drawn
  inside the compiled loop from XORWOW lanes), one seed, ``threads=1``;
- ``python loop``: the best plain alternative: a Python loop calling one jitted step per
  iteration (input drawn inside the step from a folded-in threefry key);
- ``numpy loop``: the same update in plain numpy;
- the engine in float32, against itself in float64 (what float32 buys; not comparable with the
  float64 reference).

Whole-process rows (a fresh ``python`` started, learndyn imported, the program compiled or
read from the persistent compilation cache, run, exit): 1e5 SGD steps, and the ODE (erf,
M = 2, K = 4, t = 0..1000, Dormand-Prince 8 at the default rtol 1e-10) once with an empty
compilation cache and once with a warm one, against the C++ simulator as a process: timed in
the same run with ``--reference-cmd`` / ``--reference-ode-cmd``, else the quoted figures
(provenance in benchmarks/README.md).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import erf

from harness import COUNTED, Row, Timing, compare, compiles, interleave, run_process
from learndyn.teacher_student import model, online, theory

N, K, LR = 500, 2, 0.5
#: quoted figures of the authors' C++ simulator (benchmarks/README.md)
QUOTED = {"sgd_steps_per_s": 5.6e4, "sgd_process_s": 1.6, "ode_process_s": 0.86}
INIT = dict(init_std=1.0, v_init=1.0, v_init_std=0.0, vstar_value=1.0, vstar_random=False)
HYPER = dict(lr=LR, lr2=LR, sigma=0.0, weight_decay=0.0)
PROCESS_STEPS = 100_000

SGD_PROCESS = f"""
import jax, numpy as np
from learndyn.core.store import use_compilation_cache
from learndyn.teacher_student import online
use_compilation_cache()
with jax.enable_x64(True):
    rec = online.run(g="erf", N={N}, K={K}, M={K}, train_v=False, dtype="float64", seeds=[0],
                     record_at=np.array([0, {PROCESS_STEPS}]), threads=1, hyper={HYPER},
                     init_args={INIT})
print(float(rec.values["Q"][0, -1, 0, 0]))
"""

ODE_PROCESS = """
import numpy as np
from learndyn.core.store import use_compilation_cache
from learndyn.teacher_student import theory
use_compilation_cache()
rng = np.random.default_rng(1)
w, ws = rng.normal(size=(4, 500)), rng.normal(size=(2, 500))
ds = theory.integrate(w @ w.T / 500, w @ ws.T / 500, ws @ ws.T / 500, np.ones(4), np.ones(2),
                      lr=0.5, times=np.linspace(0.0, 1000.0, 101))
print(float(ds.eg[-1]))
"""


def engine(steps: int, dtype: str):
    record_at = np.array([0, steps])
    init_args = {k: jnp.asarray(v) for k, v in INIT.items()}

    def go():
        with jax.enable_x64(True):
            rec = online.run(g="erf", N=N, K=K, M=K, train_v=False, dtype=dtype, seeds=[0],
                             record_at=record_at, threads=1, hyper=HYPER, init_args=init_args)
        return rec.values["Q"]

    return go


@jax.jit
def jitted_step(nets, key, t):
    z = jax.random.normal(jax.random.fold_in(key, t), (N + 1,), nets.w.dtype)
    return model.sgd_update(nets, z[:N], z[N], g="erf", train_v=False, **HYPER)[0]


def python_loop(steps: int):
    def go():
        with jax.enable_x64(True):
            key = jax.random.key(0)
            nets = model.init(key, N=N, K=K, M=K, dtype=jnp.float64, **INIT)
            for t in range(steps):
                nets = jitted_step(nets, key, t)
            return jax.block_until_ready(nets)

    return go


def numpy_loop(steps: int):
    def go():
        rng = np.random.default_rng(0)
        ws, w = rng.normal(size=(K, N)), rng.normal(size=(K, N))
        v, vs, sq = np.ones(K), np.ones(K), np.sqrt(N)
        for _ in range(steps):
            x = rng.normal(size=N)
            lam, rho = w @ x / sq, ws @ x / sq
            delta = v @ erf(lam / np.sqrt(2)) - vs @ erf(rho / np.sqrt(2))
            w -= (LR / sq) * (v * np.sqrt(2 / np.pi) * np.exp(-lam**2 / 2) * delta)[:, None] * x
        return w

    return go


def ode_compiled() -> dict[str, Timing]:
    rng = np.random.default_rng(1)
    w, ws = rng.normal(size=(4, N)), rng.normal(size=(2, N))
    args = (w @ w.T / N, w @ ws.T / N, ws @ ws.T / N, np.ones(4), np.ones(2))
    times = np.linspace(0.0, 1000.0, 101)
    return interleave({"ode": lambda: theory.integrate(*args, lr=LR, times=times)}, repeat=3)


def sgd_rows(quick: bool, cores: str, repeat: int) -> list[Row]:
    steps, few = (5_000, 1_000) if quick else (40_000, 4_000)
    t = interleave({"engine64": engine(steps, "float64"), "engine32": engine(steps, "float32"),
                    "loop": python_loop(few), "numpy": numpy_loop(few)}, repeat=repeat)
    # the loops run fewer steps (they are slow): compare rates
    scaled = {k: Timing([s * steps / few for s in t[k].times]) for k in ("loop", "numpy")}
    t = {**t, **scaled}
    base = f"erf, N = {N}, K = M = {K}, 1 seed, {cores}"
    name = "teacher_student: online SGD, float64"
    return [
        compare(name, t, "engine64", "loop", work=steps, unit="steps/s",
                label="Python loop over a jitted step, float64 (in-run)",
                how=f"{base}; float64 both; engine {steps} steps, loop {few} (rates)"),
        compare(name, t, "engine64", "numpy", work=steps, unit="steps/s",
                label="numpy loop, float64 (in-run)",
                how=f"{base}; float64 both; engine {steps} steps, numpy {few} (rates)"),
        Row(name, steps / t["engine64"].median, "steps/s",
            "C++ simulator, float64, 1 core (quoted)", QUOTED["sgd_steps_per_s"],
            how_measured=f"{base}; float64 both; {t['engine64'].describe(steps, 'steps/s')}; "
                         "reference quoted, not run here (benchmarks/README.md)"),
        compare("teacher_student: online SGD, float32", t, "engine32", "engine64", work=steps,
                unit="steps/s", label="the engine in float64 (in-run)",
                how=f"{base}; what float32 buys; not comparable with float64 references"),
    ]


def process_rows(quick: bool, cores: str, reference_cmd: str | None,
                 reference_ode_cmd: str | None, repeat: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-jax-") as scratch:
        return _process_rows(Path(scratch), cores, reference_cmd, reference_ode_cmd, repeat)


def _process_rows(scratch: Path, cores: str, reference_cmd: str | None,
                  reference_ode_cmd: str | None, repeat: int) -> list[Row]:
    """Whole-process rows; every compilation cache lives under ``scratch`` (removed after)."""
    warm = str(scratch / "warm")
    out, counts = [], {}
    for what, script, cmd, quoted in (
            ("SGD 1e5 steps", SGD_PROCESS, reference_cmd, QUOTED["sgd_process_s"]),
            ("ODE to t = 1000", ODE_PROCESS, reference_ode_cmd, QUOTED["ode_process_s"])):
        def ours(cache: str | None = None, script=script):
            key = "warm" if cache else "cold"
            cache = cache or tempfile.mkdtemp(prefix="cold-", dir=scratch)
            _, err = run_process([sys.executable, str(COUNTED), "-c", script],
                                 env={"LEARNDYN_COMPILATION_CACHE": cache})
            counts[key] = compiles(err)

        programs = {"cold": ours, "warm": lambda ours=ours: ours(warm)}
        if cmd:
            programs["reference"] = lambda cmd=cmd: run_process(cmd)
        ours(warm)  # fill the warm cache
        t = interleave(programs, repeat=repeat, warmup=False)
        how = (f"whole process (start python, import, compile or load, run, exit), {cores}, "
               f"float64; erf, N = {N}, K = M = {K}, one seed" if what.startswith("SGD") else
               f"whole process, {cores}, float64; erf, M = 2, K = 4, Dormand-Prince 8, "
               f"rtol 1e-10 (C++: Euler, dt = 0.01)")
        ref_label = ("C++ simulator as a process (--reference-cmd, in-run)" if cmd else
                     "C++ simulator as a process (quoted)")
        name = f"teacher_student: {what}, process"
        for key, cache in (("cold", "empty compilation cache"),
                           ("warm", "warm compilation cache")):
            c = counts[key]
            how_key = (f"{how}; programs compiled {c['compiled']} ({c['compile_s']:.1f} s), "
                       f"loaded from the cache {c['hits']}; tracing {c['trace_s']:.1f} s, "
                       f"lowering {c['lower_s']:.1f} s, import {c['import_s']:.1f} s")
            if cmd:
                row = compare(f"{name}, {cache}", t, key, "reference", how=how_key,
                              label=ref_label)
            else:
                row = Row(f"{name}, {cache}", t[key].median, "s", ref_label, quoted,
                          how_measured=f"{how_key}; {t[key].describe()}; reference quoted")
            out.append(row)
    return out


def rows(quick: bool = False, cores: str = "1 core", repeat: int = 5,
         reference_cmd: str | None = None, reference_ode_cmd: str | None = None) -> list[Row]:
    start = time.perf_counter()
    out = sgd_rows(quick, cores, repeat)
    ode = ode_compiled()["ode"]
    out.append(Row("teacher_student: ODE to t = 1000, compiled", ode.median, "s",
                   how_measured=f"in-process, second and later calls, {cores}, float64; erf, "
                                f"M = 2, K = 4, Dormand-Prince 8, rtol 1e-10; {ode.describe()}"))
    out += process_rows(quick, cores, reference_cmd, reference_ode_cmd, 1 if quick else 2)
    print(f"teacher_student: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return out


if __name__ == "__main__":
    from harness import table

    print(table(rows(quick=True, repeat=3)))
