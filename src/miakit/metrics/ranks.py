"""The rank-based AUROC, vectorised over many score or label columns (pure numpy).

Moved here from the blind baselines (``miakit.blind._ridge``) so that miakit has one AUROC:
:func:`miakit.metrics.auroc` validates one score vector and calls :func:`auroc_columns`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["auroc_columns", "average_ranks"]


def auroc_columns(scores: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """AUROC of each score column against its label column, or of one score vector against
    each labelling: the Mann-Whitney U statistic from average ranks, ties counted 1/2.

    This is the one AUROC of miakit: :func:`miakit.metrics.auroc` is this function on one
    column, after validating its input; the blind baselines' permutation test calls it on
    thousands of labellings at once. Everything before the final division is exact (ranks are
    half-integers, their sums stay far below 2**53 for any realistic ``n``), so the result is
    the correctly rounded ``U / (n_pos * n_neg)`` whatever the number of columns.

    No validation (the caller's job): finite scores, 0/1 labels with both classes in every
    column.

    Args:
        scores: ``(n,)`` or ``(n, m)`` scores, higher = more likely member.
        labels: ``(n, m)`` 0/1 labels (1 = member); the member count may differ by column.

    Returns:
        ``(m,)`` float64 AUROCs.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim == 1:
        s = np.broadcast_to(s[:, None], y.shape)
    ranks = average_ranks(s)  # (n, m), 1-based, ties averaged
    n_pos = y.sum(axis=0)
    n_neg = y.shape[0] - n_pos
    rank_sum = (ranks * y).sum(axis=0)
    return np.asarray((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg), dtype=np.float64)


def average_ranks(s: np.ndarray) -> np.ndarray:
    """``(n, m)`` 1-based ranks down each column of ``s`` ``(n, m)``, ties given their average
    rank (as ``scipy.stats.rankdata(s, axis=0)``)."""
    n, m = s.shape
    order = np.argsort(s, axis=0, kind="stable")
    sorted_s = np.take_along_axis(s, order, axis=0)
    # tie groups: a new group starts where the sorted value changes
    new = np.ones((n, m), dtype=bool)
    new[1:] = sorted_s[1:] != sorted_s[:-1]
    group = np.cumsum(new, axis=0) - 1  # (n, m) group index within each column
    pos = np.arange(1, n + 1, dtype=np.float64)[:, None]
    # average position per group: (first + last) / 2, found via group starts and ends
    cols = np.broadcast_to(np.arange(m), (n, m))
    first = np.zeros((n, m))
    last = np.zeros((n, m))
    first[group[new], cols[new]] = np.broadcast_to(pos, (n, m))[new]
    end = np.ones((n, m), dtype=bool)
    end[:-1] = new[1:]
    last[group[end], cols[end]] = np.broadcast_to(pos, (n, m))[end]
    avg = (first + last) / 2
    ranks = np.empty((n, m))
    np.put_along_axis(ranks, order, np.take_along_axis(avg, group, axis=0), axis=0)
    return ranks
