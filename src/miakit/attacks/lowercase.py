"""The lowercase attack: NLL of the lowercased text relative to NLL of the text."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack
from miakit.attacks._spans import require_same_characters


@register_attack(
    "lowercase", needs=("token_log_prob", "lowercase:token_log_prob"), paper="2012.07805"
)
def lowercase(signals: SignalView) -> AttackOutput:
    """Ratio of the target's NLL on the lowercased text to its NLL on the original text.

    Formula: ``score = NLL(lower(text)) / NLL(text)`` with ``NLL = −mean_t ℓ_t`` over each
    context's own scored tokens (lowercasing may change the tokenization and token count).
    A model that memorised the exact casing assigns the original a low NLL, which lowercasing
    destroys, so the ratio is high for members.

    Paper: arXiv 2012.07805 (Carlini et al.). Other toolkits use ``−NLL(lower)/NLL`` or
    ``−NLL/NLL(lower)``; only the form differs, this one keeps higher = member.

    Sign: higher = more likely member.

    Truncation: where ``max_length`` cut the text in either context, the two contexts cover
    different characters (lowercasing changes the tokenization), so the ratio would compare
    different text: the score is NaN with a reason, unless both kept tokens end at the same
    character (``TokenSignals.kept_chars``).

    NaN policy: NaN with a reason where either context has no scored tokens or NaN
    log-probs, where truncation left them covering different characters (raise
    ``--max-length``), or where ``NLL(text) == 0`` (every token predicted with probability 1).

    Args:
        signals: a view with ``target/plain:token_log_prob`` and
            ``target/lowercase:token_log_prob``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    nll = -_ops.mean_token_log_prob(signals, reasons)
    nll_lower = -_ops.mean_token_log_prob(signals, reasons, context="lowercase")
    require_same_characters(
        signals,
        reasons,
        ("target", "plain"),
        ("target", "lowercase"),
        why="the lowercased text has its own tokens",
    )
    reasons.add(nll == 0, "NLL of the original text is 0 (all tokens have probability 1)")
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = nll_lower / nll
    return reasons.output(scores, fallback="non-finite NLL ratio (infinite token_log_prob?)")
