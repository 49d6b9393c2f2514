"""A small pure-JAX transformer with named hook points, caching and interventions, and the
few-shot exemplar-label sequences it is trained on (shared by the in-context-learning studies).

See :mod:`learndyn.transformer.model` (architecture, hook names), :mod:`.hooks` (Replace, Apply,
TwoPass and builders) and :mod:`.data` (exemplar tables and the jittable sampler).
"""

from . import data, hooks, model
from .hooks import (
    Apply,
    Replace,
    TwoPass,
    ablate_heads,
    keep_only_heads,
    merge,
    preserve_from_clean,
)
from .model import TransformerConfig, forward, hook_names, init_params, loss, run_with_cache

STUDIES = ()  # the library of induction_heads and icl_transience

__all__ = [
    "Apply",
    "STUDIES",
    "Replace",
    "TransformerConfig",
    "TwoPass",
    "ablate_heads",
    "data",
    "forward",
    "hook_names",
    "hooks",
    "init_params",
    "keep_only_heads",
    "loss",
    "merge",
    "model",
    "preserve_from_clean",
    "run_with_cache",
]
