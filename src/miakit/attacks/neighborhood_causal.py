"""``neighborhood_causal``: the neighborhood comparison with neighbors from the target itself.

A miakit *variant*, not the paper's method (arXiv 2305.18462 uses a masked LM: see
:mod:`miakit.attacks.neighborhood`); reported under its own name so that a leaderboard row
cannot be mistaken for the paper's attack.
"""

from __future__ import annotations

from miakit._core.deprecation import renamed_attribute
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack
from miakit.attacks.neighborhood import compare_neighbors

#: The extra holding each sample's mean neighbor NLL from the causal-LM variant's neighbors.
CAUSAL_NEIGHBOR_EXTRA = "neighbor_nll_causal"


@register_attack(
    "neighborhood_causal",
    needs=("token_log_prob",),
    extras=(CAUSAL_NEIGHBOR_EXTRA,),
    paper="2305.18462",
    default=False,
)
def neighborhood_causal(signals: SignalView) -> AttackOutput:
    """VARIANT, not the paper's generator: neighbors resampled from the target causal LM.

    Formula: ``score = mean_j NLL(x̃_j) − NLL(x)`` as for ``neighborhood``, but the neighbors
    ``x̃_j`` come from miakit's built-in causal-LM perturber
    (:class:`~miakit.perturb.causal.CausalLMPerturber`): ``--neighbor-fraction`` (15%) of the
    text's word-initial tokens are resampled from the target's own top-``--neighbor-top-k``
    next-token distribution given the original left context (original token excluded,
    seeded). The paper uses a masked LM with embedding dropout and ranked single-word swaps
    (``neighborhood``); results of this variant are not the paper's method and are reported
    under this separate name. The extra is ``neighbor_nll_causal``.

    Paper: arXiv 2305.18462 (the comparison; the neighbor generator is miakit's own).

    Sign: higher = more likely member (as ``neighborhood``).

    Not run by default (``m`` extra target passes per text plus one for the proposals); ask
    for it with ``--attacks neighborhood_causal``.

    NaN policy: as ``neighborhood``.

    Args:
        signals: a view with ``target/plain:token_log_prob`` and the extra
            ``neighbor_nll_causal``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        MissingSignalError: the extra is not a :class:`PerSample`.
    """
    return compare_neighbors(signals, CAUSAL_NEIGHBOR_EXTRA)


def __getattr__(name: str) -> object:
    return renamed_attribute(
        __name__, name, {"CAUSAL_NEIGHBOUR_EXTRA": "CAUSAL_NEIGHBOR_EXTRA"}, globals()
    )
