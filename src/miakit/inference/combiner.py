"""The feature combiner of dataset inference: clip, standardise, ridge (pure numpy).

Dataset inference (Maini et al., arXiv 2406.06443) combines many weak per-text attack scores
into one score with a linear model fitted on one part of the data and applied to the other.
Every step that is *fitted* here sees the training rows only:

1. **Clipping, rows kept intact.** Per feature, the :data:`CLIP_QUANTILE` and
   ``1 - CLIP_QUANTILE`` quantiles of the training rows bound every value of that feature
   (``np.clip`` element-wise): a row keeps its place and all its features. One public
   re-implementation (arXiv 2411.00154's code) trims outliers with ``np.sort(axis=0)``,
   which sorts each feature column on its own and pairs the values of different texts; the
   original clips each set with its own quantiles, which differs between suspect and
   validation texts. Both are avoided here, and ``tests/inference`` checks it.
2. **Standardisation** with the training rows' mean and standard deviation (a constant
   feature gets scale 1). A missing value (NaN, an attack that could not score a text)
   becomes 0 after it: the training mean, an imputation that uses no label.
3. **Ridge regression on the 0/1 label** (suspect = 1), intercept unpenalised, penalty
   :data:`RIDGE` times the mean squared norm of the centred training rows: the classifier
   of miakit's blind baselines (``miakit.blind._ridge.primal_scores``), re-stated here
   because ``inference`` and ``blind`` are peers that may not import each other
   (``docs/architecture.md``); a test pins the two to the same numbers. It is linear in the
   labels, so one Cholesky factorisation fits the real labels and every permutation of them:
   the permutation test refits the combiner for each permutation exactly, at the cost of one
   matrix product. A logistic model would need one iterative fit per permutation.

Clipping and standardisation are fitted without labels, so they too are the same for every
permutation of the labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Share of each tail clipped per feature (the paper's 2.5%).
CLIP_QUANTILE = 0.025
#: Ridge penalty relative to the mean squared norm of the centred training rows.
RIDGE = 1.0


@dataclass(frozen=True)
class Preprocessor:
    """Clipping bounds and standardisation fitted on training rows.

    Attributes:
        low, high: ``(n_features,)`` clipping bounds (NaN where a feature has no finite
            training value: the feature is then 0 everywhere).
        mean, scale: ``(n_features,)`` mean and standard deviation of the clipped training
            values (scale 1 where the deviation is 0 or undefined).
    """

    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x_train: np.ndarray, *, clip: float = CLIP_QUANTILE) -> Preprocessor:
        """Fit on ``x_train`` ``(n_train, n_features)``; non-finite values are missing."""
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


def ridge_fit(z_train: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ridge weights for every label column at once.

    Args:
        z_train: ``(n_train, f)`` features (standardised).
        y: ``(n_train,)`` or ``(n_train, m)`` 0/1 labels (1 = suspect). A column with one
            class only gives zero weights (nothing to learn).

    Returns:
        ``(w, mu)``: ``w`` ``(f,)`` or ``(f, m)`` weights and ``mu`` ``(f,)`` the training
        mean the scores are centred on: ``score = (z - mu) @ w``.
    """
    import scipy.linalg  # here: a run imports this module before its models load (issue 15)

    y2 = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
    mu = z_train.mean(axis=0)  # (f,)
    xc = z_train - mu
    gram = xc.T @ xc  # (f, f)
    lam = RIDGE * max(float(np.trace(gram)) / z_train.shape[0], 1e-12)
    gram[np.diag_indices_from(gram)] += lam
    w = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), xc.T @ (y2 - y2.mean(axis=0)))
    return (w if np.ndim(y) == 2 else w[:, 0]), mu


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
