"""The supervised white-box attack: a classifier of gradient and token features, trained on
known members and non-members (Pandora's White-Box, arXiv 2402.17012).

The features of a text (:func:`features`) are computed from what the run already caches: its
per-token signals under the target (the statistics of ``token_log_prob`` and ``token_rank``,
the scores of ``loss``, ``min_k`` and ``zlib``) and its per-layer gradient norms (the extra
``grad_norms`` of :mod:`miakit.attacks.gradnorm`). The classifier (:class:`WhiteboxModel`,
extra ``whitebox_model``) is fitted by :mod:`miakit.pipeline.providers.whitebox` on the
labelled calibration split of ``--calibrate`` alone, from the same features of its texts; the
attack only applies it, so it never sees an evaluation label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack
from miakit.attacks.gradnorm import GRAD_EXTRA, GradNorms
from miakit.attacks.zlib import zlib_bytes
from miakit.errors import InvalidParameterError

#: The extra holding the fitted classifier (:class:`WhiteboxModel`).
MODEL_EXTRA = "whitebox_model"
#: Quantiles of the token log-likelihoods used as features.
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
#: The share of least likely tokens of the Min-K% feature (min_k's default).
MIN_K = 0.2

TOKEN_FEATURES = (
    "token.mean_log_prob",  # the loss score
    "token.std_log_prob",
    "token.min_log_prob",
    "token.max_log_prob",
    *(f"token.q{round(q * 100):02d}_log_prob" for q in QUANTILES),
    "token.min_k_20",  # the min_k score at k = 0.2 (at least one token)
    "token.zlib_ratio",  # the zlib score
    "token.mean_log_rank",  # mean log(1 + rank)
    "token.log_n_tokens",
)


@dataclass(frozen=True)
class WhiteboxModel:
    """A fitted linear classifier of named features: log-odds of membership.

    ``z = (x − mean) / scale`` (a missing or non-finite value, and every value of a feature
    with no finite training value, ``mean`` NaN, becomes 0: the training mean), then
    ``log_odds = z · coef + intercept``.

    Attributes:
        features: the feature names, shape ``(f,)``, as :func:`features` names them.
        mean, scale, coef: shape ``(f,)``.
        intercept: the intercept.
    """

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        """``(n,)`` log-odds of membership of the raw feature rows ``x`` ``(n, f)``."""
        with np.errstate(invalid="ignore"):
            z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        return np.asarray(np.where(np.isfinite(z), z, 0.0) @ self.coef + self.intercept)


def _token_row(lp: np.ndarray, rank: np.ndarray, text: str) -> list[float]:
    m = max(1, int(np.floor(MIN_K * len(lp) + 1e-9)))
    return [
        float(lp.mean()),
        float(lp.std()),
        float(lp.min()),
        float(lp.max()),
        *(float(v) for v in np.quantile(lp, QUANTILES)),
        float(np.sort(lp)[:m].mean()),
        float(lp.mean() / zlib_bytes(text)),
        float(np.log1p(rank).mean()),
        float(np.log(len(lp))),
    ]


def features(signals: SignalView) -> tuple[tuple[str, ...], np.ndarray, list[str | None]]:
    """The feature names, the ``(n_samples, f)`` raw features and, per sample, why it has
    none (``None`` where it has them; its row is then NaN).

    Token features (:data:`TOKEN_FEATURES`) from ``target/plain`` ``token_log_prob`` and
    ``token_rank`` and the text; gradient features from the extra ``grad_norms``: the log of
    each parameter group's L2 norm (``grad.l2.<group>``) and of the whole gradient's L1, L2
    and L∞ norms (``grad.total_l1`` ...).
    """
    log_probs = signals.tokens("token_log_prob")
    ranks = signals.tokens("token_rank")
    texts = signals.texts
    grads: GradNorms = signals.extras[GRAD_EXTRA]
    names = (
        *TOKEN_FEATURES,
        *(f"grad.l2.{g}" for g in grads.layers),
        "grad.total_l1",
        "grad.total_l2",
        "grad.total_linf",
    )
    with np.errstate(divide="ignore"):
        grad_cols = np.log(
            np.column_stack([grads.l2, grads.total(1), grads.total(2), grads.total(np.inf)])
        )
    out = np.full((signals.n_samples, len(names)), np.nan)
    reasons: list[str | None] = []
    for i, (lp, rank) in enumerate(zip(log_probs, ranks, strict=True)):
        if len(lp) == 0:
            reasons.append("no scored tokens")
        elif not np.isfinite(lp).all():
            reasons.append("NaN token log-likelihood")
        elif grads.reasons[i] is not None:
            reasons.append(grads.reasons[i])
        else:
            out[i, : len(TOKEN_FEATURES)] = _token_row(lp, rank, texts[i])
            out[i, len(TOKEN_FEATURES) :] = grad_cols[i]
            reasons.append(None)
    return names, out, reasons


@register_attack(
    "whitebox",
    needs=("token_log_prob", "token_rank", "text"),
    extras=(GRAD_EXTRA, MODEL_EXTRA),
    paper="2402.17012",
    default=False,
)
def whitebox(signals: SignalView) -> AttackOutput:
    """The log-odds of membership under a classifier trained on known members and non-members.

    Paper: arXiv 2402.17012 (Wang, Wang, Li and Neel, "Pandora's White-Box: Precise Training
    Data Detection and Extraction in Large Language Models"), its supervised white-box MIA: an
    auditor who holds some known members of the fine-tune and known non-members (a
    labelled calibration split, ``--calibrate``, disjoint from the evaluation data) trains a
    classifier on white-box features of those texts and applies it to the evaluation texts.

    Features (:func:`features`): per-layer gradient norms of the mean token NLL
    (``grad_norms``, the gradients provider: one backward pass per text, cached), and summary
    statistics of the per-token signals (mean, standard deviation, extremes and quantiles of
    the token log-likelihoods, the Min-K% (k = 0.2) and zlib scores, the mean log rank, the
    token count). Activation statistics are not features yet.

    Classifier (:mod:`miakit.inference.logistic`): standardised L2 logistic regression, its
    ``C`` chosen by stratified cross-validation inside the calibration split; its CV AUROC is
    in ``metrics.json`` under ``auxiliary.whitebox``.

    Score: ``log_odds = z · w + b`` of the fitted model (extra ``whitebox_model``); higher =
    more likely member.

    NaN policy: NaN with a reason for a text with no scored tokens, a NaN log-likelihood, no
    gradient norm (the reason of ``grad_norms``) or a non-finite log-odds.

    Args:
        signals: a view with ``target/plain`` ``token_log_prob`` and ``token_rank``, the
            texts, and the extras ``grad_norms`` and ``whitebox_model``.

    Returns:
        Scores of shape ``(n_samples,)``, higher = more likely member.

    Raises:
        InvalidParameterError: the classifier was fitted on other features than the view's
            (a calibration split scored by another model).
    """
    model: WhiteboxModel = signals.extras[MODEL_EXTRA]
    names, x, reasons = features(signals)
    index = {n: j for j, n in enumerate(names)}
    lacking = [n for n in model.features if n not in index]
    if lacking:
        raise InvalidParameterError(
            f"attack 'whitebox': the classifier was fitted on features {lacking[:3]} that the "
            "evaluation texts do not have (the calibration split must be scored by the same "
            "target model)"
        )
    scores = model.log_odds(x[:, [index[n] for n in model.features]])
    for i, value in enumerate(scores):
        if reasons[i] is None and not np.isfinite(value):
            reasons[i] = "the classifier gave a non-finite log-odds (non-finite weights?)"
    scores = np.where([r is None for r in reasons], scores, np.nan)
    return AttackOutput.from_scores(scores, reasons)
