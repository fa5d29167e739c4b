"""Neighbor generation for the neighborhood attack (arXiv 2305.18462).

:class:`Perturber` is the interface (``neighbors(texts, m, seed) -> list[list[str]]``).
:class:`DropoutSwapPerturber` is the paper's generator (``--fill-mask-model``: ranked single-word
swaps from a masked LM with embedding dropout; the ``neighborhood`` attack);
:class:`CausalLMPerturber` is miakit's variant (the target model resamples word-initial tokens;
the ``neighborhood_causal`` attack); :class:`MaskedLMPerturber` is another variant (several
masked words sampled; API only). Neighbors are cached by :class:`NeighborCache`.
"""

from miakit.perturb.base import Perturber, text_seed
from miakit.perturb.cache import NeighborCache
from miakit.perturb.causal import CausalLMPerturber
from miakit.perturb.dropout import DropoutSwapPerturber
from miakit.perturb.masked import MaskedLMPerturber

__all__ = [
    "CausalLMPerturber",
    "DropoutSwapPerturber",
    "MaskedLMPerturber",
    "NeighborCache",
    "Perturber",
    "text_seed",
]

from miakit._core.deprecation import renamed_attribute as _renamed_attribute


def __getattr__(name: str) -> object:
    return _renamed_attribute(__name__, name, {"NeighbourCache": "NeighborCache"}, globals())
