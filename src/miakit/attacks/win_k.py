"""The windowed Min-K attack: Min-K% over sliding-window averages of token log-probs."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack


def tokens_needed(*, k: float = 0.2, window: int = 3) -> int:
    """The fewest scored tokens ``T`` with ``⌊k·(T − w + 1)⌋ >= 1`` (the registry's
    ``min_tokens``)."""
    k = _ops.check_fraction("win_k", "k", k)
    return _ops.min_count_for(k) + _ops.check_positive_int("win_k", "window", window) - 1


@register_attack("win_k", needs=("token_log_prob",), paper="2508.01268", min_tokens=tokens_needed)
def win_k(signals: SignalView, *, k: float = 0.2, window: int = 3) -> AttackOutput:
    """Mean of the lowest k share of sliding-window averages of token log-probs (WinK).

    Formula: with ``T`` scored tokens and ``w = window``, form the ``W = T − w + 1`` window
    averages ``a_j = (1/w) Σ_{t=j}^{j+w−1} ℓ_t`` (stride 1, windows never cross samples), then
    the score is the mean of the ``m = ⌊k·W⌋`` smallest ``a_j`` (same flooring tolerance as
    ``min_k``). ``window = 1`` is exactly ``min_k``; averaging smooths single-token outliers.

    Paper: arXiv 2508.01268.

    Sign: higher = more likely member.

    NaN policy: NaN with a reason where the sample has no scored tokens, NaN log-probs, or
    too few tokens for one selected window (``T < w`` or ``⌊k·W⌋ == 0``; the reason says how
    many tokens are needed). Settings too demanding for every text are refused before the
    model loads (``min_tokens``).

    Args:
        signals: a view with ``target/plain:token_log_prob``.
        k: the share of windows kept, ``0 < k <= 1``.
        window: tokens per window, an integer ``>= 1``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        InvalidParameterError: ``k`` is not in ``(0, 1]`` or ``window`` is not an integer >= 1.
    """
    k = _ops.check_fraction("win_k", "k", k)
    window = _ops.check_positive_int("win_k", "window", window)
    reasons = _ops.Reasons(signals.n_samples)
    log_prob, offsets = _ops.token_values(signals, reasons, "token_log_prob")
    averages, win_offsets = _ops.window_means(log_prob, offsets, window)
    reasons.add(
        _ops.k_count(k, np.diff(win_offsets)) == 0,
        _ops.too_short_reason(f"k={k:g}, window={window}", tokens_needed(k=k, window=window)),
    )
    scores = _ops.min_k_mean(averages, win_offsets, k)
    return reasons.output(scores, fallback="non-finite WinK mean (infinite token_log_prob?)")
