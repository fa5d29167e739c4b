"""The entropy attack: the target's mean next-token entropy, negated (low entropy = member)."""

from __future__ import annotations

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack


@register_attack("entropy", needs=("mean_log_prob",), paper="2510.19492")
def entropy(signals: SignalView) -> AttackOutput:
    """Negative mean entropy of the target's next-token distributions (Entropy).

    Formula: ``score = mean_t μ_t = −mean_t H(p_t)`` with ``μ_t = Σ_v p_t(v) log p_t(v)``
    (signal ``mean_log_prob``; ``H(p_t) = −μ_t`` is the entropy of the distribution that
    predicts scored token ``t``), averaged over the ``T`` scored positions. The text's own
    tokens enter only through the positions they condition on.

    Paper: arXiv 2510.19492 (Koike et al., "Machine Text Detectors are Membership Inference
    Attacks", MINT, whose ``entropy`` baseline this is); entropy as a detection statistic goes
    back to GLTR (Gehrmann et al., arXiv 1906.04043).

    Sign: higher = more likely member (a model is more confident, its next-token
    distributions have lower entropy, on text it was trained on).

    NaN policy: NaN with a reason for a sample with no scored tokens or with NaN
    ``mean_log_prob``, and where a ``mean_log_prob`` is positive (impossible: a corrupt table).

    Args:
        signals: a view with ``target/plain:mean_log_prob``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    mu, offsets = _ops.token_values(signals, reasons, "mean_log_prob")
    reasons.add(
        _ops.segment_any(mu > 0, offsets),
        "positive mean_log_prob in target/plain (corrupt signal table?)",
    )
    scores = _ops.segment_mean(mu, offsets)
    return reasons.output(scores, fallback="non-finite mean entropy (infinite mean_log_prob?)")
