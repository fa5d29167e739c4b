"""The reference-ratio attack: target NLL calibrated by a reference model's NLL (ratio)."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack
from miakit.attacks._spans import require_same_characters


@register_attack(
    "reference_ratio",
    needs=("token_log_prob", "reference/plain:token_log_prob"),
    paper="2012.07805",
)
def reference_ratio(signals: SignalView) -> AttackOutput:
    """Negated ratio of target-model NLL to reference-model NLL (reference calibration).

    Formula: ``score = −NLL_T / NLL_R``, with ``NLL_M = −mean_t ℓ_t`` under model ``M``,
    each over that model's own scored tokens (the tokenizers may differ).

    Papers: arXiv 2012.07805 (Carlini et al.), arXiv 2111.08440 (Watson et al.),
    arXiv 2402.07841 (MIMIR). See ``reference`` for the difference form.

    Sign: higher = more likely member (a small target NLL relative to the reference's).

    Truncation: where ``max_length`` cut the text for either model, the two NLLs cover the
    same text only if both models' kept tokens end at the same character
    (``TokenSignals.kept_chars``; e.g. a reference with the target's tokenizer); otherwise the
    score is NaN with a reason (raise ``--max-length``).

    NaN policy: NaN with a reason where either table has no scored tokens or NaN log-probs,
    where truncation left them covering different characters,
    or where ``NLL_R == 0`` (the reference predicts every token with probability 1).

    Args:
        signals: a view with ``target/plain:token_log_prob`` and
            ``reference/plain:token_log_prob``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    nll_target = -_ops.mean_token_log_prob(signals, reasons)
    nll_reference = -_ops.mean_token_log_prob(signals, reasons, model="reference")
    require_same_characters(
        signals,
        reasons,
        ("target", "plain"),
        ("reference", "plain"),
        why="the two models tokenize the text apart",
    )
    reasons.add(nll_reference == 0, "reference NLL is 0 (all tokens have probability 1)")
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = -nll_target / nll_reference
    return reasons.output(scores, fallback="non-finite NLL ratio (infinite token_log_prob?)")
