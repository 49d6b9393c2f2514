"""In-context learning that emerges and then fades (Singh et al., NeurIPS 2023; ICML 2025).

:mod:`.toy`: the coopetition minimal model, simulated and reduced exactly.
"""

from . import toy

STUDIES = ("icl_transience_toy", "icl_transience")

__all__ = ["STUDIES", "toy"]
