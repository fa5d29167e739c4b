"""Fast-DetectGPT (analytic) with a separate sampling model sharing the target's tokenizer."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack

_PAIR = "target@sampling_model"


@register_attack(
    "fast_detectgpt_ref",
    needs=(
        "token_log_prob",
        f"{_PAIR}/plain:cross_mean_log_prob",
        f"{_PAIR}/plain:cross_second_moment",
    ),
    paper="2310.05130",
)
def fast_detectgpt_ref(signals: SignalView) -> AttackOutput:
    """Analytic sampling discrepancy with samples from a separate model (Fast-DetectGPT).

    Formula: ``score = (Σ_t ℓ_t − Σ_t μ̃_t) / sqrt(Σ_t σ̃²_t)`` where ``ℓ_t`` is the target's
    token log-prob and, with ``p_t`` the target's and ``q_t`` the sampling model's next-token
    distribution, ``μ̃_t = Σ_v q_t(v) log p_t(v)`` (signal ``cross_mean_log_prob`` of the
    paired role ``target@sampling_model``) and ``σ̃²_t = Σ_v q_t(v) (log p_t(v))² − μ̃_t²``
    (``cross_second_moment − μ̃_t²``): the mean and variance of the target's log-prob of a
    token sampled from ``q_t``. As in the official code the variance is the raw second moment
    minus the squared mean; its float32 rounding can make it slightly negative, so each
    ``σ̃²_t`` is clamped at 0. The sampling model (``--sampling-model``) must share the
    target's tokenizer. With sampling = target this is ``fast_detectgpt``.

    Paper: arXiv 2310.05130 (Bao et al.), ``get_sampling_discrepancy_analytic`` with
    ``logits_ref`` from the sampling model and ``logits_score`` from the target.

    Sign: higher = more likely member (the text is likelier under the target than the
    sampling model's texts are).

    NaN policy: NaN with a reason for a sample with no scored tokens, NaN in any signal,
    different token counts in the two tables (they come from one tokenization), or
    ``Σ_t σ̃²_t == 0`` (nothing to standardise against).

    Args:
        signals: a view with ``target/plain:token_log_prob`` and
            ``target@sampling_model/plain:`` ``cross_mean_log_prob`` and ``cross_second_moment``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    log_prob, offsets = _ops.token_values(signals, reasons, "token_log_prob")
    mu, pair_offsets = _ops.token_values(signals, reasons, "cross_mean_log_prob", model=_PAIR)
    second, _ = _ops.token_values(signals, reasons, "cross_second_moment", model=_PAIR)
    _ops.require_same_tokens(reasons, offsets, pair_offsets, "target/plain", f"{_PAIR}/plain")
    aligned = np.array_equal(offsets, pair_offsets)
    var = np.maximum(second - mu * mu, 0.0)  # (n_pair_tokens,), clamped float32 rounding
    total_var = _ops.segment_sum(var, pair_offsets)
    reasons.add(
        (total_var == 0) & (np.diff(pair_offsets) > 0),
        "zero variance: the sampling model's next-token distributions give the target's "
        "log-prob no spread (nothing to standardise)",
    )
    if aligned:
        discrepancy = _ops.segment_sum(log_prob - mu, offsets)
    else:  # mismatched samples are NaN already; sum each table over its own tokens
        discrepancy = _ops.segment_sum(log_prob, offsets) - _ops.segment_sum(mu, pair_offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = discrepancy / np.sqrt(total_var)
    return reasons.output(scores, fallback="non-finite Fast-DetectGPT score (infinite signals?)")
