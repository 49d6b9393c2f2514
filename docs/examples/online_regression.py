"""Study ``online_regression``: online SGD on noisy linear regression against its exact theory.

A student w in R^N learns a teacher w* from fresh samples x ~ N(0, I_N), y = w*.x + sigma zeta,
one per step: w <- w - (eta / N) (w.x - y) x. The error e = |w - w*|^2 / N obeys, in
expectation over the samples and exactly at every N, the linear recursion

    e_{k+1} = r e_k + eta^2 sigma^2 / N^2,   r = 1 - 2 eta / N + eta^2 (N + 2) / N^2,

so e_k = e_inf + (e_0 - e_inf) r^k with the noise floor e_inf = eta sigma^2 / (2 N - eta (N + 2)).
Learning converges only for eta < 2 N / (N + 2). A worked example of a learndyn study: register
it with ``LEARNDYN_STUDIES="online_regression=online_regression:STUDY"`` (the folder on
``PYTHONPATH``) and run ``learndyn run online_regression``.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from learndyn.core import plotting
from learndyn.core.config import Config, ConfigError, param
from learndyn.core.engine import record_steps, simulate
from learndyn.core.study import Check, Preset, Study


@dataclass(frozen=True)
class RegressionConfig(Config):
    N: int = param(100, "input dimension", ge=2)
    lr: float = param(0.5, "learning rate eta (step eta / N)", gt=0)
    sigma: float = param(0.5, "label noise standard deviation", ge=0)
    t_max: float = param(20.0, "training time t = steps / N", gt=0)
    num_records: int = param(60, "recorded times (log-spaced steps)", ge=3)

    def validate(self) -> None:
        if self.lr >= 2 * self.N / (self.N + 2):
            raise ConfigError(f"config field 'lr': must be below 2N/(N+2) = "
                              f"{2 * self.N / (self.N + 2):.4g} for learning to converge")

    @property
    def steps(self) -> int:
        return round(self.t_max * self.N)


def init(key, args):
    """The student starts at ``args["w0"]``; the teacher is drawn per seed."""
    return {"w": args["w0"], "teacher": jax.random.normal(key, args["w0"].shape)}


def step(state, key, t, args):
    N = state["w"].shape[0]
    kx, kz = jax.random.split(key)
    x = jax.random.normal(kx, (N,))
    y = state["teacher"] @ x + args["sigma"] * jax.random.normal(kz)
    w = state["w"] - args["lr"] / N * (state["w"] @ x - y) * x
    return {**state, "w": w}


def observe(state, args):
    return {"error": jnp.mean((state["w"] - state["teacher"]) ** 2)}


def theory(config: RegressionConfig, steps: np.ndarray, e0: np.ndarray) -> np.ndarray:
    """Expected error e_k of every seed from its own e_0 (the recursion's closed form)."""
    N, eta = config.N, config.lr
    r = 1 - 2 * eta / N + eta**2 * (N + 2) / N**2
    floor = eta * config.sigma**2 / (2 * N - eta * (N + 2))
    return floor + (e0[:, None] - floor) * r ** steps[None, :]


def run(config: RegressionConfig, *, seeds, progress=None) -> xr.Dataset:
    steps = record_steps(config.steps, config.num_records, spacing="log")
    args = {"w0": jnp.zeros(config.N), "lr": config.lr, "sigma": config.sigma}
    rec = simulate(init, step, observe, seeds=seeds, record_at=steps, args=args,
                   progress=progress, label="SGD")
    sim = rec.values["error"]
    ds = xr.Dataset(
        {"error_sim": (("seed", "time"), sim, {"long_name": "error |w - w*|^2 / N"}),
         "error_theory": (("seed", "time"), theory(config, steps, sim[:, 0]),
                          {"long_name": "expected error (exact recursion)"})},
        coords={"seed": list(seeds), "time": ("time", steps / config.N,
                                              {"long_name": "time", "units": "steps / N"}),
                "step": ("time", steps, {"long_name": "SGD step"})})
    return ds


def checks(ds: xr.Dataset, config: RegressionConfig) -> list[Check]:
    """The seed mean follows the exact expectation within 4 standard errors of the mean over
    seeds at every record (finite-seed error: with 64 seeds a record exceeds it with
    probability ~6e-5), and the final error sits on the noise floor within 10% (the spread of
    the final error is ~sqrt(2/N) = 14% per seed, 2% for the mean of 64)."""
    sim, th = ds.error_sim.values, ds.error_theory.values.mean(0)
    sem = sim.std(0, ddof=1) / np.sqrt(sim.shape[0])
    z = np.abs(sim.mean(0) - th)[1:] / sem[1:]
    floor = config.lr * config.sigma**2 / (2 * config.N - config.lr * (config.N + 2))
    return [
        Check.at_most("mean_vs_theory", "max |seed mean - theory| / standard error", z.max(), 4.0,
                      "the mean error follows the exact recursion"),
        Check.at_most("noise_floor", "|final error / noise floor - 1|",
                      abs(sim[:, -1].mean() / floor - 1), 0.1,
                      "with label noise the error settles on eta sigma^2 / (2N - eta (N+2))"),
    ]


def figures(ds: xr.Dataset, config: RegressionConfig) -> dict:
    fig, axes = plotting.figure()
    ax = axes[0, 0]
    ax.set(xscale="log", yscale="log")  # first: markers are spread evenly on the log axis
    plotting.theory_line(ax, ds.time, ds.error_theory.mean("seed"), color="C0")
    plotting.sim_band(ax, ds.time.values, ds.error_sim.values, color="C1")
    ax.set(xlabel="time $t$ (steps / N)",
           ylabel=r"error $|w - w^*|^2 / N$", title=f"N = {config.N}, $\\eta$ = {config.lr}")
    plotting.legend_theory_sim(ax, loc="lower left")
    return {"error": plotting.captioned(
        fig, "Online SGD error (markers: mean over seeds, band: one standard deviation) on "
             "the exact expected error (line), falling to the noise floor.")}


STUDY = Study(
    name="online_regression",
    claim="Online SGD on noisy linear regression follows an exact linear recursion for its "
          "expected error and settles on a noise floor.",
    paper="textbook (e.g. Saad & Solla 1995 for the ODE limit)",
    config=RegressionConfig,
    presets={"quick": Preset(seeds=64, doc="N = 100"),
             "paper": Preset(seeds=256, values={"N": 1000}, doc="N = 1000")},
    run=run,
    checks=checks,
    figures=figures,
    batch_fields=(),
)
