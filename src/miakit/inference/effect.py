"""Effect size of dataset inference: the held-out AUROC, with a bootstrap interval that refits.

The effect size is the AUROC of the cross-fitted combiner scores, suspect against validation
(:mod:`miakit.inference.permutation`): the chance that a random suspect text outscores a
random validation text, 0.5 when the model treats the two sets alike.

Its interval comes from a stratified bootstrap of the *whole procedure*: suspect and
validation rows are resampled with replacement, the combiner is refitted fold by fold on
each resample and the held-out AUROC recomputed; the interval is the percentile interval of
those AUROCs. Unlike an interval that holds the fitted scores fixed (the blind baselines'
intervals, which their docs call too narrow), this one includes the variability of the fit.
Copies of one row keep that row's fold, so a row is never trained on and scored in one fit.
The interval describes the effect; the test is the permutation p-value, not whether the
interval excludes 0.5.
"""

from __future__ import annotations

import numpy as np

from miakit.inference.combiner import CLIP_QUANTILE
from miakit.inference.permutation import cross_fit
from miakit.metrics.ranks import auroc_columns

#: Bootstrap resamples of the effect-size interval by default.
DEFAULT_RESAMPLES = 200


def bootstrap_auroc_ci(
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    clip: float = CLIP_QUANTILE,
) -> tuple[float, float]:
    """Percentile interval of the held-out AUROC over stratified resamples, refitted each time.

    Args:
        x: ``(n, f)`` raw features.
        y: ``(n,)`` 0/1 labels (1 = suspect).
        folds: ``(n,)`` fold of each row (a resampled copy keeps its row's fold).
        n_resamples: bootstrap resamples (0: no interval, ``(nan, nan)``).
        confidence: coverage of the interval.
        seed: seed of the resampling.
        clip: share of each tail clipped per feature.

    Returns:
        ``(low, high)``; resamples in which a fold's training rows lack a class still count
        (that fold's scores are then constant, as in the test itself).
    """
    if n_resamples <= 0:
        return (float("nan"), float("nan"))
    yi = np.asarray(y, dtype=np.int64)
    pos, neg = np.flatnonzero(yi == 1), np.flatnonzero(yi == 0)
    rng = np.random.default_rng([seed, 2406, 95])
    values = np.empty(n_resamples)
    for b in range(n_resamples):
        idx = np.concatenate(
            [rng.choice(pos, size=pos.size, replace=True), rng.choice(neg, size=neg.size)]
        )
        yb = yi[idx]
        s = cross_fit(x[idx], yb.astype(np.float64), folds[idx], clip=clip)
        values[b] = auroc_columns(s, yb[:, None])[0]
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return (float(low), float(high))
