"""The Fast-DetectGPT attack (analytic), with the target as its own sampling model."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack


@register_attack(
    "fast_detectgpt",
    needs=("token_log_prob", "mean_log_prob", "var_log_prob"),
    paper="2310.05130",
)
def fast_detectgpt(signals: SignalView) -> AttackOutput:
    """Analytic sampling discrepancy of the text under the target model (Fast-DetectGPT).

    Formula: ``score = (Σ_t ℓ_t − Σ_t μ_t) / sqrt(Σ_t σ²_t)`` over the ``T`` scored tokens,
    with ``ℓ_t`` the token's log-prob, and ``μ_t = Σ_v p_t(v) log p_t(v)`` and
    ``σ²_t = Σ_v p_t(v) (log p_t(v) − μ_t)²`` the mean and variance of ``log p_t(X)`` for a
    token ``X`` sampled from ``p_t`` (signals ``mean_log_prob``, ``var_log_prob``; the
    variance is stored centred, never as ``E[x²] − μ²``). It is the standardised log-likelihood
    of the text against texts sampled from the model itself, computed analytically; with the
    target as its own sampling model it is a sequence-level Min-K%++ at k = 100% with a
    pooled variance. See ``fast_detectgpt_ref`` for a separate sampling model.

    Paper: arXiv 2310.05130 (Bao et al.), ``get_sampling_discrepancy_analytic``; used as a
    membership score by MINT (arXiv 2510.19492).

    Sign: higher = more likely member (the text is likelier than the model's own samples, as
    machine text is for a detector).

    NaN policy: NaN with a reason for a sample with no scored tokens, NaN in any signal, a
    negative ``var_log_prob``, or ``Σ_t σ²_t == 0`` (every next-token distribution one-hot:
    nothing to standardise against).

    Args:
        signals: a view with ``target/plain:`` ``token_log_prob``, ``mean_log_prob`` and
            ``var_log_prob``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    log_prob, offsets = _ops.token_values(signals, reasons, "token_log_prob")
    mu, _ = _ops.token_values(signals, reasons, "mean_log_prob")
    var, _ = _ops.token_values(signals, reasons, "var_log_prob")
    reasons.add(
        _ops.segment_any(var < 0, offsets),
        "negative var_log_prob in target/plain (corrupt signal table?)",
    )
    total_var = _ops.segment_sum(var, offsets)  # (n_samples,)
    reasons.add(
        (total_var == 0) & (np.diff(offsets) > 0),
        "zero variance: every next-token distribution is one-hot (nothing to standardise)",
    )
    discrepancy = _ops.segment_sum(log_prob - mu, offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = discrepancy / np.sqrt(total_var)
    return reasons.output(scores, fallback="non-finite Fast-DetectGPT score (infinite signals?)")
