"""Neighbour generation for the neighbourhood attack (arXiv 2305.18462).

:class:`Perturber` is the interface (``neighbours(texts, m, seed) -> list[list[str]]``).
:class:`DropoutSwapPerturber` is the paper's generator (``--fill-mask-model``: ranked single-word
swaps from a masked LM with embedding dropout; the ``neighborhood`` attack);
:class:`CausalLMPerturber` is miakit's variant (the target model resamples word-initial tokens;
the ``neighborhood_causal`` attack); :class:`MaskedLMPerturber` is another variant (several
masked words sampled; API only). Neighbours are cached by :class:`NeighbourCache`.
"""

from miakit.perturb.base import Perturber, text_seed
from miakit.perturb.cache import NeighbourCache
from miakit.perturb.causal import CausalLMPerturber
from miakit.perturb.dropout import DropoutSwapPerturber
from miakit.perturb.masked import MaskedLMPerturber

__all__ = [
    "CausalLMPerturber",
    "DropoutSwapPerturber",
    "MaskedLMPerturber",
    "NeighbourCache",
    "Perturber",
    "text_seed",
]
