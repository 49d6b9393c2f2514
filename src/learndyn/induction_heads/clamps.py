"""Clamping subcircuits from step 0 ("artificial optogenetics"; Singh et al., ICML 2024, Sec. 5).

An induction head (IH) needs three subcircuits (paper numbering of the circuit steps):

- **A** = {1, 2}: a layer-1 head at a label token attends to the preceding exemplar (1) and copies
  it into the label's residual stream (2);
- **B** = {3qk, 4}: the layer-2 query/key read that content and the IH attends from the query to
  the label whose exemplar matches (match);
- **C** = {3v, 5}: the layer-2 value reads the label identity and the IH writes that label's
  logit (copy).

Conditions (one active layer-2 head; the others value-ablated from step 0):

- ``none``: no clamp;
- ``pt_head`` (step 1): the chosen layer-1 head's pattern := shifted identity (row t puts s on
  t - 1 and 1 - s on t; row 0 attends to itself);
- ``layer1`` (A): pass 1 sets ``blocks.1.hook_resid_pre`` to the embeddings shifted right by one
  position (positions 1..T-2; each label carries its exemplar's embedding) and yields the layer-2
  patterns; pass 2 sets ``blocks.1.hook_resid_pre`` to the plain embeddings (layer 1 contributes
  nothing) and the layer-2 patterns to pass 1's. Gradients flow through both passes;
- ``match`` (A+B): the active head's query row := s on the label token whose label is the
  target, 1 - s spread over the other label tokens, 0 elsewhere;
- ``copy`` (C): the query logits := -1e9 except the in-context labels, which receive the active
  head's pre-softmax scores from the query to their label tokens;
- ``layer1_copy`` (A+C; only B evolves): both, with the scores taken from the pattern pass.

Every condition is one set of *flags* (arrays), so one compiled two-pass program serves all of
them and conditions are vmapped side by side; with every flag off the second pass is the plain
network and the first pass receives no gradient. The first pass always sees the shifted
embeddings (only the ``layer1`` conditions read it), so it never computes layer 1 nor layer 2's
values: it costs only the layer-2 scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from ..transformer import Apply, Replace, TwoPass
from ..transformer.model import NEG

__all__ = ["CONDITIONS", "FLAG_NAMES", "LABELS", "clamp_interventions", "condition_flags",
           "interventions_of"]

FLAG_NAMES = ("pt_head", "layer1", "match", "copy")
CONDITIONS = {
    "none": (),
    "pt_head": ("pt_head",),
    "layer1": ("layer1",),
    "match": ("match",),
    "copy": ("copy",),
    "layer1_copy": ("layer1", "copy"),
}


#: the conditions in the paper's words (for figures)
LABELS = {
    "none": "no clamp",
    "pt_head": "previous-token head",
    "layer1": "layer 1 (A)",
    "match": "match (A+B)",
    "copy": "copy (C)",
    "layer1_copy": "layer 1 + copy (A+C)",
}


def condition_flags(condition: str) -> dict[str, np.ndarray]:
    """The flags of one condition (float 0/1 arrays, so they can be vmapped)."""
    on = CONDITIONS[condition]
    return {f: np.float32(f in on) for f in FLAG_NAMES}


def _shifted_identity(t: int, s: float, dtype) -> jax.Array:
    """Row r: s on r - 1 and 1 - s on r; row 0 attends to itself."""
    eye = jnp.eye(t, dtype=dtype)
    prev = jnp.eye(t, k=-1, dtype=dtype)
    return (s * prev + (1.0 - s) * eye).at[0, 0].set(1.0)


def clamp_interventions(*, n_heads: int, flags: Mapping[str, jax.Array], heads_on: jax.Array,
                        pt_head: int, active_head: int, strength: float = 1.0,
                        label_mask: jax.Array | None = None) -> TwoPass:
    """The two-pass intervention of a clamp condition.

    Args:
        n_heads: heads per layer.
        flags: ``{pt_head, layer1, match, copy}`` scalars in {0, 1} (arrays; vmappable).
        heads_on: [n_heads] 1 for layer-2 heads that stay active (others value-ablated).
        pt_head: the clamped layer-1 head; active_head: the layer-2 head of match/copy clamps.
        strength: s of the pattern clamps (1 = ideal).
        label_mask: [n_out] labels in use when the vocabulary is padded (the others' logits
            are -1e9); ``None``: all.
    """
    on = {k: jnp.asarray(v) > 0.5 for k, v in flags.items()}
    head = jnp.arange(n_heads)[:, None, None]
    ablate = {"blocks.1.attn.hook_v": Replace(
        jnp.zeros((1, 1, 1)), (jnp.asarray(heads_on) < 0.5)[None, :, None])}

    def pt(act, cache, ctx):
        ideal = _shifted_identity(act.shape[-1], strength, act.dtype)[None]
        return jnp.where(on["pt_head"] & (head == pt_head), ideal, act)

    def shifted_resid(act, cache, ctx):
        # unconditional: only the layer1 conditions read pass 1, so its layer 1 is dead code
        emb = cache["blocks.0.hook_resid_pre"]
        t = emb.shape[0]
        return jnp.concatenate([emb[:1], emb[: t - 2], emb[t - 1:]], axis=0)

    def plain_resid(act, cache, ctx):
        return jnp.where(on["layer1"], cache["blocks.0.hook_resid_pre"], act)

    def match(act, cache, ctx):
        is_label = ctx["token_type"] == 1
        n_ctx = jnp.sum(is_label)
        right = (ctx["label_at"] == ctx["target"]) & is_label
        row = jnp.where(right, strength, jnp.where(is_label, (1.0 - strength) / (n_ctx - 1), 0.0))
        clamped = act.at[:, -1, :].set(row.astype(act.dtype)[None])
        return jnp.where(on["match"] & (head == active_head), clamped, act)

    first = {"blocks.1.hook_resid_pre": Apply(shifted_resid)}

    def build(cache1, ctx):
        scores1 = cache1["blocks.1.attn.hook_attn_scores"]

        def copy(act, cache, ctx):
            scores = jnp.where(on["layer1"], scores1, cache["blocks.1.attn.hook_attn_scores"])
            row = scores[active_head, -1]  # [k_pos] from the query
            label_pos = jnp.arange(1, row.shape[0] - 1, 2)
            clamped = jnp.full(act.shape[-1:], NEG, act.dtype).at[ctx["labels"]].set(
                row[label_pos].astype(act.dtype))
            return jnp.where(on["copy"], clamped[None], act)

        unused = () if label_mask is None else (
            Replace(jnp.full((1, 1), NEG), ~jnp.asarray(label_mask, bool)[None]),)
        return {
            "blocks.0.attn.hook_pattern": Apply(pt),
            "blocks.1.hook_resid_pre": Apply(plain_resid),
            "blocks.1.attn.hook_pattern": (
                Replace(cache1["blocks.1.attn.hook_pattern"], on["layer1"]), Apply(match)),
            "hook_logits": (*unused, Apply(copy)),
            **ablate,
        }

    return TwoPass(first, ("blocks.1.attn.hook_pattern", "blocks.1.attn.hook_attn_scores"),
                   build)


@cache
def interventions_of(n_heads: int, pt_head: int, active_head: int, strength: float = 1.0):
    """``args -> interventions`` for :func:`learndyn.induction_heads.simulate.programs`: the
    clamp of the condition whose flags are ``args["flags"]``, with the layer-2 heads
    ``args["heads_on"]`` active and the labels ``args["label_mask"]`` in use. Cached, so that
    every run of a study shares one compiled program."""
    def interventions(args):
        return clamp_interventions(n_heads=n_heads, flags=args["flags"],
                                   heads_on=args["heads_on"], pt_head=pt_head,
                                   active_head=active_head, strength=strength,
                                   label_mask=args["label_mask"])
    return interventions
