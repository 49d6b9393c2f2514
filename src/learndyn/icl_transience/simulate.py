"""Training the coopetition transformer through :func:`learndyn.core.engine.simulate`, several
L2 coefficients side by side, in checkpointed segments (Singh et al., ICML 2025).

One program trains, for every seed, one model per L2 coefficient ``lam`` (a leading axis of
the state, all from the same initial parameters and on the same batches: common random
numbers), samples each step's batch inside the compiled loop and evaluates every evaluator at
the records. Seeds are vmapped on accelerators and run in threads on a CPU.

Long runs are cut into segments of ``checkpoint_every`` sequences; after each segment the state
and the records so far are written atomically to a checkpoint file, and a run started again with
the same config and seeds continues from the last complete segment (the file is removed when
the run completes). Each segment's batches come
from the step key folded with the segment index (a segmented run draws other, equally
distributed batches than an unsegmented one). :func:`train_variants` trains every L2
coefficient (and the matched variant) and returns the labelled ``xarray.Dataset``.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core import store
from ..core.engine import TrainState, run_keys, simulate
from ..core.study import Progress
from ..transformer import data as tdata
from ..transformer import init_params
from . import data, model, observables

__all__ = ["DATA_FIELDS", "programs", "record_steps", "train", "train_args", "train_variants"]


def record_steps(config: Any) -> np.ndarray:
    """Every ``eval_every`` sequences (rounded to steps) and the last step."""
    steps = config.num_sequences // config.batch
    every = max(1, round(config.eval_every / config.batch))
    return np.unique(np.concatenate([np.arange(0, steps + 1, every), [steps]])).astype(np.int64)


#: fields that only change the data of the compiled program (the exemplar table and the
#: evaluation sets, carried in ``args``): runs differing only in these share one program. (The
#: learning rate stays a constant of the program, as in :mod:`learndyn.induction_heads`: carried
#: as data it rounds Adam's float32 update differently, which training amplifies.)
DATA_FIELDS = ("data_seed", "eval_seed", "exemplar_noise")


def programs(config: Any, match_query: bool, resume: bool):
    """(init, step, observe) for the engine, cached: configs differing only in
    :data:`DATA_FIELDS` share them. ``args``: ``features``, ``lam`` [L], ``eval`` (the
    concatenated evaluator sets), ``segment`` and, when ``resume``, ``resume_keys`` and
    ``resume_state``."""
    return _programs(config.at_defaults(DATA_FIELDS), match_query, resume)


@cache
def _programs(config: Any, match_query: bool, resume: bool):
    mcfg = model.model_config(config)
    fmt = data.train_format(config)._replace(match_query=match_query)
    pen = dict(form=config.l2_form, scope=config.l2_scope, coupling=config.l2_coupling)
    sizes = [config.n_eval] * len(config.evaluators)
    bounds = tuple(int(x) for x in np.cumsum([0, *sizes]))

    def opt(lam):
        return model.optimizer(config.lr, lam=lam, **pen)

    def init(key, args):
        if resume:  # this seed's row of the saved state, found by its init key
            rows = jnp.all(jax.random.key_data(key)[None] == args["resume_keys"], axis=-1)
            return jax.tree.map(lambda x: x[jnp.argmax(rows)], args["resume_state"])
        params = init_params(key, mcfg)
        one = TrainState(params, opt(0.0).init(params))
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (len(args["lam"]), *x.shape)), one)

    def step(state, key, t, args):
        key = jax.random.fold_in(key, args["segment"])
        batch = tdata.sample_bursty(key, args["features"], fmt, classes=(0, config.n_classes),
                                    exemplars=(0, config.n_exemplars), batch=config.batch,
                                    n_labels=config.labels)

        def one(s, lam):
            grads = jax.grad(model.objective)(s.params, batch, mcfg, lam=lam, **pen)
            updates, opt_state = opt(lam).update(grads, s.opt_state, s.params)
            return TrainState(jax.tree.map(jnp.add, s.params, updates), opt_state)

        return jax.vmap(one)(state, args["lam"])

    def observe(state, args):
        return jax.vmap(lambda p: observables.evaluate(p, args["eval"], mcfg, bounds))(
            state.params)

    return init, step, observe


def _checkpoint_path(config: Any, seeds, match_query: bool) -> Path:
    blob = json.dumps({"config": config.to_dict(), "seeds": list(seeds),
                       "match_query": match_query}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return store.home() / "checkpoints" / f"icl_transience-{key}.npz"


def _save(path: Path, state, values: dict, segment: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    leaves = {f"state_{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
    vals = {f"value_{k}": v for k, v in values.items()}

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, segment=segment, **leaves, **vals)

    store.atomic_write(path, write)


def _load(path: Path, template) -> tuple[Any, dict, int] | None:
    if not path.exists():
        return None
    with np.load(path) as f:
        leaves = [f[f"state_{i}"] for i in range(len(jax.tree.leaves(template)))]
        values = {k[len("value_"):]: f[k] for k in f.files if k.startswith("value_")}
        segment = int(f["segment"])
    return jax.tree.unflatten(jax.tree.structure(template), leaves), values, segment


def train_args(config: Any) -> dict:
    """The constants of a run: exemplar table, L2 coefficients and the evaluator sets."""
    s = data.setting(config)
    sets = data.eval_sets(config, s, config.evaluators)
    return {"features": jnp.asarray(s.features), "lam": jnp.asarray(config.l2, config.dtype),
            "eval": {k: jnp.concatenate([sets[n][k] for n in config.evaluators])
                     for k in ("exemplars", "labels", "target")}, "segment": jnp.int32(0)}


def train(config: Any, seeds, *, match_query: bool, progress: Progress | None = None
          ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Train every seed and L2 coefficient; returns the record steps and
    ``{metric: [seed, time, lam, evaluator]}``."""
    base = train_args(config)
    record_at = record_steps(config)
    every = (max(1, config.checkpoint_every // config.batch) if config.checkpoint_every
             else int(record_at[-1]))
    edges = sorted({0, *[int(r) for r in record_at if r % every == 0], int(record_at[-1])})
    path = _checkpoint_path(config, seeds, match_query) if config.checkpoint_every else None
    _, _, init_keys, _ = run_keys(record_at, seeds)
    state, values, start = None, {}, 0
    if path is not None:
        init, _, _ = programs(config, match_query, False)
        template = jax.eval_shape(jax.vmap(lambda k: init(k, base)), init_keys)
        loaded = _load(path, template)
        if loaded is not None:
            state, values, start = loaded
    for segment in range(start, len(edges) - 1):
        lo, hi = edges[segment], edges[segment + 1]
        local = np.concatenate([[0], record_at[(record_at > lo) & (record_at <= hi)] - lo])
        args = {**base, "segment": jnp.int32(segment)}
        if state is not None:
            args.update(resume_keys=jax.random.key_data(init_keys),
                        resume_state=jax.tree.map(jnp.asarray, state))

        def seg_progress(done, total, label, lo=lo):
            if progress is not None:
                progress(lo + done, int(record_at[-1]), label)

        init, step, observe = programs(config, match_query, state is not None)
        rec = simulate(init, step, observe, seeds=seeds, record_at=local, args=args,
                       progress=seg_progress, label="matched" if match_query else "training",
                       vmap_seeds=jax.default_backend() != "cpu")
        new = {k: np.asarray(v, np.float64)[:, (0 if segment == 0 else 1):]
               for k, v in rec.values.items()}
        values = new if not values else {k: np.concatenate([values[k], new[k]], 1)
                                         for k in values}
        state = jax.tree.map(np.asarray, rec.final)
        if path is not None and segment + 2 < len(edges):
            _save(path, state, values, segment + 1)
    if path is not None and path.exists():
        path.unlink()  # the finished run is stored by the caller
    return record_at, values


def train_variants(config: Any, seeds, progress: Progress | None = None) -> xr.Dataset:
    """Train every L2 coefficient of ``config.l2`` (and with ``config.matched`` the first one
    again with matched queries) on every seed: the metrics ``{ce, accuracy,
    in_context_accuracy}_sim`` (variant, seed, time, evaluator) and, with the ``icl``
    evaluator, its summaries (:func:`.observables.summaries`) per variant and seed."""
    steps, values = train(config, seeds, match_query=config.match_query, progress=progress)
    names = [f"lambda={lam:g}" for lam in config.l2]
    lams, matched = list(config.l2), [config.match_query] * len(config.l2)
    if config.matched:
        first = config.replace(l2=config.l2[:1])
        _, more = train(first, seeds, match_query=True, progress=progress)
        values = {k: np.concatenate([values[k], more[k]], 2) for k in values}
        names, lams, matched = names + ["matched"], lams + [config.l2[0]], matched + [True]
    dims = ("variant", "seed", "time", "evaluator")
    long = {"ce": "cross-entropy at the query", "accuracy": "full-vocabulary accuracy",
            "in_context_accuracy": "accuracy among the in-context labels"}
    ds = xr.Dataset({f"{k}_sim": (dims, np.moveaxis(values[k], 2, 0), {"long_name": long[k]})
                     for k in observables.METRICS}, coords={
        "variant": ("variant", names, {"long_name": "L2 coefficient or variant"}),
        "lam": ("variant", lams, {"long_name": "$\\lambda$"}),
        "match_query": ("variant", matched, {"long_name": "query repeats its exemplar"}),
        "seed": ("seed", list(seeds), {"long_name": "seed"}),
        "time": ("time", steps * config.batch, {"long_name": "sequences seen",
                                                "units": "sequences"}),
        "step": ("time", steps, {"long_name": "training steps", "units": "steps"}),
        "evaluator": ("evaluator", list(config.evaluators), {"long_name": "evaluator"})})
    if "icl" in config.evaluators:
        icl = ds.in_context_accuracy_sim.sel(evaluator="icl")
        for k, v in observables.summaries(ds.time.values, icl.values).items():
            ds[f"{k}_sim"] = (("variant", "seed"), v, {"long_name": k.replace("_", " "),
                                                      **({"units": "sequences"}
                                                         if k.endswith("time") else {})})
    ds.attrs.update(l2_form=config.l2_form, l2_scope=config.l2_scope,
                    l2_coupling=config.l2_coupling)
    return ds
