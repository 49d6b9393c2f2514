"""What is measured while an induction head forms (Singh et al., ICML 2024; Olsson et al. 2022).

On a batch of sequences (query at the last position, label tokens at odd positions):

- ``loss`` (cross-entropy at the query), ``accuracy``, ``in_context_accuracy`` (argmax over the
  labels present in the context) and ``p_in_context`` (probability mass on them);
- ``induction_strength[head]`` (layer 2): attention from the query to the correct label token
  minus the mean attention to the other label tokens, in [-1, 1];
- ``prefix_matching[layer, head]``: attention from the query to the token right after the
  matching exemplar (the correct label token);
- ``prev_token_score[head]`` (layer 1): mean attention from each label token to its exemplar;
  ``prev_token_all`` the same over every position t >= 1 (to t - 1);
- ``copying_score[layer, head]``: every label embedding, scaled by the LayerNorm gains (the
  normalisation statistics are ignored: a linear approximation), pushed through the head's
  W_V W_O, the final LayerNorm gain and W_U; the fraction of labels whose own logit is the
  largest (``copying_prob``: the mean softmax probability of the own label);
- phase-change time: when the training loss first falls below 0.4 ln 2 (linearly interpolated
  between the two records around the crossing); plateau duration: the
  longest stretch after the initial drop with the loss within ln 2 +/- 0.1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "LN2",
    "copying_scores",
    "crossing_time",
    "drop_ratio",
    "first_time_below",
    "grid_phase_change",
    "grid_run_end",
    "head_scores",
    "metrics",
    "phase_change_time",
    "plateau_duration",
    "run_end",
]

LN2 = float(np.log(2.0))


def metrics(logits: jax.Array, batch) -> dict[str, jax.Array]:
    """Loss, accuracy, in-context accuracy and in-context mass of query logits [B, n_out]."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    target = batch["target"]
    n_out = logits.shape[-1]
    in_ctx = jnp.any(batch["labels"][:, :, None] == jnp.arange(n_out)[None, None, :], axis=1)
    masked = jnp.where(in_ctx, logits, -jnp.inf)
    return {
        "loss": -jnp.mean(jnp.take_along_axis(logp, target[:, None], axis=-1)),
        "accuracy": jnp.mean(jnp.argmax(logits, -1) == target),
        "in_context_accuracy": jnp.mean(jnp.argmax(masked, -1) == target),
        "p_in_context": jnp.mean(jnp.sum(jnp.where(in_ctx, jnp.exp(logp), 0.0), axis=-1)),
    }


def head_scores(patterns: list[jax.Array], batch) -> dict[str, jax.Array]:
    """Attention-based head scores from per-layer patterns [B, head, q_pos, k_pos]."""
    t = patterns[0].shape[-1]
    n = (t - 1) // 2
    label_pos = jnp.arange(1, t - 1, 2)
    right = jax.nn.one_hot(2 * batch["slot"] + 1, t, dtype=patterns[0].dtype)  # [B, t]
    is_label = jnp.zeros(t, patterns[0].dtype).at[label_pos].set(1.0)
    others = (is_label[None] - right) / max(n - 1, 1)
    query_rows = [p[:, :, -1, :] for p in patterns]  # [B, head, t]
    prefix = jnp.stack([jnp.einsum("bhk,bk->bh", q, right).mean(0) for q in query_rows])
    strength = jnp.einsum("bhk,bk->bh", query_rows[-1], right - others).mean(0)
    first = patterns[0]
    prev_label = first[:, :, label_pos, label_pos - 1].mean(axis=(0, 2))
    pos = jnp.arange(1, t)
    prev_all = first[:, :, pos, pos - 1].mean(axis=(0, 2))
    return {"induction_strength": strength, "prefix_matching": prefix,
            "prev_token_score": prev_label, "prev_token_all": prev_all}


def copying_scores(params, valid: jax.Array | None = None) -> dict[str, jax.Array]:
    """Copying score and own-label probability of every head ([layer, head]); ``valid`` [L]
    marks the labels in use when the vocabulary is padded (default: all)."""
    emb = params["embed"]["W_label"]  # [L, d]
    unembed = params["unembed"]["W_U"]
    g_final = params["ln_final"]["w"] if "ln_final" in params else jnp.ones(emb.shape[1:])
    n_labels = emb.shape[0]
    valid = jnp.ones(n_labels, bool) if valid is None else jnp.asarray(valid, bool)
    weight = valid / jnp.sum(valid)
    frac, prob = [], []
    for block in params["blocks"]:
        g = block["ln1"]["w"] if "ln1" in block else jnp.ones(emb.shape[1:])
        ov = jnp.einsum("hde,hef->hdf", block["attn"]["W_V"], block["attn"]["W_O"])
        out = jnp.einsum("ld,hdf->hlf", emb * g[None], ov)
        logits = jnp.einsum("hlf,fo->hlo", out * g_final[None, None], unembed)[..., :n_labels]
        logits = jnp.where(valid[None, None], logits, -jnp.inf)
        own = jnp.arange(n_labels)
        frac.append(jnp.sum((jnp.argmax(logits, -1) == own[None]) * weight[None], axis=-1))
        p = jax.nn.softmax(logits, axis=-1)
        prob.append(jnp.sum(p[:, own, own] * weight[None], axis=-1))
    return {"copying_score": jnp.stack(frac), "copying_prob": jnp.stack(prob)}


# ---- times from recorded curves (numpy, after the run) -------------------------------------
def first_time_below(times: np.ndarray, curve: np.ndarray, level: float) -> float:
    """First recorded time at which ``curve`` is below ``level`` (inf if never)."""
    below = np.flatnonzero(np.asarray(curve) < level)
    return float(times[below[0]]) if len(below) else float("inf")


def crossing_time(times: np.ndarray, curve: np.ndarray, level: float) -> float:
    """When ``curve`` first falls below ``level``, linearly interpolated between the two records
    around the crossing (inf if never; ``times[0]`` if it starts below)."""
    curve = np.asarray(curve)
    below = np.flatnonzero(curve < level)
    if not len(below):
        return float("inf")
    i = below[0]
    if i == 0:
        return float(times[0])
    frac = (curve[i - 1] - level) / (curve[i - 1] - curve[i])
    return float(times[i - 1] + frac * (times[i] - times[i - 1]))


def phase_change_time(times: np.ndarray, loss: np.ndarray) -> float:
    """When the training loss first falls below 0.4 ln 2 (interpolated between records; inf if
    the drop never comes)."""
    return crossing_time(times, loss, 0.4 * LN2)


def plateau_duration(times: np.ndarray, loss: np.ndarray, *, lo: float = LN2 - 0.1,
                     hi: float = LN2 + 0.1) -> float:
    """Longest contiguous stretch with ``lo <= loss <= hi`` (time units of ``times``)."""
    inside = (np.asarray(loss) >= lo) & (np.asarray(loss) <= hi)
    best, start = 0.0, None
    for i, flag in enumerate(inside):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(inside) - 1):
            end = i if flag else i - 1
            best = max(best, float(times[end] - times[start]))
            start = None
    return best


def drop_ratio(times: np.ndarray, loss: np.ndarray, *, high: float = 0.6,
               low: float = 0.2) -> float:
    """(time from loss = high to loss = low) / (time before first reaching high)."""
    t_high = first_time_below(times, loss, high)
    t_low = first_time_below(times, loss, low)
    if not np.isfinite(t_low) or t_high <= 0:
        return float("inf")
    return (t_low - t_high) / t_high


def run_end(times: np.ndarray, loss: np.ndarray) -> float:
    """The last recorded time of a run whose later records are NaN (a run stopped early),
    from its loss [seed, time]; NaN if nothing was recorded."""
    finite = np.isfinite(np.asarray(loss)).all(axis=0)
    return float(np.asarray(times)[finite][-1]) if finite.any() else float("nan")


def grid_run_end(ds, setting: int, condition: str) -> float:
    """The last recorded time of one run of a (setting, condition) grid
    (:func:`learndyn.induction_heads.simulate.runs_grid`): runs stopped early end before the
    others."""
    loss = ds.loss_sim.isel(setting=setting).sel(condition=condition, evaluator="fsl_train")
    return run_end(ds.time.values, loss.values)


def grid_phase_change(ds, setting: int, condition: str, *, capped: bool = True) -> np.ndarray:
    """Phase-change times [seed] of one run of a (setting, condition) grid; with ``capped`` a
    drop that never came counts as the run's end (a lower bound, for where a lower bound is
    what is needed)."""
    pct = ds.phase_change_time_sim.isel(setting=setting).sel(condition=condition).values
    return np.minimum(pct, grid_run_end(ds, setting, condition)) if capped else pct
