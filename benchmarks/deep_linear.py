"""Benchmark: the ODE solver on a problem with a closed form (deep linear networks).

Saxe, McClelland & Ganguli (ICLR 2014): a two-layer mode strength obeys
tau du/dt = 2 u (s - u), solved by u(t) = s / (1 + (s/u0 - 1) e^{-2st/tau}). Compared,
interleaved, float64, one core: :func:`learndyn.core.ode.solve` (diffrax Dormand-Prince 8,
rtol 1e-10) on :func:`learndyn.deep_linear.theory.deep_mode_rhs` with depth 2 for 32 modes at
1001 times, against the closed form :func:`learndyn.deep_linear.theory.mode_saxe` at the same
points. What it shows: the price of an ODE where the closed form exists (deep networks, D > 2,
have none), and that the two agree (max relative difference in ``how_measured``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from harness import Row, compare, interleave
from learndyn.core import ode
from learndyn.deep_linear.theory import deep_mode_rhs, mode_saxe

MODES, TIMES = 32, 1001


def problem():
    s = np.linspace(0.5, 4.0, MODES)
    u0 = np.full(MODES, 1e-3)
    return s, u0, np.linspace(0.0, 10.0, TIMES)


def solved(s, u0, times) -> np.ndarray:
    with jax.enable_x64(True):
        return np.asarray(ode.solve(deep_mode_rhs, jnp.asarray(u0), jnp.asarray(times),
                                    args=(jnp.asarray(s), 2.0, 1.0)))


def rows(quick: bool = False, cores: str = "1 core", repeat: int = 5) -> list[Row]:
    s, u0, times = problem()
    out = {}

    def run_ode():
        out["ode"] = solved(s, u0, times)

    def closed():
        out["closed"] = mode_saxe(s[None], u0[None], times[:, None])

    t = interleave({"ode": run_ode, "closed": closed}, repeat=repeat)
    gap = float(np.max(np.abs(out["ode"] - out["closed"]) / out["closed"]))
    how = (f"{MODES} modes (s = 0.5..4, u0 = 1e-3), {TIMES} output times, t = 0..10 tau, "
           f"float64 both, {cores}; compiled calls; max rel. difference {gap:.1e}")
    return [compare("deep_linear: mode ODE (depth 2, Dopri8 rtol 1e-10)", t, "ode", "closed",
                    how=how, label="closed form (Saxe et al. 2014), in-run")]


if __name__ == "__main__":
    from harness import table

    print(table(rows(quick=True)))
