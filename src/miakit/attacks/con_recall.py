"""The Con-ReCall attack: ReCaLL contrasted between a non-member and a member prefix."""

from __future__ import annotations

import math
import numbers

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack
from miakit.attacks._spans import common_span_means
from miakit.attacks.recall import NONMEMBER_CONTEXT
from miakit.errors import InvalidParameterError

#: The context holding the member prefix (built by the run from ``--aux-members``).
MEMBER_CONTEXT = "recall_member"
#: The γ grid ``--calibrate`` searches: 0.0 (plain ReCaLL) to 1.0 in steps of 0.1, the paper's
#: range {0.1, …, 1.0} plus 0 (on ties the value listed first wins).
GAMMA_GRID = tuple(round(0.1 * i, 1) for i in range(11))


@register_attack(
    "con_recall",
    needs=(
        "token_log_prob",
        f"{NONMEMBER_CONTEXT}:token_log_prob",
        f"{MEMBER_CONTEXT}:token_log_prob",
    ),
    paper="2409.03363",
    calibration={"gamma": GAMMA_GRID},
)
def con_recall(signals: SignalView, *, gamma: float = 1.0) -> AttackOutput:
    """Contrast of the log-likelihoods after a non-member and a member prefix (Con-ReCall).

    Formula: ``score = (LL(x | P_nonmember) − γ·LL(x | P_member)) / LL(x)`` with
    ``LL = mean_t ℓ_t`` over the tokens of ``x`` only (prefix tokens are never scored; see
    ``recall`` for the masking, the tokenization and how shots are joined). All three LLs are
    means over the same text tokens: those scored in all three contexts (the two prefixes
    may have different lengths, so truncation to ``max_length`` can cut ``x`` at three
    different places; without BOS text token 0 is left out; see ``recall``). ``P_nonmember``
    comes from ``--aux-nonmembers`` and ``P_member`` from ``--aux-members`` (texts known to be
    in the training data), each ``--recall-shots`` texts drawn with the run seed; neither set
    may share a text with the evaluation data. ``γ = 0`` is ReCaLL.

    The choice of γ: the paper sweeps γ over {0.1, …, 1.0} (official ``run.py``) and reports
    the best value, which is chosen on the evaluation data itself. Here γ is either fixed in
    advance, by default ``γ = 1.0`` (the top of the paper's range, an equal-weight contrast of
    the two contexts; the value the SoK benchmark ``mia_llms_benchmark`` fixes), or chosen by
    ``--calibrate FILE`` on a separate labelled calibration set by AUROC over the grid
    0.0, 0.1, …, 1.0 (:mod:`miakit.inference.calibrate`), never on the evaluation labels.

    Paper: arXiv 2409.03363 (Wang et al., Con-ReCall).

    Sign: higher = more likely member (as in the official code, which uses the expression
    directly as a higher-is-member score): a member prefix raises a member's likelihood
    little and a non-member prefix lowers it much, so the numerator is more negative
    relative to ``LL(x)``.

    NaN policy: NaN with a reason where any of the three contexts has no scored tokens or NaN
    log-probs, where no text token is scored in all three (raise ``--max-length`` or use
    fewer or shorter shots), or where ``LL(x) == 0``.

    Args:
        signals: a view with ``target/plain:token_log_prob``,
            ``target/recall_nonmember:token_log_prob`` and
            ``target/recall_member:token_log_prob``.
        gamma: weight γ >= 0 of the member-prefix log-likelihood.

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        InvalidParameterError: ``gamma`` is not a finite number >= 0.
    """
    if (
        isinstance(gamma, bool)
        or not isinstance(gamma, numbers.Real)
        or not math.isfinite(float(gamma))
        or float(gamma) < 0
    ):
        raise InvalidParameterError(
            f"attack 'con_recall': gamma must be a finite number >= 0 (the weight of the "
            f"member-prefix log-likelihood); got {gamma!r}. The paper uses 0.1 to 1.0."
        )
    reasons = _ops.Reasons(signals.n_samples)
    ll, ll_nonmember, ll_member = common_span_means(
        signals,
        reasons,
        [("target", "plain"), ("target", NONMEMBER_CONTEXT), ("target", MEMBER_CONTEXT)],
    )
    reasons.add(ll == 0, "LL(x) is 0 (all tokens have probability 1): the ratio is undefined")
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = (ll_nonmember - float(gamma) * ll_member) / ll
    return reasons.output(scores, fallback="non-finite Con-ReCall score (infinite log-prob?)")
