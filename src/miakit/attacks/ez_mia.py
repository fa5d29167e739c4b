"""EZ-MIA: the directional imbalance of the fine-tune's shift at the target's error positions."""

from __future__ import annotations

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack

#: The paired role: the target's tokens, the reference's log-prob of each (one tokenizer).
_PAIR = "target@reference"


@register_attack(
    "ez_mia",
    needs=("token_log_prob", "token_rank", f"{_PAIR}/plain:cross_token_log_prob"),
    paper="2601.12104",
    default=False,
)
def ez_mia(signals: SignalView) -> AttackOutput:
    """Error Zone score: upward over total shift of the true token where the target errs (EZ-MIA).

    Formula (Ilić, Stanojević & Cvejoski, arXiv 2601.12104, §3.3-3.4): with
    ``Δ_t = log p_T(x_t | x_<t) − log p_R(x_t | x_<t)`` (target minus reference, signals
    ``token_log_prob`` and ``cross_token_log_prob`` of the paired role ``target@reference``)
    and the *error positions* ``E = {t : argmax_v p_T(v | x_<t) ≠ x_t}`` (``token_rank ≥ 1``:
    some token has a strictly higher logit than ``x_t``; a tie for the top counts as correct),
    ``P = Σ_{t∈E} max(Δ_t, 0)``, ``N = Σ_{t∈E} max(−Δ_t, 0)`` and the paper's score is
    ``EZ = P / N``. We return ``P / (P + N) = EZ / (1 + EZ)``, a strictly increasing function
    of ``EZ`` (every rank-based metric, AUROC and TPR at any FPR, is the paper's) that stays
    finite where ``EZ`` is infinite. Where ``N = 0 < P`` (every shift upward) the score is
    1, the limit of ``EZ → ∞``; where ``P = N = 0`` (no error position, or no shift at any)
    the text carries no evidence either way and scores 0.5, the neutral middle. The authors'
    published code (JetBrains-Research/ez-mia, and LeakPro's port) differs in three details we
    do not copy: it scores 0 whenever ``N = 0`` (ranking an all-upward text, the strongest
    member evidence, as the least likely member: a division guard, not a rule of the paper)
    and whenever fewer than 2 error positions remain, and it drops the first predicted
    position of each text; here every scored token counts, as for ``loss``.

    The reference is the pretrained base model the target was fine-tuned from
    (``--reference``). It must share the target's tokenizer: the planner refuses another
    before any forward pass (the paired-role check), and both log-probs are read at the same
    token ids.

    Paper: arXiv 2601.12104 (Ilić et al., JetBrains Research).

    Sign: higher = more likely member (fine-tuning raised the true token's probability even
    where the target still predicts another token).

    Not run by default (it needs a reference sharing the target's tokenizer; ``reference``
    accepts any tokenizer): ask for it with ``--attacks ez_mia --reference BASE``.

    NaN policy: NaN with a reason for a sample with no scored tokens, NaN in any signal, a
    negative ``token_rank`` (a corrupt table) or different token counts in the two tables
    (they come from one tokenization).

    Args:
        signals: a view with ``target/plain:`` ``token_log_prob`` and ``token_rank`` and
            ``target@reference/plain:cross_token_log_prob``.

    Returns:
        Scores of shape ``(n_samples,)`` in ``[0, 1]``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    log_prob, offsets = _ops.token_values(signals, reasons, "token_log_prob")
    ranks, rank_offsets = _ops.checked_ranks(signals, reasons)
    ref, pair_offsets = _ops.token_values(signals, reasons, "cross_token_log_prob", model=_PAIR)
    _ops.require_same_tokens(reasons, offsets, pair_offsets, "target/plain", f"{_PAIR}/plain")
    if not (np.array_equal(offsets, pair_offsets) and np.array_equal(offsets, rank_offsets)):
        # misaligned tables (never from one run): the counts that differ have their reason
        return reasons.output(
            np.full(signals.n_samples, np.nan),
            fallback=f"target/plain and {_PAIR}/plain are misaligned (mismatched signal tables?)",
        )
    error = ranks >= 1  # (n_tokens,) the target's top token is not x_t
    delta = np.where(error, log_prob - ref, 0.0)
    up = _ops.segment_sum(np.maximum(delta, 0.0), offsets)
    down = _ops.segment_sum(np.maximum(-delta, 0.0), offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(up + down > 0, up / (up + down), 0.5)
    return reasons.output(scores, fallback="non-finite EZ score (infinite log-probs?)")
