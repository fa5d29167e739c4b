"""One-call evaluation of attack scores into a JSON-ready summary (pure numpy).

This is the entry point for reports and the CLI: it accepts unknown labels (-1) and NaN scores
(unscorable samples), counts them, and never drops anything silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from miakit.metrics._validation import (
    as_score_label_arrays,
    check_bootstrap_options,
    check_rate,
    check_rates,
)
from miakit.metrics.bootstrap import bootstrap_metrics
from miakit.metrics.roc import auroc, fpr_at_tpr, roc_curve, tpr_at_fpr

__all__ = ["evaluate", "roc_arrays", "roc_points"]


def _rate_key(rate: float) -> str:
    """The dict key of a rate: ``format(rate, "g")``, e.g. ``0.001 -> "0.001"``."""
    return format(rate, "g")


def _labelled_finite(
    scores: ArrayLike, labels: ArrayLike
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Drop unknown labels, then NaN scores.

    Returns:
        ``(scores, labels, n_labelled, n_nan)``: the scored, labelled samples (shapes
        ``(n_used,)``), the number of labelled samples and how many of them had a NaN score.
    """
    s, y = as_score_label_arrays(scores, labels, allow_unknown=True, allow_nan=True)
    known = y != -1
    s, y = s[known], y[known]
    scored = ~np.isnan(s)
    return s[scored], y[scored], int(y.shape[0]), int(np.count_nonzero(~scored))


def evaluate(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    fpr_targets: Sequence[float] = (0.001, 0.01, 0.05),
    tpr_target: float = 0.95,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """AUROC, TPR at low FPRs, FPR at a high TPR and bootstrap CIs, as plain JSON types.

    Samples with label -1 (unknown) are ignored entirely. Samples with a NaN score (could not
    be scored) are excluded from every metric and counted in ``n_nan``. Confidence intervals
    use the stratified bootstrap of :func:`miakit.metrics.bootstrap_metrics`, all from one set
    of resamples.

    The 1/n floor of TPR at low FPR: with ``n_nonmembers`` non-members the achievable FPRs are
    multiples of ``1 / n_nonmembers``. For a target FPR below ``1 / n_nonmembers`` (e.g. 0.001
    with 500 non-members) no false positive at all is allowed, so the reported TPR is the
    fraction of members that score strictly above the highest-scoring non-member. That is 0 by
    construction unless the top scores are all members, in which case it can be non-zero. Such
    a number measures the single most member-like non-member, not a rate: collect at least
    ``10 / fpr`` non-members before reading TPR at ``fpr``.

    Args:
        scores: ``(n_samples,)`` scores, higher = more likely member; NaN = not scored.
            Infinite scores are rejected.
        labels: ``(n_samples,)`` ints, 1 = member, 0 = non-member, -1 = unknown.
        fpr_targets: FPR targets for TPR at FPR, each in [0, 1].
        tpr_target: TPR target for FPR at TPR, in [0, 1].
        n_resamples: bootstrap resamples (>= 1000 recommended; 1000 by default).
        confidence: coverage of the bootstrap intervals, in (0, 1).
        seed: seed of the bootstrap's ``numpy.random.default_rng``.

    Returns:
        A dict of Python floats, ints, strings and lists (``json.dumps`` works)::

            {"n": int,             # labelled samples (label 0 or 1), NaN-scored included
             "n_nan": int,         # labelled samples with a NaN score, excluded below
             "n_members": int,     # members with a score
             "n_nonmembers": int,  # non-members with a score
             "auroc": float, "auroc_ci": [lower, upper],
             "tpr_at_fpr": {"0.001": float, ...},        # keys: format(fpr, "g")
             "tpr_at_fpr_ci": {"0.001": [lower, upper], ...},
             "fpr_at_tpr_0.95": float}                   # key: format(tpr_target, "g")

        so ``n == n_nan + n_members + n_nonmembers``. If either class is empty after the
        exclusions, every metric is ``nan``, every interval ``[nan, nan]``, and an ``"error"``
        key says why (no exception: one degenerate attack should not stop a report).

    Raises:
        InvalidParameterError: on invalid shapes, labels outside {-1, 0, 1}, infinite scores
            or invalid options.
    """
    check_bootstrap_options(n_resamples=n_resamples, confidence=confidence, seed=seed)
    targets = check_rates(fpr_targets, name="fpr_targets")
    tpr_goal = check_rate(tpr_target, name="tpr_target")
    s, y, n, n_nan = _labelled_finite(scores, labels)
    n_members = int(np.count_nonzero(y == 1))
    n_nonmembers = int(y.shape[0] - n_members)
    fpr_at_tpr_key = f"fpr_at_tpr_{_rate_key(tpr_goal)}"
    result: dict = {
        "n": n,
        "n_nan": n_nan,
        "n_members": n_members,
        "n_nonmembers": n_nonmembers,
    }
    if n_members == 0 or n_nonmembers == 0:
        nan = math.nan
        result.update(
            {
                "auroc": nan,
                "auroc_ci": [nan, nan],
                "tpr_at_fpr": {_rate_key(t): nan for t in targets},
                "tpr_at_fpr_ci": {_rate_key(t): [nan, nan] for t in targets},
                fpr_at_tpr_key: nan,
                "error": (
                    f"need both members and non-members with a score; got {n_members} "
                    f"member(s) and {n_nonmembers} non-member(s) after ignoring unknown "
                    f"labels and {n_nan} NaN score(s)"
                ),
            }
        )
        return result
    cis = bootstrap_metrics(
        s, y, fpr_targets=targets, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
    result.update(
        {
            "auroc": auroc(s, y),
            "auroc_ci": list(cis["auroc"]),
            "tpr_at_fpr": {_rate_key(t): tpr_at_fpr(s, y, fpr=t) for t in targets},
            "tpr_at_fpr_ci": {_rate_key(t): list(cis["tpr_at_fpr"][t]) for t in targets},
            fpr_at_tpr_key: fpr_at_tpr(s, y, tpr=tpr_goal),
        }
    )
    return result


def roc_points(scores: ArrayLike, labels: ArrayLike) -> dict:
    """ROC points for plotting, with the same exclusions as :func:`evaluate`.

    :func:`roc_arrays` gives the same points as numpy arrays (no Python floats: faster for
    large sample counts).

    Args:
        scores: ``(n_samples,)`` scores, higher = more likely member; NaN = not scored
            (excluded).
        labels: ``(n_samples,)`` ints, 1 = member, 0 = non-member, -1 = unknown (excluded).

    Returns:
        ``{"fpr": [...], "tpr": [...]}``, Python floats from ``(0, 0)`` to ``(1, 1)``, one point
        per distinct score (see :func:`miakit.metrics.roc_curve`). If a class is empty after
        the exclusions, both lists are empty and an ``"error"`` key says why.

    Raises:
        InvalidParameterError: on invalid shapes, labels outside {-1, 0, 1} or infinite
            scores.
    """
    points = roc_arrays(scores, labels)
    return {**points, "fpr": points["fpr"].tolist(), "tpr": points["tpr"].tolist()}


def roc_arrays(scores: ArrayLike, labels: ArrayLike) -> dict:
    """:func:`roc_points` as arrays: ``{"fpr": (n_points,), "tpr": (n_points,)}`` float64
    numpy arrays (empty, with an ``"error"`` key, if a class is empty after the exclusions).

    Raises:
        InvalidParameterError: as :func:`roc_points`.
    """
    s, y, _, n_nan = _labelled_finite(scores, labels)
    n_members = int(np.count_nonzero(y == 1))
    n_nonmembers = int(y.shape[0] - n_members)
    if n_members == 0 or n_nonmembers == 0:
        return {
            "fpr": np.zeros(0),
            "tpr": np.zeros(0),
            "error": (
                f"need both members and non-members with a score; got {n_members} "
                f"member(s) and {n_nonmembers} non-member(s) after ignoring unknown labels "
                f"and {n_nan} NaN score(s)"
            ),
        }
    fpr, tpr, _ = roc_curve(s, y)
    return {"fpr": fpr, "tpr": tpr}
