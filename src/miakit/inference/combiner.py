"""The feature combiners' preprocessing and dataset inference's combiner (pure numpy).

Dataset inference (Maini et al., arXiv 2406.06443) combines many weak per-text attack scores
into one score with a linear model fitted on one part of the data and applied to the other.
Every step that is *fitted* here sees the training rows only:

1. **Clipping, rows kept intact** (:class:`Preprocessor`). Per feature, the
   :data:`CLIP_QUANTILE` and ``1 - CLIP_QUANTILE`` quantiles of the training rows bound every
   value of that feature (``np.clip`` element-wise): a row keeps its place and all its
   features. One public
   re-implementation (arXiv 2411.00154's code) trims outliers with ``np.sort(axis=0)``,
   which sorts each feature column on its own and pairs the values of different texts; the
   original clips each set with its own quantiles, which differs between suspect and
   validation texts. Both are avoided here, and ``tests/inference`` checks it.
2. **Standardisation** with the training rows' mean and standard deviation (a constant
   feature gets scale 1). A missing value (NaN, an attack that could not score a text)
   becomes 0 after it: the training mean, an imputation that uses no label.
3. **Ridge regression on the 0/1 label** (suspect = 1), intercept unpenalised: miakit's
   one ridge classifier, :func:`miakit.metrics.ridge.ridge_fit`, the blind baselines' too. It
   is linear in the labels, so one Cholesky factorisation fits the real labels and every
   permutation of them: the permutation test refits the combiner for each permutation
   exactly, at the cost of one matrix product. A logistic model would need one iterative
   fit per permutation.

Clipping and standardisation are fitted without labels, so they too are the same for every
permutation of the labels. The document classifiers' learned combiner
(:func:`miakit.inference.doc_classifiers.combiner_cv`) uses the same :class:`Preprocessor`
without clipping (``clip=None``) before its logistic regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miakit.metrics.ridge import ridge_fit

#: Share of each tail clipped per feature (the paper's 2.5%).
CLIP_QUANTILE = 0.025


@dataclass(frozen=True)
class Preprocessor:
    """Clipping bounds and standardisation fitted on training rows.

    Attributes:
        low, high: ``(n_features,)`` clipping bounds (NaN where a feature has no finite
            training value: the feature is then 0 everywhere; -inf and inf without clipping).
        mean, scale: ``(n_features,)`` mean and standard deviation of the clipped training
            values (scale 1 where the deviation is 0 or undefined).
    """

    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x_train: np.ndarray, *, clip: float | None = CLIP_QUANTILE) -> Preprocessor:
        """Fit on ``x_train`` ``(n_train, n_features)``; non-finite values are missing.

        ``clip``: share of each tail clipped per feature; ``None``: no clipping (the
        features are only standardised)."""
        x = _finite_or_nan(x_train)
        have = np.isfinite(x).any(axis=0)  # (n_features,) features with a training value
        low = np.full(x.shape[1], np.nan)
        high = np.full(x.shape[1], np.nan)
        mean = np.zeros(x.shape[1])
        scale = np.ones(x.shape[1])
        if have.any():
            xs = x[:, have]
            # the nan-aware versions are several times slower; most matrices have no NaN
            complete = bool(np.isfinite(xs).all())
            if clip is None:
                low[have], high[have], xc = -np.inf, np.inf, xs
            else:
                quantile = np.quantile if complete else np.nanquantile
                low[have], high[have] = quantile(xs, [clip, 1.0 - clip], axis=0)
                xc = np.clip(xs, low[have], high[have])
            mean[have] = xc.mean(axis=0) if complete else np.nanmean(xc, axis=0)
            sd = xc.std(axis=0) if complete else np.nanstd(xc, axis=0)
            scale[have] = np.where(sd > 0, sd, 1.0)
        return cls(low=low, high=high, mean=mean, scale=scale)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(n, n_features)`` clipped and standardised rows, missing values 0, row order kept."""
        xf = _finite_or_nan(x)
        with np.errstate(invalid="ignore"):
            z = (np.clip(xf, self.low, self.high) - self.mean) / self.scale
        return np.where(np.isfinite(z), z, 0.0)


def _finite_or_nan(x: np.ndarray) -> np.ndarray:
    xf = np.asarray(x, dtype=np.float64)
    return np.where(np.isfinite(xf), xf, np.nan)


def fit_score(
    x_train: np.ndarray,
    x_test: np.ndarray,
    y_train: np.ndarray,
    *,
    clip: float = CLIP_QUANTILE,
) -> np.ndarray:
    """Fit the whole combiner on the training rows and score the test rows.

    Args:
        x_train: ``(n_train, f)`` raw features (attack scores; NaN = missing).
        x_test: ``(n_test, f)`` raw features, same columns.
        y_train: ``(n_train,)`` or ``(n_train, m)`` 0/1 labels of the training rows.
        clip: share of each tail clipped per feature.

    Returns:
        ``(n_test,)`` or ``(n_test, m)`` scores, higher = more suspect-like.
    """
    pre = Preprocessor.fit(x_train, clip=clip)
    z_train, z_test = pre.transform(x_train), pre.transform(x_test)
    w, mu = ridge_fit(z_train, y_train)
    return np.asarray((z_test - mu) @ w)
