"""Neighbour generation for the neighbourhood attack (arXiv 2305.18462).

:class:`Perturber` is the interface (``neighbours(texts, m, seed) -> list[list[str]]``);
:class:`CausalLMPerturber` (built in: the target model resamples word-initial tokens) and
:class:`MaskedLMPerturber` (``--fill-mask-model``: a BERT-style masked LM) implement it.
Neighbours are cached by :class:`NeighbourCache`.
"""

from miakit.perturb.base import Perturber, text_seed
from miakit.perturb.cache import NeighbourCache
from miakit.perturb.causal import CausalLMPerturber
from miakit.perturb.masked import MaskedLMPerturber

__all__ = [
    "CausalLMPerturber",
    "MaskedLMPerturber",
    "NeighbourCache",
    "Perturber",
    "text_seed",
]
