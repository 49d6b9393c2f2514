"""Compiled training programs shared by the induction-head studies (Singh et al., ICML 2024).

:class:`InductionConfig` is the setting (data, model, optimiser, evaluations) both studies
configure; :func:`programs` builds (init, step, observe) for
:func:`learndyn.core.engine.simulate`, cached per array shape and learning rate, so that
everything else (data, label pairs, clamp flags) is data of one compiled program. Training is Adam
on few-shot sequences sampled inside the compiled loop; every evaluation records, per evaluator,
loss and accuracies, and per head the induction, prefix-matching, previous-token and copying
scores (:mod:`learndyn.induction_heads.observables`). Time is counted in sequences seen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from ..core import dataset, study
from ..core.config import Config, ConfigError, param
from ..core.engine import TrainState, gradient_step, simulate
from ..core.study import Progress
from ..transformer import Replace, init_params, preserve_from_clean, run_with_cache
from ..transformer import data as tdata
from ..transformer import model as tmodel
from . import observables
from .model import EVALUATORS, eval_sets, model_config, setting, split_arrays

__all__ = ["ATTRS", "DATA_FIELDS", "TINY", "InductionConfig", "ablations", "dataset_of",
           "describe", "programs", "run_each", "runs_grid", "stop_after_drop", "train_args",
           "train_args_padded", "train_runs", "vmap_seeds"]


@dataclass(frozen=True)
class InductionConfig(Config):
    """The induction-head setting (paper values as defaults)."""

    n_train_classes: int = param(50, "training classes (one prototype each)", ge=2)
    n_test_classes: int = param(100, "unseen test classes", ge=2)
    n_train_exemplars: int = param(1, "training exemplars per class", ge=1)
    n_heldout_exemplars: int = param(4, "held-out exemplars per class (fsl_train_valex)", ge=2)
    feature_dim: int = param(512, "exemplar feature dimension D", gt=0)
    exemplar_noise: float = param(0.3, "within-class noise eps of the synthetic exemplars", ge=0)
    feature_offset: float = param(0.0, "shared feature offset rho", ge=0)
    feature_relu: bool = param(False, "ReLU the features (non-negative, like CNN features)")
    data_seed: int = param(0, "seed of the exemplar table", ge=0)
    n_labels: int = param(5, "labels L (re-drawn per sequence; L-way output)", ge=3)
    n_heldout_pairs: int = param(2, "unordered label pairs held out for fsl_val_rl", ge=0)
    pair_seed: int = param(0, "seed of the label-pair split", ge=0)
    d_model: int = param(64, "residual width", gt=0)
    n_heads: int = param(8, "heads per layer", ge=1)
    positional: Literal["rope", "learned", "sinusoidal", "none"] = param(
        "rope", "positional scheme")
    lr: float = param(1e-5, "Adam learning rate (constant)", gt=0)
    batch: int = param(32, "sequences per step", ge=1)
    num_sequences: int = param(1_000_000, "training length in sequences seen", ge=1)
    eval_every: int = param(5000, "sequences between evaluations", ge=1)
    early_records: int = param(
        0, "extra evaluations log-spaced from step 1 to the end (resolve early drops)", ge=0)
    n_eval: int = param(1000, "sequences per evaluator", ge=2)
    n_strength: int = param(2048, "training sequences for fsl_train and the head scores", ge=2)
    eval_seed: int = param(12345, "seed of the fixed evaluation sets", ge=0)
    dtype: Literal["float32", "float64"] = param("float32", "simulation precision")

    def validate(self) -> None:
        if self.d_model % self.n_heads:
            raise ConfigError(f"config field 'n_heads': must divide d_model = {self.d_model}, "
                              f"got {self.n_heads}")
        if (self.d_model // self.n_heads) % 2 and self.positional == "rope":
            raise ConfigError("config field 'n_heads': RoPE needs an even d_head = "
                              "d_model / n_heads")
        if self.num_steps < 2 * self.eval_steps:
            raise ConfigError(f"config field 'num_sequences': at least two evaluations "
                              f"(2 x eval_every = {2 * self.eval_every}), got "
                              f"{self.num_sequences}")
        max_held = self.n_labels * (self.n_labels - 1) // 2 - (self.n_labels + 1) // 2
        if self.n_heldout_pairs > max_held:
            raise ConfigError(f"config field 'n_heldout_pairs': at most {max_held} with "
                              f"{self.n_labels} labels, got {self.n_heldout_pairs}")

    @property
    def n_labels_max(self) -> int:
        """Label vocabulary of the model (more than ``n_labels`` when settings are padded)."""
        return self.n_labels

    @property
    def num_steps(self) -> int:
        return self.num_sequences // self.batch

    @property
    def eval_steps(self) -> int:
        return max(1, round(self.eval_every / self.batch))

    @property
    def record_steps(self) -> np.ndarray:
        """Every ``eval_every`` sequences, the last step, and ``early_records`` log-spaced."""
        steps = np.arange(0, self.num_steps + 1, self.eval_steps)
        early = np.rint(np.geomspace(1, self.num_steps, self.early_records)) \
            if self.early_records else []
        return np.unique(np.concatenate([steps, [self.num_steps], early]).astype(np.int64))


#: fields that only change the data of the compiled program (the exemplar table, label pairs,
#: evaluation sets): runs differing only in these share one program. (The learning rate is a
#: constant of the program: carried as data, Adam's update rounds differently in float32 and
#: the chaotic training amplifies it into different runs.)
DATA_FIELDS = ("data_seed", "pair_seed", "eval_seed", "exemplar_noise", "feature_offset",
               "feature_relu")

#: a tiny model (D = 64, d_model 32) at lr 1e-3: its phase change comes within 64k sequences
TINY = dict(n_train_classes=50, n_test_classes=50, feature_dim=64, d_model=32, n_heads=8,
            lr=1e-3, num_sequences=64_000, eval_every=1600, n_eval=256, n_strength=1024)


def vmap_seeds() -> bool:
    """Seeds vmapped into one program on accelerators; on CPU each seed is its own call, the
    seeds in threads (a vmapped transformer step costs more than the seeds run apart)."""
    return jax.default_backend() != "cpu"


def programs(config: InductionConfig, interventions_of=None):
    """(init, step, observe) for :func:`learndyn.core.engine.simulate`, cached: configs
    differing only in :data:`DATA_FIELDS` share them (:func:`train_args` carries the data).

    ``interventions_of(args) -> interventions`` (static) makes every training step and every
    evaluation run with those interventions (the clamping study passes its clamps here).
    """
    return _programs(config.at_defaults(DATA_FIELDS), interventions_of)


def run_each(run, configs, *, seeds, progress=None) -> list[xr.Dataset]:
    """A study's ``run_batch``: ``run`` for every config in turn, through the same compiled
    program; the configs may differ only in :data:`DATA_FIELDS`."""
    return study.run_each(run, DATA_FIELDS)(configs, seeds=seeds, progress=progress)


@cache
def _programs(config: InductionConfig, interventions_of):
    mcfg = model_config(config, config.n_labels_max)
    iv = interventions_of or (lambda args: None)
    opt = optax.adam(config.lr)
    patterns = ("blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern")

    def sample(key, args):
        t = args["train"]
        split = tdata.Split(t["classes"], t["exemplars"], t["pairs"], True, t["pair_count"])
        return tdata.sample(key, args["features"], split, batch=config.batch, n_pairs=2,
                            n_labels=mcfg.n_labels)

    def loss(params, batch_and_args):
        batch, args = batch_and_args
        return tmodel.loss(params, batch, mcfg, interventions=iv(args))

    step = gradient_step(loss, opt, sample=lambda key, args: (sample(key, args), args))

    def init(key, args):
        params = init_params(key, mcfg)
        return TrainState(params, opt.init(params))

    sizes = [config.n_strength if n == "fsl_train" else config.n_eval for n in EVALUATORS]
    bounds = np.cumsum([0, *sizes])

    def observe(state, args):
        batch = args["eval"]  # every evaluator's sequences, concatenated (one traced pass)
        logits, cache = run_with_cache(state.params, batch, mcfg, names=patterns,
                                       interventions=iv(args))
        out: dict[str, list] = {}
        for i in range(len(EVALUATORS)):
            part = slice(int(bounds[i]), int(bounds[i + 1]))
            sub = {k: v[part] for k, v in batch.items()}
            for k, v in observables.metrics(logits[part, -1], sub).items():
                out.setdefault(k, []).append(v)
        train = slice(0, int(bounds[1]))
        scores = observables.head_scores([cache[p][train] for p in patterns],
                                         {k: v[train] for k, v in batch.items()})
        return {**{k: jnp.stack(v) for k, v in out.items()}, **scores,
                **observables.copying_scores(state.params, args.get("label_mask"))}

    return init, step, observe


def train_args(config: InductionConfig, **pad) -> dict:
    """Data of one setting: exemplar table, training split (as arrays), evaluation sets
    (``pad``: ``n_classes``, ``n_pairs`` of :func:`~learndyn.induction_heads.model.eval_sets`).
    """
    s = setting(config)
    sets = eval_sets(config, s, **pad)
    joined = {k: jnp.concatenate([sets[n][k] for n in EVALUATORS]) for k in sets["fsl_train"]}
    return {"features": jnp.asarray(s.table.features), "eval": joined,
            "train": split_arrays(s.splits["train"])}


def train_args_padded(config: InductionConfig, settings: list[tuple[int, int]],
                      heldout: list[int]) -> list[dict]:
    """:func:`train_args` of several data settings ((labels, training classes) each, with
    ``heldout`` label pairs), padded to common shapes so that they are data of one compiled
    program: the exemplar table with unused classes, the label pairs with a count of valid
    rows, the label vocabulary (``config.n_labels_max``) with a ``label_mask``."""
    pad = {"n_classes": max(c for _, c in settings) + config.n_test_classes,
           "n_pairs": config.n_labels_max * (config.n_labels_max - 1) // 2}
    per = [train_args(replace(config, n_labels=n_labels, n_train_classes=n_classes,
                              n_heldout_pairs=held), **pad)
           for (n_labels, n_classes), held in zip(settings, heldout)]
    n_cls = max(a["features"].shape[0] for a in per)
    n_pairs = max(a["train"]["pairs"].shape[0] for a in per)
    out = []
    for a, (n_labels, _) in zip(per, settings):
        f, t = a["features"], a["train"]
        pairs = np.asarray(t["pairs"])
        extra = np.repeat(pairs[:1], n_pairs - pairs.shape[0], 0)
        out.append(jax.tree.map(np.asarray, {
            **a,
            "features": np.pad(np.asarray(f), ((0, n_cls - f.shape[0]), (0, 0), (0, 0))),
            "train": {**t, "pairs": np.concatenate([pairs, extra])},
            "label_mask": np.arange(config.n_labels_max) < n_labels,
        }))
    return out


def train_runs(config: InductionConfig, args: list[dict], labels: list[str], *,
               interventions_of=None, seeds, n_chunks: int = 20,
               progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Train one run per entry of ``args`` (arrays of equal shapes: one compiled program) in
    turn, all seeds of a run at once; with ``config.early_stop`` a run ends once its phase
    change is well behind it (:func:`stop_after_drop`). Returns the records, each
    [run, seed, time, ...], NaN after a run's end."""
    init, step, observe = programs(config, interventions_of)
    steps = config.record_steps
    stop = stop_after_drop(config.batch) if getattr(config, "early_stop", False) else None
    values: dict[str, np.ndarray] = {}
    for r, (a, label) in enumerate(zip(args, labels)):
        rec = simulate(init, step, observe, seeds=seeds, record_at=steps,
                       args=jax.tree.map(jnp.asarray, a), progress=progress, n_chunks=n_chunks,
                       label=label, stop_when=stop, vmap_seeds=vmap_seeds())
        for k, v in rec.values.items():
            if k not in values:
                values[k] = np.full((len(args), v.shape[0], len(steps), *v.shape[2:]), np.nan)
            values[k][r, :, :len(rec.steps)] = v
    return values


def stop_after_drop(batch: int):
    """``stop_when`` of :func:`~learndyn.core.engine.simulate`: every seed is past its phase
    change (training loss < 0.4 ln 2) and has trained at least half as long again."""
    def stop(steps, values):
        times = steps * batch
        pct = [observables.phase_change_time(times, c) for c in values["loss"][:, :, 0]]
        return bool(np.all(np.isfinite(pct)) and times[-1] >= 1.5 * max(pct))
    return stop


@cache
def _ablation_program(config: InductionConfig):
    """Accuracy on ``fsl_train`` under layer-2 value masks [M, head] (vmapped), and the
    layer-1 direct-path ablation."""
    mcfg = model_config(config)
    keep_qkv = [f"blocks.1.attn.hook_{n}" for n in "qkv"]
    direct = preserve_from_clean(
        keep_qkv, {"blocks.0.hook_attn_out": Replace(jnp.zeros((1, 1)))})

    def acc(params, batch, interventions):
        logits = tmodel.forward(params, batch, mcfg, interventions=interventions)[:, -1]
        return jnp.mean(jnp.argmax(logits, -1) == batch["target"])

    def masked(params, batch, masks):
        def one(mask):
            zero = {"blocks.1.attn.hook_v": Replace(jnp.zeros((1, 1, 1)), mask[None, :, None])}
            return acc(params, batch, zero)
        return jax.vmap(one)(masks)

    @jax.jit
    def run(params, batch, masks):
        per_seed = jax.vmap(lambda p: (masked(p, batch, masks), acc(p, batch, direct)))
        return per_seed(params)

    return run


def ablations(config: InductionConfig, params, batch) -> dict[str, np.ndarray]:
    """``clean``, ``ablation`` [seed, head] (one head removed), ``only_head`` [seed, head] and
    ``l1_direct`` accuracies on ``batch`` for parameters with a leading seed axis."""
    h = config.n_heads
    eye = np.eye(h, dtype=bool)
    masks = jnp.asarray(np.concatenate([np.zeros((1, h), bool), eye, ~eye]))
    acc, direct = _ablation_program(config.at_defaults(DATA_FIELDS))(params, batch, masks)
    acc = np.asarray(acc, dtype=np.float64)
    return {"clean": acc[:, 0], "ablation": acc[:, 1:h + 1], "only_head": acc[:, h + 1:],
            "l1_direct": np.asarray(direct, dtype=np.float64)}


def dataset_of(config: InductionConfig, values: dict, steps: np.ndarray, seeds: list[int],
               abl: dict | None = None, *, lead: tuple[str, ...] = ()) -> xr.Dataset:
    """The recorded observables as a Dataset (``lead`` names extra leading dims, e.g. a run),
    with the phase-change time and plateau duration of every training-loss curve."""
    v = {k: np.asarray(x, dtype=np.float64) for k, x in values.items()}
    st = (*lead, "seed", "time")
    data = {f"{k}_sim": ((*st, "evaluator"), v[k])
            for k in ("loss", "accuracy", "in_context_accuracy", "p_in_context")}
    data.update({
        "induction_strength_sim": ((*st, "head"), v["induction_strength"]),
        "prefix_matching_sim": ((*st, "layer", "head"), v["prefix_matching"]),
        "prev_token_score_sim": ((*st, "head"), v["prev_token_score"]),
        "prev_token_all_sim": ((*st, "head"), v["prev_token_all"]),
        "copying_score_sim": ((*st, "layer", "head"), v["copying_score"]),
        "copying_prob_sim": ((*st, "layer", "head"), v["copying_prob"]),
    })
    times = steps * config.batch
    train = v["loss"][..., 0]  # [..., seed, time]
    flat = train.reshape(-1, train.shape[-1])
    pct = np.array([observables.phase_change_time(times, c) for c in flat])
    plat = np.array([observables.plateau_duration(times, c) for c in flat])
    data["phase_change_time_sim"] = ((*lead, "seed"), pct.reshape(train.shape[:-1]))
    data["plateau_duration_sim"] = ((*lead, "seed"), plat.reshape(train.shape[:-1]))
    if abl is not None:
        data["clean_accuracy_sim"] = (("seed",), abl["clean"])
        data["ablation_accuracy_sim"] = (("seed", "head"), abl["ablation"])
        data["only_head_accuracy_sim"] = (("seed", "head"), abl["only_head"])
        data["l1_direct_ablation_accuracy_sim"] = (("seed",), abl["l1_direct"])
    return xr.Dataset(data, coords={
        "seed": seeds, "time": times, "step": ("time", steps), "evaluator": list(EVALUATORS),
        "layer": [1, 2], "head": np.arange(config.n_heads)})


def runs_grid(flat: xr.Dataset, settings: list[tuple[int, int]], conditions: list[str],
              runs: list[tuple[int, str]]) -> xr.Dataset:
    """A dataset with a leading ``run`` dim (the (setting index, condition) of ``runs``) as a
    (setting, condition) grid; conditions not run in a setting are NaN."""
    data = {}
    for name, var in flat.data_vars.items():
        grid = np.full((len(settings), len(conditions), *var.shape[1:]), np.nan)
        for r, (i, c) in enumerate(runs):
            grid[i, conditions.index(c)] = var.values[r]
        data[name] = (("setting", "condition", *var.dims[1:]), grid)
    ds = xr.Dataset(data, coords={k: v for k, v in flat.coords.items() if "run" not in v.dims})
    return ds.assign_coords(
        setting=[f"{n} labels, {c} classes" for n, c in settings], condition=list(conditions),
        n_labels=("setting", [n for n, _ in settings]),
        n_classes=("setting", [c for _, c in settings]))


#: long_name and units of the variables and coordinates of the induction-head datasets
ATTRS: dict[str, tuple[str, str]] = {
    "time": ("training sequences seen (the paper's iterations)", "sequences"),
    "step": ("optimiser steps (batch of sequences each)", "steps"),
    "seed": ("simulation seed (initialisation and training data)", ""),
    "evaluator": ("evaluation set: fsl_train = training sequences, fsl_val_rl = held-out label "
                  "pairs, fsl_train_valex = held-out exemplars, fsl_test_class = unseen "
                  "classes", ""),
    "layer": ("layer (paper numbering: layer l is blocks.{l-1} in hook names)", ""),
    "head": ("attention head", ""),
    "setting": ("data setting (labels, training classes)", ""),
    "condition": ("clamp condition (none: unclamped)", ""),
    "n_labels": ("number of labels L", ""),
    "n_classes": ("number of training classes", ""),
    "loss": ("cross-entropy at the query", "nats"),
    "accuracy": ("accuracy at the query (argmax over all labels)", ""),
    "in_context_accuracy": ("accuracy at the query, argmax over the in-context labels", ""),
    "p_in_context": ("probability mass on the in-context labels", ""),
    "induction_strength": ("layer-2 attention query -> correct label minus query -> other "
                           "label", ""),
    "prefix_matching": ("attention from the query to the correct label token", ""),
    "prev_token_score": ("layer-1 attention from each label to its exemplar "
                         "(previous-token score)", ""),
    "prev_token_all": ("layer-1 attention from each position to the previous one", ""),
    "copying_score": ("fraction of labels whose own logit is largest through the head's OV "
                      "circuit (LayerNorm statistics ignored)", ""),
    "copying_prob": ("mean softmax probability of the own label through the head's OV "
                     "circuit", ""),
    "phase_change_time": ("sequences until the training loss first falls below 0.4 ln 2",
                          "sequences"),
    "plateau_duration": ("longest stretch with training loss within ln 2 +/- 0.1",
                         "sequences"),
    "clean_accuracy": ("final training accuracy, all heads", ""),
    "ablation_accuracy": ("final training accuracy with this layer-2 head removed", ""),
    "only_head_accuracy": ("final training accuracy with only this layer-2 head", ""),
    "l1_direct_ablation_accuracy": ("final training accuracy without layer 1's direct path "
                                    "(layer-2 queries, keys, values from a clean pass)", ""),
}


def describe(ds: xr.Dataset) -> xr.Dataset:
    """Give every variable and coordinate its ``long_name`` (and ``units`` where it has one)
    from :data:`ATTRS` (``<q>_sim`` takes the entry of ``q``)."""
    return dataset.label(ds, ATTRS)
