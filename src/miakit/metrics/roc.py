"""ROC curve, AUROC, TPR at a fixed FPR and FPR at a fixed TPR (pure numpy).

Conventions: ``labels`` are ints with 1 = member (the positive class) and 0 = non-member;
``scores`` are floats where higher = more likely member. A sample is predicted "member" at
threshold ``t`` when ``score >= t``. All functions here need finite scores and both classes;
:func:`miakit.metrics.evaluate` is the entry point that handles NaN scores and unknown labels.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from miakit.metrics._validation import (
    as_score_label_arrays,
    check_rate,
    require_both_classes,
)
from miakit.metrics.ranks import auroc_columns

__all__ = ["auroc", "fpr_at_tpr", "roc_curve", "tpr_at_fpr"]


def _checked(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s, y = as_score_label_arrays(scores, labels)
    require_both_classes(y)
    return s, y


def _roc_counts(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False/true positive counts at each distinct threshold, descending, without (0, 0).

    Returns ``(fps, tps, thresholds)``, each of shape ``(n_distinct_scores,)``; counts are
    float64 holding exact integers (the same arithmetic as scikit-learn, so the rates divide to
    bit-identical values).
    """
    # Stable sort then reverse: the order inside a tie does not matter because only the last
    # index of each run of equal scores is kept.
    order = np.argsort(s, kind="mergesort")[::-1]
    s_sorted = s[order]
    y_sorted = y[order]
    # (n_distinct,) index of the last sample of each run of equal scores
    ends = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.shape[0] - 1]
    tps = np.cumsum(y_sorted, dtype=np.float64)[ends]
    fps = (ends + 1) - tps
    return fps, tps, s_sorted[ends]


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tie-aware ROC curve: one point per distinct score, thresholds descending.

    The curve starts at ``(fpr, tpr) = (0, 0)`` with threshold ``+inf`` and ends at ``(1, 1)``
    with the smallest score as threshold. Tied scores form a single point (never a staircase
    that depends on the input order). The points equal
    ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)`` exactly.

    Args:
        scores: ``(n_samples,)`` finite scores, higher = more likely member.
        labels: ``(n_samples,)`` ints, 1 = member, 0 = non-member; both must be present.

    Returns:
        ``(fpr, tpr, thresholds)``, each of shape ``(n_distinct_scores + 1,)``: at
        ``thresholds[i]`` the samples with ``score >= thresholds[i]`` are predicted members and
        ``fpr[i]``, ``tpr[i]`` are the resulting rates. ``fpr`` and ``tpr`` are non-decreasing.

    Raises:
        InvalidParameterError: on non-finite scores, labels outside {0, 1}, mismatched or
            non-1-D shapes, or a missing class.
    """
    s, y = _checked(scores, labels)
    fps, tps, thresholds = _roc_counts(s, y)
    fps = np.r_[0.0, fps]
    tps = np.r_[0.0, tps]
    return fps / fps[-1], tps / tps[-1], np.r_[np.inf, thresholds]


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve, computed as the Mann-Whitney U statistic.

    AUROC is the probability that a random member scores higher than a random non-member, with
    ties counted 1/2. It equals ``sklearn.metrics.roc_auc_score`` (the trapezoidal area of the
    tie-aware curve) up to floating-point rounding; the computation (average ranks,
    :func:`miakit.metrics.ranks.auroc_columns` on one column, the implementation shared with
    the blind baselines) is exact counting followed by a single division. 0.5 = chance,
    1 = perfect, 0 = perfectly inverted.

    Args:
        scores: ``(n_samples,)`` finite scores, higher = more likely member.
        labels: ``(n_samples,)`` ints, 1 = member, 0 = non-member; both must be present.

    Returns:
        The AUROC in [0, 1].

    Raises:
        InvalidParameterError: on invalid inputs or a missing class (see :func:`roc_curve`).
    """
    s, y = _checked(scores, labels)
    return float(auroc_columns(s[:, None], y[:, None])[0])


def tpr_at_fpr(scores: ArrayLike, labels: ArrayLike, *, fpr: float) -> float:
    """Largest TPR among ROC points whose FPR does not exceed ``fpr``.

    This is the TPR an attacker can actually achieve while keeping the false-positive rate at
    or below the target; it never interpolates and never takes the nearest point above the
    target. With ``n_nonmembers`` non-members, achievable FPRs are multiples of
    ``1 / n_nonmembers``, so for ``fpr < 1 / n_nonmembers`` only zero false positives are
    allowed: the result is the fraction of members that score strictly above every
    non-member (often 0, but not necessarily).

    Args:
        scores: ``(n_samples,)`` finite scores, higher = more likely member.
        labels: ``(n_samples,)`` ints, 1 = member, 0 = non-member; both must be present.
        fpr: target false-positive rate in [0, 1].

    Returns:
        The TPR in [0, 1].

    Raises:
        InvalidParameterError: on invalid inputs, a missing class or ``fpr`` outside [0, 1].
    """
    target = check_rate(fpr, name="fpr")
    fprs, tprs, _ = roc_curve(scores, labels)
    # (0, 0) always qualifies, so the mask is never empty
    return float(tprs[fprs <= target].max())


def fpr_at_tpr(scores: ArrayLike, labels: ArrayLike, *, tpr: float) -> float:
    """Smallest FPR among ROC points whose TPR is at least ``tpr``.

    Args:
        scores: ``(n_samples,)`` finite scores, higher = more likely member.
        labels: ``(n_samples,)`` ints, 1 = member, 0 = non-member; both must be present.
        tpr: target true-positive rate in [0, 1].

    Returns:
        The FPR in [0, 1] paid to detect at least a ``tpr`` fraction of members.

    Raises:
        InvalidParameterError: on invalid inputs, a missing class or ``tpr`` outside [0, 1].
    """
    target = check_rate(tpr, name="tpr")
    fprs, tprs, _ = roc_curve(scores, labels)
    # (1, 1) always qualifies, so the mask is never empty
    return float(fprs[tprs >= target].min())
