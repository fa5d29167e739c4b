"""The neighbourhood attack: the text's NLL compared with that of slightly perturbed copies."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, PerSample, SignalView
from miakit.attacks._registry import register_attack
from miakit.errors import MissingSignalError

#: The extra holding each sample's mean neighbour NLL (a :class:`PerSample`).
NEIGHBOUR_EXTRA = "neighbor_nll"


@register_attack(
    "neighborhood",
    needs=("token_log_prob",),
    extras=(NEIGHBOUR_EXTRA,),
    paper="2305.18462",
    default=False,
)
def neighborhood(signals: SignalView) -> AttackOutput:
    """Mean NLL of the text's neighbours minus the text's own NLL (neighbourhood comparison).

    Formula: ``score = mean_j NLL(x̃_j) − NLL(x)`` with ``NLL = −mean_t ℓ_t`` under the target
    and ``x̃_1 … x̃_m`` the text's *neighbours*: copies with a few words replaced by plausible
    alternatives (``--neighbors M``, default 10; :mod:`miakit.perturb`). The run generates
    the neighbours, scores them with the target (plain context) and passes each sample's mean
    neighbour NLL as the extra ``neighbor_nll`` (a :class:`PerSample`; neighbours without a
    scored token are left out of the mean). The paper (and mimir) write
    ``NLL(x) − mean NLL(x̃)`` as a lower-is-member score; this is its negation.

    Paper: arXiv 2305.18462 (Mattern et al., membership inference by neighbourhood comparison).

    Sign: higher = more likely member: a training text sits in a sharper minimum of the loss,
    so its neighbours' NLLs rise further above its own than a non-member's do.

    Not run by default: it costs ``m`` extra forward passes per text plus the neighbour
    generation; ask for it with ``--attacks neighborhood``.

    NaN policy: NaN with a reason where the text has no scored tokens or NaN log-probs, or
    where no neighbour could be generated or scored (the extra's own reason).

    Args:
        signals: a view with ``target/plain:token_log_prob`` and the extra ``neighbor_nll``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        MissingSignalError: the extra is not a :class:`PerSample`.
    """
    neighbours = signals.extras[NEIGHBOUR_EXTRA]
    if not isinstance(neighbours, PerSample):
        raise MissingSignalError(
            f"extra {NEIGHBOUR_EXTRA!r} must be a PerSample of mean neighbour NLLs; got "
            f"{type(neighbours).__name__}"
        )
    reasons = _ops.Reasons(signals.n_samples)
    nll = -_ops.mean_token_log_prob(signals, reasons)
    reasons.add(
        np.isnan(neighbours.values),
        lambda i: f"no neighbour NLL: {neighbours.reasons[i]}",
    )
    return reasons.output(
        neighbours.values - nll, fallback="non-finite neighbourhood score (infinite NLL?)"
    )
