"""In-context learning that emerges and then fades (Singh et al., NeurIPS 2023; ICML 2025).

- :mod:`.toy`: the coopetition minimal model, simulated and reduced exactly;
- :mod:`.data`: bursty fixed-label sequences and the evaluators icl, icl_holdout, flip, iwl,
  ciwl and train_eval;
- :mod:`.model`: the 2-layer attention-only transformer and its L2 penalties;
- :mod:`.observables`: evaluator metrics and transience summaries;
- :mod:`.simulate`: training through the engine, L2 coefficients side by side, checkpointed;
- :mod:`.plots`: the evaluators figure.

Studies: ``icl_transience_toy`` and ``icl_transience``.
"""

from . import data, model, observables, plots, simulate, toy

STUDIES = ("icl_transience_toy", "icl_transience")

__all__ = ["STUDIES", "data", "model", "observables", "plots", "simulate", "toy"]
