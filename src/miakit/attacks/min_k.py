"""The Min-K% Prob attack: the mean of the lowest k share of token log-probs."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack


def tokens_needed(*, k: float = 0.2) -> int:
    """The fewest scored tokens ``T`` with ``⌊k·T⌋ >= 1`` (the registry's ``min_tokens``)."""
    return _ops.min_count_for(_ops.check_fraction("min_k", "k", k))


@register_attack("min_k", needs=("token_log_prob",), paper="2310.16789", min_tokens=tokens_needed)
def min_k(signals: SignalView, *, k: float = 0.2) -> AttackOutput:
    """Mean log-prob of the ⌊k·T⌋ least likely tokens of the text (Min-K% Prob).

    Formula: ``score = (1/m) Σ_{t ∈ S} ℓ_t`` where ``S`` holds the ``m = ⌊k·T⌋`` smallest
    ``ℓ_t`` among the ``T`` scored tokens (ties broken by position; the value is the same).
    ``k·T`` is floored with a 1e-9 tolerance so that e.g. 0.29 · 100 selects 29 tokens.
    ``k = 1`` gives the LOSS score. Outlier tokens with very low probability are rarer in
    members.

    Paper: arXiv 2310.16789 (Shi et al.). MIMIR's min_k is this score negated.

    Sign: higher = more likely member.

    NaN policy: NaN with a reason where the sample has no scored tokens, NaN log-probs, or
    ``⌊k·T⌋ == 0`` ("too short for k=0.2: needs at least 5 scored tokens"; the same text for
    every such sample, so that warnings group them; each sample's ``T`` is in
    ``samples.parquet``). A ``k`` too small for every text is refused before the model loads
    (``min_tokens``).

    Args:
        signals: a view with ``target/plain:token_log_prob``.
        k: the share of tokens kept, ``0 < k <= 1``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        InvalidParameterError: ``k`` is not in ``(0, 1]``.
    """
    k = _ops.check_fraction("min_k", "k", k)
    reasons = _ops.Reasons(signals.n_samples)
    log_prob, offsets = _ops.token_values(signals, reasons, "token_log_prob")
    counts = np.diff(offsets)
    reasons.add(_ops.k_count(k, counts) == 0, _ops.too_short_reason(f"k={k:g}", tokens_needed(k=k)))
    scores = _ops.min_k_mean(log_prob, offsets, k)
    return reasons.output(scores, fallback="non-finite Min-K mean (infinite token_log_prob?)")
