"""The log-rank attack: the target's mean log of each actual token's 1-based rank, negated."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack


@register_attack("log_rank", needs=("token_rank",), paper="1906.04043")
def log_rank(signals: SignalView) -> AttackOutput:
    """Negative mean log-rank of each token among the target's predictions (Log-Rank).

    Formula: ``score = −mean_t log(r_t + 1)`` (natural log) where ``r_t`` (signal
    ``token_rank``) counts the vocabulary entries with a strictly higher logit than ``x_t``,
    so ``r_t + 1`` is its 1-based rank and a top-1 token contributes ``log 1 = 0``. The log
    damps the few very badly ranked tokens that dominate ``rank``.

    Papers: GLTR (Gehrmann et al., arXiv 1906.04043) ranks; the log-rank score is a baseline
    of DetectLLM (Su et al., arXiv 2306.05540) and of MINT (arXiv 2510.19492).

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
    scores = -_ops.segment_mean(np.log1p(ranks), offsets)
    return reasons.output(scores, fallback="non-finite mean log-rank (infinite token_rank?)")
