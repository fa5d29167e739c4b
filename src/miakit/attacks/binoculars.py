"""The Binoculars attack: performer perplexity over observer-performer cross-perplexity."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack

_PAIR = "performer@observer"


@register_attack(
    "binoculars",
    needs=("performer/plain:token_log_prob", f"{_PAIR}/plain:cross_mean_log_prob"),
    paper="2401.12070",
)
def binoculars(signals: SignalView) -> AttackOutput:
    """Negative Binoculars score: log-perplexity relative to cross-perplexity (Binoculars).

    Formula: ``B = (−mean_t ℓ^perf_t) / (−mean_t x_t)`` and ``score = −B``, where
    ``ℓ^perf_t`` is the performer's log-prob of token ``t`` and
    ``x_t = Σ_v q^obs_t(v) log p^perf_t(v)`` (signal ``cross_mean_log_prob`` of the paired
    role ``performer@observer``) is minus the cross-entropy of the observer's next-token
    distribution to the performer's, so ``−mean_t x_t`` is the log cross-perplexity. This
    follows the official implementation (``ppl`` from the performer's logits, ``x_ppl`` with
    observer probabilities weighting performer log-probs). Both means run over the same
    scored tokens; the official code also averages the cross term over the position after the
    last token (T positions against T − 1), which we do not. The performer defaults to the
    target (``--performer`` overrides); the observer (``--observer``) must share its
    tokenizer.

    Paper: arXiv 2401.12070 (Hans et al.); as a membership score in MINT (arXiv 2510.19492),
    which uses ``1 − B`` (the same ranking).

    Sign: higher = more likely member (members have low perplexity relative to how surprising
    the performer finds the observer's predictions, as machine text does for a detector).

    NaN policy: NaN with a reason for a sample with no scored tokens, NaN in either signal,
    different token counts in the two tables (they come from one tokenization), or a zero
    cross-perplexity (every distribution one-hot and agreeing: the ratio is undefined).

    Args:
        signals: a view with ``performer/plain:token_log_prob`` and
            ``performer@observer/plain:cross_mean_log_prob``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    log_ppl = -_ops.mean_token_log_prob(signals, reasons, model="performer")
    cross, pair_offsets = _ops.token_values(signals, reasons, "cross_mean_log_prob", model=_PAIR)
    _, offsets = signals.flat("token_log_prob", model="performer")
    _ops.require_same_tokens(reasons, offsets, pair_offsets, "performer/plain", f"{_PAIR}/plain")
    log_x_ppl = -_ops.segment_mean(cross, pair_offsets)
    reasons.add(log_x_ppl == 0, "zero cross-perplexity: the Binoculars ratio is undefined")
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = -(log_ppl / log_x_ppl)
    return reasons.output(scores, fallback="non-finite Binoculars score (infinite signals?)")
