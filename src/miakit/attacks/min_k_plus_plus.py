"""The Min-K%++ attack: Min-K% over log-probs standardised by the next-token distribution."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack


def tokens_needed(*, k: float = 0.2) -> int:
    """The fewest scored tokens ``T`` with ``⌊k·T⌋ >= 1`` (the registry's ``min_tokens``)."""
    return _ops.min_count_for(_ops.check_fraction("min_k_plus_plus", "k", k))


@register_attack(
    "min_k_plus_plus",
    needs=("token_log_prob", "mean_log_prob", "var_log_prob"),
    paper="2404.02936",
    min_tokens=tokens_needed,
)
def min_k_plus_plus(signals: SignalView, *, k: float = 0.2) -> AttackOutput:
    """Mean of the ⌊k·T⌋ smallest standardised token log-probs (Min-K%++).

    Formula: ``z_t = (ℓ_t − μ_t) / σ_t`` with ``μ_t = Σ_v p_t(v) log p_t(v)`` and
    ``σ_t = sqrt(Σ_v p_t(v) (log p_t(v) − μ_t)²)``: the mean and standard deviation of
    ``log p_t(·)`` *weighted by the next-token distribution p_t itself* (signals
    ``mean_log_prob`` and ``var_log_prob``). This is the paper's statistic, NOT the
    unweighted mean and std of log-softmax over the vocabulary that some toolkits use.
    The score is the mean of the ``m = ⌊k·T⌋`` smallest ``z_t`` (flooring as in ``min_k``).
    Where ``σ_t == 0`` (a one-hot distribution, nothing to standardise against) we define
    ``z_t = 0``: the token is neither surprising nor confirming.

    Paper: arXiv 2404.02936 (Zhang et al.).

    Sign: higher = more likely member (members sit near local maxima of the likelihood, so
    their tokens score high relative to the distribution).

    NaN policy: NaN with a reason where the sample has no scored tokens, NaN in any of the
    three signals, a negative ``var_log_prob``, or ``⌊k·T⌋ == 0`` (too short: the same reason
    as ``min_k``'s for the same ``k``). A ``k`` too small for every text is refused before the
    model loads (``min_tokens``).

    Args:
        signals: a view with ``target/plain:`` ``token_log_prob``, ``mean_log_prob`` and
            ``var_log_prob``.
        k: the share of tokens kept, ``0 < k <= 1``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        InvalidParameterError: ``k`` is not in ``(0, 1]``.
    """
    k = _ops.check_fraction("min_k_plus_plus", "k", k)
    reasons = _ops.Reasons(signals.n_samples)
    log_prob, offsets = _ops.token_values(signals, reasons, "token_log_prob")
    mu, _ = _ops.token_values(signals, reasons, "mean_log_prob")
    var, _ = _ops.token_values(signals, reasons, "var_log_prob")
    reasons.add(
        _ops.segment_any(var < 0, offsets),
        "negative var_log_prob in target/plain (corrupt signal table?)",
    )
    counts = np.diff(offsets)
    reasons.add(_ops.k_count(k, counts) == 0, _ops.too_short_reason(f"k={k:g}", tokens_needed(k=k)))
    with np.errstate(invalid="ignore"):
        sigma = np.sqrt(var)  # (n_tokens,); NaN where var < 0, already flagged above
    z = np.zeros_like(log_prob)
    np.divide(log_prob - mu, sigma, out=z, where=sigma > 0)
    scores = _ops.min_k_mean(z, offsets, k)
    return reasons.output(scores, fallback="non-finite Min-K%++ mean (infinite signal values?)")
