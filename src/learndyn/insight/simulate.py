"""Batches of insight networks: the shared config, the compiled trial loop and its analysis.

A batch (one engine seed) holds ``n_networks`` test networks and ``pool_factor x n_networks``
control networks (colour never predictive). Control ``i < n_networks`` is test network ``i``'s
twin: same motion means, trial sequence and noise draws, so the pair differs only in what colour
says from colour onset on. Networks are vmapped inside a batch and batches are vmapped by the
engine; trials are the engine's steps (Löwe et al., PLOS Comp Biol 2024; see
:mod:`learndyn.insight.model` and :mod:`learndyn.insight.data` for the equations).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import Config, ConfigError, param
from ..core.engine import simulate
from ..core.study import Progress
from . import data, model, observables

__all__ = ["BATCH_FIELDS", "PAPER_VARIANT", "Batches", "InsightConfig", "SweepConfig",
           "motion_table", "simulate_batches"]

#: the field values of the paper-text variant (the defaults are the authors' code)
PAPER_VARIANT = {"rule": "paper", "targets": "plus_minus", "colour_before": "random_sign",
                 "pretrain_blocks": 6}
_CODE_VARIANT = {"rule": "code", "targets": "zero_one", "colour_before": "zero",
                 "pretrain_blocks": 8}

#: fields that keep every array shape: the compiled trial loop takes them as traced arguments
#: (strengths, noise SDs and the update rule as numbers), so a sweep over them compiles once
BATCH_FIELDS = ("alpha", "lam", "sigma_xi", "sigma_eta", "init", "hidden_init", "rule",
                "regulariser", "gates", "noise_on")


@dataclass(frozen=True)
class InsightConfig(Config):
    """Fields shared by the insight studies (task, network, batches, criterion)."""

    # task
    pretrain_blocks: int = param(8, "pre-training blocks of 100 trials (code 8, paper text 6)",
                                 ge=0)
    targets: Literal["zero_one", "plus_minus"] = param(
        "zero_one", "targets y: 0/1 (authors' code) or -1/+1 (paper equations)")
    colour_before: Literal["zero", "random_sign"] = param(
        "zero", "non-predictive colour: mean 0 (code) or +-mu_c at random (paper text)")
    instructed_block: bool = param(False, "add one instructed block (gates frozen) at the end")
    coherences: tuple[float, ...] = param(
        data.COHERENCES, "the five coherence levels (fractions, hardest first)", ge=0, le=1)
    motion_means: Literal["synthetic", "homogeneous"] = param(
        "synthetic", "per-network motion means: synthetic draws or the published column means")
    motion_means_file: str = param(
        "", "CSV of n_networks x 5 motion means (one row per network); overrides motion_means")
    mu_c: float = param(0.22, "colour input mean once predictive", gt=0)
    sigma_m: float = param(0.1, "motion input noise SD", ge=0)
    sigma_c: float = param(0.01, "colour input noise SD", ge=0)
    # network and update rule
    rule: Literal["code", "paper"] = param("code", "update rule: authors' code or paper text")
    alpha: float = param(0.6, "learning rate alpha", gt=0)
    lam: float = param(0.07, "L1 strength lambda on the gates", ge=0)
    sigma_xi: float = param(0.05, "update-noise SD sigma_xi", ge=0)
    sigma_eta: float = param(0.3, "output-noise SD sigma_eta", ge=0)
    init: float = param(0.01, "initial value of every weight and gate")
    regulariser: Literal["l1", "l2", "none"] = param("l1", "gate regulariser")
    gates: Literal["learned", "fixed"] = param("learned", "fixed: g_m = g_c = 1, not learned")
    noise_on: Literal["all", "gates", "weights"] = param("all", "parameters receiving noise")
    architecture: Literal["gated", "hidden"] = param(
        "gated", "gated: the paper's 4 scalars; hidden: gated inputs -> linear hidden layer")
    hidden_width: int = param(8, "hidden variant: width of the hidden layer", gt=0)
    hidden_init: float = param(0.5, "hidden variant: SD of the initial hidden weights", gt=0)
    # batches and criterion
    n_networks: int = param(99, "test networks per batch (as many paired controls)", gt=2)
    pool_factor: int = param(5, "control pool for control_quantile: pool_factor x n_networks",
                             ge=1)
    fits: tuple[str, ...] = param(observables.FITS, "sigmoid fits (first: default)",
                                  choices=observables.FITS)
    thresholds: tuple[str, ...] = param(observables.THRESHOLDS,
                                        "insight thresholds (first: default)",
                                        choices=observables.THRESHOLDS)
    scores: tuple[str, ...] = param(observables.SCORES, "classification scores (first: default)",
                                    choices=observables.SCORES)
    quantile: float = param(0.99, "control_quantile: quantile q of the control pool", gt=0, lt=1)
    n_bootstrap: int = param(1000, "bootstrap resamples of the controls per batch", ge=10)
    record_every: int = param(10, "pre-training: record the parameters every this many trials",
                              ge=1)
    dtype: Literal["float64", "float32"] = param("float64", "simulation precision")

    def validate(self) -> None:
        if len(self.coherences) != len(data.COHERENCES):
            raise ConfigError(f"config field 'coherences': need {len(data.COHERENCES)} levels, "
                              f"got {len(self.coherences)}")
        for name in ("fits", "thresholds", "scores"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise ConfigError(f"config field '{name}': must be distinct and non-empty")

    @property
    def variant(self) -> str:
        """``code`` or ``paper`` when the four switches match one variant, else ``mixed``."""
        values = {k: getattr(self, k) for k in _CODE_VARIANT}
        if values == _CODE_VARIANT:
            return "code"
        return "paper" if values == PAPER_VARIANT else "mixed"

    @property
    def task(self) -> data.Task:
        return data.Task(pretrain_blocks=self.pretrain_blocks,
                         instructed_block=self.instructed_block, mu_c=self.mu_c,
                         sigma_m=self.sigma_m, sigma_c=self.sigma_c,
                         plus_minus=self.targets == "plus_minus",
                         random_sign_colour=self.colour_before == "random_sign")

    @property
    def network(self) -> model.Network:
        return model.Network(architecture=self.architecture, hidden_width=self.hidden_width)

    @property
    def update_rule(self) -> model.Rule:
        return model.make_rule(self.rule, alpha=self.alpha, lam=self.lam,
                               regulariser=self.regulariser, gates=self.gates,
                               noise_on=self.noise_on)

    @property
    def means_label(self) -> str:
        """Where the motion means came from (for attrs, titles and check names)."""
        return f"file {self.motion_means_file}" if self.motion_means_file else self.motion_means


@dataclass(frozen=True)
class SweepConfig(InsightConfig):
    """:class:`InsightConfig` for sweeps: the default criterion only and no extra control pool
    (the per-value cost is then one lowe fit per network)."""

    fits: tuple[str, ...] = param(("lowe",), "sigmoid fits (first: default)",
                                  choices=observables.FITS)
    thresholds: tuple[str, ...] = param(("max_control",), "insight thresholds (first: default)",
                                        choices=observables.THRESHOLDS)
    scores: tuple[str, ...] = param(("steepness_minus_sse",),
                                    "classification scores (first: default)",
                                    choices=observables.SCORES)
    pool_factor: int = param(1, "control pool for control_quantile: pool_factor x n_networks",
                             ge=1)


def motion_table(config: InsightConfig) -> np.ndarray | None:
    """The motion-means table (rows cycle over networks), or None for synthetic draws.

    Raises:
        ConfigError: naming ``motion_means_file`` when that file is missing or malformed."""
    if config.motion_means_file:
        return data.load_motion_means(config.motion_means_file, config.n_networks)
    if config.motion_means == "homogeneous":
        return np.asarray([data.MEAN_MEAN], float)
    return None


@cache
def _program(net: model.Network, task: data.Task, synthetic: bool, dtype: str, n_streams: int):
    """(init, step, observe) for the engine; cached, so one compiled program per shape."""
    dt = jnp.dtype(dtype)
    onset, T = task.onset, task.n_trials
    freeze_from = task.n_pretrain + task.n_main
    threshold = 0.0 if task.plus_minus else 0.5

    def init(key, args):
        # one draw of each kind for every stream; a test network and its paired control
        # (same stream) share them
        key = jax.random.fold_in(key, args["point"])
        k_seq, k_mu, k_par = jax.random.split(key, 3)
        stream = args["stream"]
        level, label = data.trial_sequence(k_seq, task, n_streams)
        if synthetic:
            mu_m = data.synthetic_motion_means(k_mu, n_streams, dt)[stream]
        else:
            table = args["table"].astype(dt)
            mu_m = table[stream % table.shape[0]]
        z = jax.random.normal(k_par, (n_streams, 3 * net.hidden_width), dt)[stream]
        gate_init = jnp.where(args["rule"].fixed > 0, 1.0, args["init"])
        params = jax.vmap(lambda zi: model.init_params(zi, net, args["init"],
                                                       args["hidden_init"], gate_init, dt))(z)
        n = stream.shape[0]
        return {"p": params, "level": level[stream], "label": label[stream], "mu_m": mu_m,
                "t": jnp.zeros((), jnp.int32), "correct": jnp.zeros((n,), bool),
                "grad_gc": jnp.zeros((n,), dt), "diverged": jnp.zeros((n,), bool)}

    def trial(p, z, level, label, mu_m, predictive, diverged, freeze, args):
        x_m, x_c, y = data.sample_inputs(z[:3], task, level, label, mu_m, predictive)
        eta = args["sigma_eta"].astype(dt) * z[3]
        x = jnp.stack([x_m, x_c])
        correct = (model.output(p, x, eta) > threshold) == (label == 1)
        grads = model.data_grads(p, x, y, eta)
        leaves, tree = jax.tree.flatten(p)
        sizes = np.cumsum([leaf.size for leaf in leaves])[:-1]
        noise = [args["sigma_xi"].astype(dt) * part.reshape(leaf.shape)
                 for part, leaf in zip(jnp.split(z[4:], sizes), leaves)]
        new = model.update(p, grads, jax.tree.unflatten(tree, noise), args["rule"],
                           freeze_gates=freeze)
        bad = ~model.tree_ok(new) | diverged
        new = jax.tree.map(lambda a, b: jnp.where(bad, b, a), new, p)
        return new, correct, grads["g"][1], bad

    def step(state, key, t, args):
        # one draw per trial: 4 input/output normals + one per parameter, for every stream;
        # a test network and its paired control (same stream) share them
        n_par = sum(leaf[0].size for leaf in jax.tree.leaves(state["p"]))
        z = jax.random.normal(jax.random.fold_in(key, args["point"]), (n_streams, 4 + n_par),
                              dt)[args["stream"]]
        predictive = args["test"] & (t >= onset)
        lv, lb = state["level"][:, t], state["label"][:, t]
        p, correct, grad_gc, bad = jax.vmap(
            trial, in_axes=(0, 0, 0, 0, 0, 0, 0, None, None))(
            state["p"], z, lv, lb, state["mu_m"], predictive,
            state["diverged"], t >= freeze_from, args)
        return {**state, "p": p, "t": state["t"] + 1, "correct": correct, "grad_gc": grad_gc,
                "diverged": bad}

    def observe(state, args):
        t = state["t"]
        idx = jnp.minimum(t, T - 1)
        predictive = args["test"] & (t >= onset)
        level = state["level"][:, idx]

        def one(p, mu_m, lv, pred):
            w, g = model.effective(p)
            random_sign = ~pred & task.random_sign_colour
            mu_c = jnp.where(pred | random_sign, task.mu_c, 0.0).astype(dt)
            kw = dict(sigma_m=task.sigma_m, sigma_c=task.sigma_c,
                      sigma_eta=args["sigma_eta"].astype(dt), random_sign=random_sign)
            return (model.accuracy(w, g, mu_m[lv], mu_c, **kw),
                    model.accuracy(w, g, mu_m[0], mu_c, **kw),
                    jnp.stack([w[0], g[0], w[1], g[1]]))

        acc, hard, params = jax.vmap(one)(state["p"], state["mu_m"], level, predictive)
        return {"acc": acc, "hard_acc": hard, "params": params, "correct": state["correct"],
                "grad_gc": state["grad_gc"], "diverged": state["diverged"]}

    return init, step, observe


@dataclass
class Batches:
    """Simulated batches; arrays have leading axes (seed, network) over all networks (tests
    first, then the control pool); trial-level arrays cover the trials from the end of
    pre-training on (``trial`` index 0 = first motion-phase trial)."""

    seeds: list[int]
    is_test: np.ndarray  # (net,)
    stream: np.ndarray  # (net,) network index within its group
    levels: np.ndarray  # (seed, net, all trials)
    mu_m: np.ndarray  # (seed, net, 5)
    acc: np.ndarray  # (seed, net, trial): analytic accuracy before the update
    hard_acc: np.ndarray  # (seed, net, trial): the same at the hardest level
    params: np.ndarray  # (seed, net, trial + 1, 4): (w_m, g_m, w_c, g_c) before each trial
    correct: np.ndarray  # (seed, net, trial): sampled choice correct
    grad_gc: np.ndarray  # (seed, net, trial): dL_data/dg_c of the trial
    coarse_steps: np.ndarray  # (time,): trials at which ``coarse_params`` is recorded
    coarse_params: np.ndarray  # (seed, net, time, 4)
    diverged: np.ndarray  # (seed, net)


def simulate_batches(config: InsightConfig, seeds, *, point: int = 0,
                     progress: Progress | None = None, label: str = "") -> Batches:
    """Simulate ``len(seeds)`` batches of ``config`` (``point`` picks independent networks, e.g.
    one per sweep value)."""
    task = config.task
    table = motion_table(config)
    n, n_ctrl = config.n_networks, config.n_networks * config.pool_factor
    is_test = np.concatenate([np.ones(n, bool), np.zeros(n_ctrl, bool)])
    stream = np.concatenate([np.arange(n), np.arange(n_ctrl)]).astype(np.int32)
    dt = jnp.dtype(config.dtype)
    args = {"sigma_xi": config.sigma_xi, "sigma_eta": config.sigma_eta, "init": config.init,
            "hidden_init": config.hidden_init}
    args = {k: jnp.asarray(v, dt) for k, v in args.items()}
    args["rule"] = model.Rule(*(jnp.asarray(v, dt) for v in config.update_rule))
    args.update(stream=jnp.asarray(stream), test=jnp.asarray(is_test),
                point=jnp.asarray(point, jnp.int32),
                table=jnp.asarray(np.zeros((1, 5)) if table is None else table, dt))
    init, step, observe = _program(config.network, task, table is None, config.dtype,
                                   max(n, n_ctrl))
    n_pre, T = task.n_pretrain, task.n_trials
    record_at = np.unique(np.concatenate([np.arange(0, n_pre, config.record_every),
                                          np.arange(n_pre, T + 1)])).astype(np.int64)
    rec = simulate(init, step, observe, seeds=seeds, record_at=record_at, args=args,
                   progress=progress, label=label or f"{len(seeds)} batches")
    v = {k: np.moveaxis(np.asarray(x), 1, 2) for k, x in rec.values.items()}  # (seed, net, rec)
    i0 = int(np.searchsorted(record_at, n_pre))
    coarse = (record_at % config.record_every == 0) | (record_at == T)
    return Batches(
        seeds=list(seeds), is_test=is_test, stream=stream,
        levels=np.asarray(rec.final["level"]), mu_m=np.asarray(rec.final["mu_m"]),
        acc=v["acc"][:, :, i0:-1], hard_acc=v["hard_acc"][:, :, i0:-1],
        params=v["params"][:, :, i0:], correct=v["correct"][:, :, i0 + 1:],
        grad_gc=v["grad_gc"][:, :, i0 + 1:], coarse_steps=record_at[coarse],
        coarse_params=v["params"][:, :, coarse], diverged=v["diverged"][:, :, -1])
