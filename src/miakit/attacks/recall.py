"""The ReCaLL attack: how much a non-member prefix lowers the text's log-likelihood."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack
from miakit.attacks._spans import common_span_means

#: The context holding the non-member prefix (built by the run from ``--aux-nonmembers``).
NONMEMBER_CONTEXT = "recall_nonmember"


@register_attack(
    "recall",
    needs=("token_log_prob", f"{NONMEMBER_CONTEXT}:token_log_prob"),
    paper="2406.15968",
)
def recall(signals: SignalView) -> AttackOutput:
    """Ratio of the text's log-likelihood after a non-member prefix to its plain one (ReCaLL).

    Formula: ``score = LL(x | P) / LL(x)`` with ``LL = mean_t ℓ_t`` (mean token
    log-likelihood, natural log) over the tokens of ``x`` only. ``P`` is the concatenation of
    ``n`` non-member texts ("shots", ``--recall-shots``, default 5) drawn with the run seed
    from an auxiliary non-member set (``--aux-nonmembers``) that shares no text with the
    evaluation data; shots are joined with ``--recall-separator`` (default ``""``, as in the
    official code, which calls ``"".join(prefix)``). The prefix tokens are fed to the model but
    never scored: context ``recall_nonmember`` scores the tokens of ``x`` only, its first token
    predicted from the prefix's last token. (Scoring prefix plus text, as some toolkits do, is
    a different statistic dominated by the prefix.) Prefix and text are tokenized separately,
    so text token ``j`` has the same id in both contexts.

    Both LLs are means over the same text tokens, the *common span*: the tokens scored in
    both contexts (:func:`miakit.attacks._spans.common_span_means`). Two cases make the
    contexts differ. (1) Truncation: ``max_length`` counts the prefix, so a text that fits
    alone may be cut after the prefix; the plain LL then stops where the prefixed one does.
    The official code never truncates ``x`` (it drops shots until prefix plus text fits);
    dropping shots per text would give each text its own prefix and lose the one shared
    prefix run here once for all texts (``prefix_reuse``), so the text is cut instead, equally
    in both contexts. (2) Without a BOS token the plain context cannot score text token 0
    (nothing precedes it) while the prefix context can; token 0 is left out of both. (The
    official code keeps it in the prefixed mean only, so without BOS and truncation the
    scores here differ from it by that one token.)

    Paper: arXiv 2406.15968 (Xie et al., ReCaLL).

    Sign: higher = more likely member. Both LLs are negative, so the ratio is positive; a
    non-member prefix lowers a member's log-likelihood more (relative to its plain one) than a
    non-member's, which raises the ratio. The official code uses ``LL(x|P)/LL(x)`` directly as
    a higher-is-member score.

    NaN policy: NaN with a reason where either context has no scored tokens or NaN
    log-probs, where the common span is empty (the prefix left room only for text tokens the
    plain context cannot score: raise ``--max-length`` or use fewer or shorter shots), or
    where ``LL(x) == 0`` (every token predicted with probability 1).

    Args:
        signals: a view with ``target/plain:token_log_prob`` and
            ``target/recall_nonmember:token_log_prob``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    ll, ll_prefixed = common_span_means(
        signals, reasons, [("target", "plain"), ("target", NONMEMBER_CONTEXT)]
    )
    reasons.add(ll == 0, "LL(x) is 0 (all tokens have probability 1): the ratio is undefined")
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = ll_prefixed / ll
    return reasons.output(scores, fallback="non-finite ReCaLL ratio (infinite token_log_prob?)")
