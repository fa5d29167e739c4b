"""The neighborhood attack: the text's NLL compared with that of slightly perturbed copies.

Two attacks share the formula and differ in who writes the neighbors, so a leaderboard row
says which one it is:

* ``neighborhood``: the paper's generator (arXiv 2305.18462): ranked single-word swaps from a
  local masked LM with embedding dropout (:mod:`miakit.perturb.dropout`); needs
  ``--fill-mask-model``.
* ``neighborhood_causal``: a miakit *variant*, not the paper's method: the target causal LM
  resamples word-initial tokens from its own left-context distributions
  (:mod:`miakit.perturb.causal`); needs nothing else.
"""

from __future__ import annotations

import numpy as np

from miakit._core.deprecation import renamed_attribute
from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, PerSample, SignalView
from miakit.attacks._registry import register_attack
from miakit.errors import MissingSignalError

#: The extra holding each sample's mean neighbor NLL from the paper's generator.
NEIGHBOR_EXTRA = "neighbor_nll"


@register_attack(
    "neighborhood",
    needs=("token_log_prob",),
    extras=(NEIGHBOR_EXTRA,),
    paper="2305.18462",
    default=False,
)
def neighborhood(signals: SignalView) -> AttackOutput:
    """Paper's neighbors (masked-LM dropout swaps): mean neighbor NLL minus the text's NLL.

    Formula: ``score = mean_j NLL(x̃_j) − NLL(x)`` with ``NLL = −mean_t ℓ_t`` under the target
    and ``x̃_1 … x̃_m`` the text's neighbors (``--neighbors M``, default 10), written by the
    paper's generator (:class:`~miakit.perturb.dropout.DropoutSwapPerturber`): for each word,
    the masked LM ``--fill-mask-model`` reads the text with that word's input embedding dropped
    out (p = 0.7) and proposes its ``--neighbor-top-k`` most likely other words, each scored
    ``p(c)/(1 − p(w))``; the ``m`` best single-word swaps over all words are the neighbors.
    The run scores them with the target (plain context) and passes each sample's mean
    neighbor NLL as the extra ``neighbor_nll`` (neighbors without a scored token are left
    out of the mean). The paper (and mimir) write ``NLL(x) − mean NLL(x̃)`` as a
    lower-is-member score; this is its negation.

    Paper: arXiv 2305.18462 (Mattern et al., membership inference by neighborhood comparison).

    Sign: higher = more likely member: a training text sits in a sharper minimum of the loss,
    so its neighbors' NLLs rise further above its own than a non-member's do.

    Not run by default: it costs ``m`` extra target passes per text plus one masked-LM pass
    per word; ask for it with ``--attacks neighborhood``. Without a masked LM, the variant
    ``neighborhood_causal`` needs no extra model.

    NaN policy: NaN with a reason where the text has no scored tokens or NaN log-probs, or
    where no neighbor could be generated or scored (the extra's own reason).

    Args:
        signals: a view with ``target/plain:token_log_prob`` and the extra ``neighbor_nll``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        MissingSignalError: the extra is not a :class:`PerSample`.
    """
    return compare_neighbors(signals, NEIGHBOR_EXTRA)


def compare_neighbors(signals: SignalView, extra: str) -> AttackOutput:
    """``mean NLL(neighbors) − NLL(x)`` from the per-sample extra ``extra`` (shared with
    :mod:`miakit.attacks.neighborhood_causal`)."""
    neighbors = signals.extras[extra]
    if not isinstance(neighbors, PerSample):
        raise MissingSignalError(
            f"extra {extra!r} must be a PerSample of mean neighbor NLLs; got "
            f"{type(neighbors).__name__}"
        )
    reasons = _ops.Reasons(signals.n_samples)
    nll = -_ops.mean_token_log_prob(signals, reasons)
    reasons.add(
        np.isnan(neighbors.values),
        lambda i: f"no neighbor NLL: {neighbors.reasons[i]}",
    )
    return reasons.output(
        neighbors.values - nll, fallback="non-finite neighborhood score (infinite NLL?)"
    )


_RENAMED = {"NEIGHBOUR_EXTRA": "NEIGHBOR_EXTRA", "compare_neighbours": "compare_neighbors"}


def __getattr__(name: str) -> object:
    return renamed_attribute(__name__, name, _RENAMED, globals())
