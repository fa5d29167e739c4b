"""Pure numpy metrics for membership inference: ROC, AUROC, TPR@FPR, FPR@TPR, bootstrap CIs.

Nothing here imports miakit beyond :mod:`miakit._core` (the error classes).

Labels: 1 = member (positive class), 0 = non-member (and -1 = unknown, for :func:`evaluate` and
:func:`roc_points` only). Scores: higher = more likely member.
"""

from miakit.metrics.bootstrap import bootstrap_ci, bootstrap_metrics
from miakit.metrics.evaluate import evaluate, roc_arrays, roc_points
from miakit.metrics.ranks import auroc_columns
from miakit.metrics.roc import auroc, fpr_at_tpr, roc_curve, tpr_at_fpr

__all__ = [
    "auroc",
    "auroc_columns",
    "bootstrap_ci",
    "bootstrap_metrics",
    "evaluate",
    "fpr_at_tpr",
    "roc_arrays",
    "roc_curve",
    "roc_points",
    "tpr_at_fpr",
]
