"""The rank attack: the target's mean 1-based rank of each actual token, negated."""

from __future__ import annotations

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack


@register_attack("rank", needs=("token_rank",), paper="1906.04043")
def rank(signals: SignalView) -> AttackOutput:
    """Negative mean rank of each token among the target's predictions (Rank).

    Formula: ``score = −mean_t (r_t + 1)`` where ``r_t`` (signal ``token_rank``) is the number
    of vocabulary entries with a strictly higher logit than the actual token ``x_t``, so
    ``r_t + 1`` is its 1-based rank (1 = the model's top choice; ties resolved in the token's
    favour, where an argsort would break them arbitrarily).

    Paper: GLTR (Gehrmann et al., arXiv 1906.04043), used as a membership score by MINT
    (arXiv 2510.19492). See ``log_rank`` for the log-rank variant.

    Sign: higher = more likely member (memorised tokens rank near the top).

    NaN policy: NaN with a reason for a sample with no scored tokens, NaN ranks, or a negative
    rank (a corrupt table).

    Args:
        signals: a view with ``target/plain:token_rank``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    ranks, offsets = _ops.checked_ranks(signals, reasons)
    scores = -_ops.segment_mean(ranks + 1.0, offsets)
    return reasons.output(scores, fallback="non-finite mean rank (infinite token_rank?)")
