"""A tiny study for the sweep tests: relaxation x <- x + a (1 - x) dt plus noise, with hooks
that make a run fail, or kill its worker process once, on demand."""

import os
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from learndyn.core.config import Config, param
from learndyn.core.engine import record_steps, simulate
from learndyn.core.study import Check, Preset, Study


@dataclass(frozen=True)
class ToyConfig(Config):
    a: float = param(1.0, "relaxation rate", gt=0)
    n: int = param(3, "state size", gt=0)
    log: str = param("", "append a line here at every run")
    kill_once: str = param("", "exit the process the first time this marker file is missing")
    fail_at: float = param(-1.0, "raise when a equals this")
    pids: str = param("", "write this process's id into this folder, then sleep")


def _init(key, args):
    return jnp.zeros(args["n"].shape)


def _step(x, key, t, args):
    return x + 0.01 * args["a"] * (1.0 - x) + 1e-3 * jax.random.normal(key, x.shape)


def _observe(x, args):
    return {"x": x}


def run(config, *, seeds, progress=None):
    if config.log:
        with open(config.log, "a") as f:
            f.write(f"{config.a}\n")
    if config.kill_once and not Path(config.kill_once).exists():
        Path(config.kill_once).write_text("killed")
        os._exit(1)
    if config.pids:
        (Path(config.pids) / str(os.getpid())).write_text("")
        time.sleep(600)
    if config.a == config.fail_at:
        raise RuntimeError(f"planned failure at a={config.a}")
    steps = record_steps(200, 11)
    args = {"a": jnp.asarray(config.a), "n": jnp.zeros(config.n)}
    rec = simulate(_init, _step, _observe, seeds=seeds, record_at=steps, args=args,
                   progress=progress)
    t = steps * 0.01
    theory = 1.0 - np.exp(-config.a * t)  # continuous-time limit of the mean
    return xr.Dataset(
        {"x_sim": (("seed", "time", "i"), rec.values["x"]), "x_theory": ("time", theory)},
        coords={"seed": list(seeds), "time": t},
    )


def checks(ds, config):
    err = float(np.abs(ds.x_sim.mean(("seed", "i")) - ds.x_theory).max())
    return [Check.at_most("mean_vs_theory", "mean vs theory", err, 0.05,
                          "the mean relaxes exponentially")]


TOY = Study(
    name="sweep_toy",
    claim="a toy relaxation",
    paper="none",
    config=ToyConfig,
    presets={"quick": Preset(seeds=2)},
    run=run,
    figures=lambda ds, config: {},
    checks=checks,
    headline=lambda ds, config: float(ds.x_sim.isel(time=-1).mean()),
    headline_label="final x",
)
