"""Interventions on named activations: what replaces or edits a hook point during a forward pass.

Every forward function of :mod:`learndyn.transformer.model` takes ``interventions``, a mapping
``hook name -> intervention`` (or a tuple of interventions, applied in order). Kinds:

- :class:`Replace` ``(value, mask)``: ``activation <- where(mask, value, activation)``. ``value``
  and ``mask`` broadcast against the per-sequence activation (same rank: tests run with strict
  rank promotion); ``mask=None`` replaces everything. With ``batched=True`` both carry a leading
  batch axis (one value per sequence). Replaced elements pass no gradient upstream; the rest
  of the network stays differentiable (also with respect to ``value``).
- :class:`Apply` ``(fn)``: ``activation <- fn(activation, cache, context)``, where ``cache`` holds
  every activation computed so far in this pass and ``context`` is the sequence's batch entry
  (exemplars, labels, target, ...). ``fn`` is static (part of the compiled structure).
- :class:`TwoPass` (give it as the whole ``interventions`` argument): a first pass with its own
  interventions, then ``build(cache, context) -> interventions`` for the second pass, whose output
  is returned. Gradients flow through both passes unless ``stop_gradient=True``.

The set of hooked names and kinds is static; values and masks are ordinary arrays (pytree
leaves), so changing them does not retrace a jitted function.

Builders for common cases: :func:`ablate_heads`, :func:`keep_only_heads`,
:func:`preserve_from_clean`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "Apply",
    "Replace",
    "TwoPass",
    "ablate_heads",
    "apply_intervention",
    "keep_only_heads",
    "merge",
    "preserve_from_clean",
]


@jax.tree_util.register_pytree_node_class
@dataclass(frozen=True)
class Replace:
    """``activation <- where(mask, value, activation)`` (``mask=None``: replace all)."""

    value: Any
    mask: Any = None
    batched: bool = False

    def tree_flatten(self):
        return (self.value, self.mask), self.batched

    @classmethod
    def tree_unflatten(cls, batched, children):
        return cls(children[0], children[1], batched)


@jax.tree_util.register_pytree_node_class
@dataclass(frozen=True)
class Apply:
    """``activation <- fn(activation, cache_so_far, context)`` (``fn`` is static)."""

    fn: Callable[[jax.Array, Mapping[str, jax.Array], Mapping[str, jax.Array]], jax.Array]

    def tree_flatten(self):
        return (), self.fn

    @classmethod
    def tree_unflatten(cls, fn, children):
        return cls(fn)


@jax.tree_util.register_pytree_node_class
@dataclass(frozen=True)
class TwoPass:
    """Run ``first``, cache ``names``, then run again with ``build(cache, context)`` merged with
    ``second``; the second pass's output is returned.

    ``build`` receives the first pass's (per-sequence) cache restricted to ``names`` and the
    sequence's context, and returns an interventions mapping. ``stop_gradient=True`` cuts the
    gradient through the cached first-pass values.
    """

    first: Mapping[str, Any]
    names: tuple[str, ...]
    build: Callable[[Mapping[str, jax.Array], Mapping[str, jax.Array]], Mapping[str, Any]]
    second: Mapping[str, Any] | None = None
    stop_gradient: bool = False

    def tree_flatten(self):
        return (self.first, self.second), (self.names, self.build, self.stop_gradient)

    @classmethod
    def tree_unflatten(cls, aux, children):
        names, build, stop = aux
        return cls(children[0], names, build, children[1], stop)


def _items(entry: Any) -> Sequence[Any]:
    return entry if isinstance(entry, tuple | list) else (entry,)


def apply_intervention(entry: Any, x: jax.Array, cache: Mapping[str, jax.Array],
                       context: Mapping[str, jax.Array]) -> jax.Array:
    """Apply one intervention (or a tuple of them, in order) to the per-sequence activation."""
    for item in _items(entry):
        if isinstance(item, Replace):
            value = jnp.asarray(item.value, dtype=x.dtype)
            if item.mask is None:
                x = jnp.broadcast_to(value, x.shape)
            else:
                x = jnp.where(item.mask, value, x)
        elif isinstance(item, Apply):
            x = item.fn(x, cache, context)
        else:
            raise TypeError(f"not an intervention: {item!r} (use Replace or Apply)")
    return x


def merge(*mappings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Combine intervention mappings; interventions at the same hook are applied in order."""
    out: dict[str, Any] = {}
    for mapping in mappings:
        for name, entry in (mapping or {}).items():
            out[name] = tuple(_items(out[name])) + tuple(_items(entry)) if name in out else entry
    return out


def _head_mask(n_heads: int, heads: Sequence[int], *, keep: bool) -> jax.Array:
    """[pos=1, head, d=1] boolean mask selecting the heads to zero."""
    chosen = jnp.isin(jnp.arange(n_heads), jnp.asarray(list(heads), dtype=jnp.int32))
    return (~chosen if keep else chosen)[None, :, None]


def ablate_heads(layer: int, heads: Sequence[int], *, n_heads: int) -> dict[str, Replace]:
    """Zero the values (``hook_v``) of ``heads`` in ``layer``: those heads output nothing.

    Without an output bias this equals removing the heads from the model.
    """
    mask = _head_mask(n_heads, heads, keep=False)
    return {f"blocks.{layer}.attn.hook_v": Replace(jnp.zeros((1, 1, 1)), mask)}


def keep_only_heads(layer: int, heads: Sequence[int], *, n_heads: int) -> dict[str, Replace]:
    """Zero the values of every head of ``layer`` except ``heads``."""
    mask = _head_mask(n_heads, heads, keep=True)
    return {f"blocks.{layer}.attn.hook_v": Replace(jnp.zeros((1, 1, 1)), mask)}


def preserve_from_clean(names: Sequence[str], corrupt: Mapping[str, Any] | None = None, *,
                        stop_gradient: bool = False) -> TwoPass:
    """Ablate with ``corrupt`` while keeping ``names`` (patterns, queries, keys, values ...) at
    their values from a clean pass: a two-pass intervention.

    Example: remove layer 1's direct contribution to the output while layer 2 still reads
    layer 1 through its queries, keys and values::

        preserve_from_clean(["blocks.1.attn.hook_q", "blocks.1.attn.hook_k",
                             "blocks.1.attn.hook_v"],
                            {"blocks.0.hook_attn_out": Replace(jnp.zeros((1, 1)))})
    """
    names = tuple(names)

    def build(cache, context):
        return {n: Replace(cache[n]) for n in names}

    return TwoPass({}, names, build, dict(corrupt or {}), stop_gradient)
