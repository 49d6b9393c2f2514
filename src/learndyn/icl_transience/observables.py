"""What is measured on the evaluators, and the transience summaries (Singh et al., NeurIPS 2023).

Per sequence (query logits over the K labels): cross-entropy of the target, full-vocabulary
correctness (argmax = target) and in-context correctness (argmax over the labels present in
the context = target). Evaluator values are means over its fixed set.

Summaries of an ICL-accuracy curve ``icl_acc(t)``: ``icl_peak`` (its maximum), ``icl_peak_time``
(where), ``icl_final`` (last value) and ``transience = icl_peak - icl_final``; ``emergence_time``
is the first time it reaches a level (inf if never).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..transformer import TransformerConfig
from ..transformer import model as tmodel
from .data import PRIMARY

__all__ = ["METRICS", "emergence_time", "evaluate", "primary", "sequence_metrics", "summaries"]

METRICS = ("ce", "accuracy", "in_context_accuracy")


def sequence_metrics(logits: jax.Array, batch: dict) -> dict[str, jax.Array]:
    """``ce``, ``accuracy`` and ``in_context_accuracy`` of query logits [B, K], per sequence."""
    target, labels = batch["target"], batch["labels"]
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    ce = -jnp.take_along_axis(logp, target[:, None], axis=-1)[:, 0]
    in_ctx = jnp.take_along_axis(logits, labels, axis=-1)  # [B, N]: logits of context labels
    pick = jnp.take_along_axis(labels, jnp.argmax(in_ctx, -1)[:, None], axis=-1)[:, 0]
    return {"ce": ce, "accuracy": (jnp.argmax(logits, -1) == target).astype(jnp.float32),
            "in_context_accuracy": (pick == target).astype(jnp.float32)}


def evaluate(params: dict, batch: dict, cfg: TransformerConfig, bounds: tuple[int, ...], *,
             chunk: int = 1024) -> dict[str, jax.Array]:
    """Per-evaluator means ``{metric: [evaluator]}`` over one concatenated batch whose
    evaluator ``i`` is rows ``bounds[i]:bounds[i+1]`` (static); sequences go through the model
    ``chunk`` at a time (bounded memory for large label sets)."""
    total = bounds[-1]
    chunk = min(chunk, total)
    n_chunks = -(-total // chunk)
    pad = n_chunks * chunk - total
    keys = ("exemplars", "labels", "target")
    padded = {k: jnp.concatenate([batch[k], jnp.repeat(batch[k][:1], pad, 0)])
              .reshape(n_chunks, chunk, *batch[k].shape[1:]) for k in keys}

    def one(part):
        logits = tmodel.forward(params, part, cfg)[:, -1]
        return sequence_metrics(logits, part)

    per_seq = jax.lax.map(one, padded)
    out = {}
    for name in METRICS:
        flat = per_seq[name].reshape(-1)[:total]
        out[name] = jnp.stack([flat[bounds[i]:bounds[i + 1]].mean()
                               for i in range(len(bounds) - 1)])
    return out


def emergence_time(times: np.ndarray, curve: np.ndarray, level: float) -> np.ndarray:
    """First time ``curve[..., t] >= level`` (inf where never)."""
    curve = np.asarray(curve)
    hit = curve >= level
    return np.where(hit.any(-1), np.asarray(times)[np.argmax(hit, -1)], np.inf)


def summaries(times: np.ndarray, icl_acc: np.ndarray) -> dict[str, np.ndarray]:
    """``icl_peak``, ``icl_peak_time``, ``icl_final`` and ``transience`` of curves
    ``[..., time]``."""
    icl_acc = np.asarray(icl_acc, np.float64)
    peak = icl_acc.max(-1)
    return {"icl_peak": peak, "icl_peak_time": np.asarray(times)[icl_acc.argmax(-1)]
            .astype(np.float64), "icl_final": icl_acc[..., -1],
            "transience": peak - icl_acc[..., -1]}


def primary(ds: xr.Dataset, evaluator: str) -> xr.DataArray:
    """The accuracy that reads ``evaluator`` (in-context or full-vocabulary) in a dataset of
    :func:`learndyn.icl_transience.simulate.train_variants`."""
    return ds[f"{PRIMARY[evaluator]}_sim"].sel(evaluator=evaluator)
