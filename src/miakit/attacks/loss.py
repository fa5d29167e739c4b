"""The LOSS attack: the average token log-likelihood of the text under the target model."""

from __future__ import annotations

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack


@register_attack("loss", needs=("token_log_prob",), paper="1709.01604")
def loss(signals: SignalView) -> AttackOutput:
    """Average token log-likelihood under the target model (LOSS attack).

    Formula: ``score = mean_t ℓ_t = −NLL``, with ``ℓ_t = log p(x_t | x_<t)`` (natural log)
    over the scored tokens of the text.

    Paper: arXiv 2112.03570 (Carlini et al., the LOSS baseline); introduced by Yeom et al.,
    arXiv 1709.01604.

    Sign: higher = more likely member (members have lower loss).

    NaN policy: NaN with a reason for a sample with no scored tokens or with NaN log-probs.

    Args:
        signals: a view with ``target/plain:token_log_prob``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    scores = _ops.mean_token_log_prob(signals, reasons)
    return reasons.output(scores, fallback="non-finite mean log-prob (infinite token_log_prob?)")
