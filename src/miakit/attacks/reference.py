"""The reference attack: target NLL calibrated by a reference model's NLL (difference)."""

from __future__ import annotations

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack
from miakit.attacks._spans import require_same_characters


@register_attack(
    "reference", needs=("token_log_prob", "reference/plain:token_log_prob"), paper="2012.07805"
)
def reference(signals: SignalView) -> AttackOutput:
    """Reference-model NLL minus target-model NLL (reference calibration, difference form).

    Formula: ``score = NLL_R − NLL_T = −(NLL_T − NLL_R)``, with ``NLL_M = −mean_t ℓ_t`` under
    model ``M``. Each NLL is a mean over *that model's own* scored tokens: the reference may
    use another tokenizer, so the two tables may have different token counts per sample (the
    model-specific token count cancels in the per-token mean, so no re-tokenization is
    needed; scoring the reference with the target's tokenizer would be a bug).

    Papers: arXiv 2012.07805 (Carlini et al.), arXiv 2111.08440 (Watson et al.,
    difficulty calibration), arXiv 2402.07841 (MIMIR). See ``reference_ratio`` for the ratio.

    Sign: higher = more likely member (the target finds the text easier than the reference).

    Truncation: where ``max_length`` cut the text for either model, the two NLLs cover the
    same text only if both models' kept tokens end at the same character
    (``TokenSignals.kept_chars``; e.g. a reference with the target's tokenizer); otherwise the
    score is NaN with a reason (raise ``--max-length``).

    NaN policy: NaN with a reason where either table has no scored tokens or NaN log-probs,
    or where truncation left them covering different characters.

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
    return reasons.output(
        nll_reference - nll_target, fallback="non-finite NLL (infinite token_log_prob?)"
    )
