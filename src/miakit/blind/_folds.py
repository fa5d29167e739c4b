"""Out-of-fold ridge scores of one baseline for many labellings at once (see :mod:`._cv`).

The folds depend on positions only (a seeded ``KFold``), and each fold's transformer
(vocabulary, idf, imputer, scaler) is unsupervised, so one fold's feature matrices and kernels
serve the real labels and every permutation of them; the ridge fit is linear in the labels,
so all labellings of a fold are one solve (:func:`miakit.blind._ridge.ridge_scores`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from miakit.blind._registry import BlindPipeline
from miakit.blind._ridge import RIDGE, fold_ridge_scores

Folds = list[tuple[np.ndarray, np.ndarray]]


def make_folds(n: int, k: int, seed: int) -> Folds:
    """``k`` seeded folds over positions ``0..n-1`` (``KFold(k, shuffle=True)``), label-free."""
    from sklearn.model_selection import KFold

    cv = KFold(n_splits=k, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros((n, 1))))


def permuted_labels(y: np.ndarray, n_permutations: int, seed: int) -> np.ndarray:
    """``(n, n_permutations)`` int64: independent uniform permutations of ``y``, seeded."""
    rng = np.random.default_rng([seed, 2406])
    tiled = np.tile(np.asarray(y, dtype=np.int64), (n_permutations, 1))  # (n_perm, n)
    return np.ascontiguousarray(rng.permuted(tiled, axis=1).T)


def _fold_matrices(pipeline: BlindPipeline, x: Any, train: np.ndarray, test: np.ndarray) -> Any:
    from sklearn.base import clone

    if pipeline.transform is None:
        return x[train], x[test]
    # A fresh transformer per fold, fitted on the training rows only and never on labels.
    t = clone(pipeline.transform)
    return t.fit_transform(x[train]), t.transform(x[test])


def oof_scores(pipeline: BlindPipeline, x: Any, labels: np.ndarray, folds: Folds) -> np.ndarray:
    """``(n, m)`` out-of-fold ridge scores of ``x`` ``(n, f)`` for each column of ``labels``.

    Args:
        pipeline: the baseline (its ``transform`` is fitted per fold).
        x: ``(n, f)`` featurized texts, numpy or scipy sparse.
        labels: ``(n, m)`` 0/1 labellings (column 0 is usually the real one).
        folds: from :func:`make_folds`.

    Raises:
        ValueError: when the transformer cannot be fitted on a training fold.
    """
    out = np.full(labels.shape, np.nan, dtype=np.float64)
    for train, test in folds:
        x_train, x_test = _fold_matrices(pipeline, x, train, test)
        out[test] = fold_ridge_scores(x_train, x_test, labels[train])
    return out


def oof_scores_primal(pipeline: BlindPipeline, x: Any, y: np.ndarray, folds: Folds) -> np.ndarray:
    """``(n,)`` the same ridge classifier as :func:`oof_scores`, solved in primal form.

    For sets too large for the ``(n_train, n_train)`` kernel: scikit-learn's ``Ridge`` with an
    intercept and the same penalty (:data:`~miakit.blind._ridge.RIDGE` times the mean squared
    norm of the centred training rows), iterative, to its default tolerance.
    """
    from sklearn.linear_model import Ridge

    out = np.full(y.shape[0], np.nan, dtype=np.float64)
    for train, test in folds:
        x_train, x_test = _fold_matrices(pipeline, x, train, test)
        y_train = y[train].astype(np.float64)
        if np.ptp(y_train) == 0:  # one class only: nothing to learn, as in ridge_scores
            out[test] = 0.0
            continue
        model = Ridge(alpha=_penalty(x_train)).fit(x_train, y_train)
        out[test] = model.predict(x_test) - y_train.mean()  # without the intercept, as there
    return out


def _penalty(x: Any) -> float:
    """:data:`RIDGE` times the mean squared norm of the centred rows of ``x``."""
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float64)
        squares = float(x.multiply(x).sum())
        mean = np.asarray(x.mean(axis=0)).ravel()
    else:
        x = np.asarray(x, dtype=np.float64)
        squares = float((x * x).sum())
        mean = x.mean(axis=0)
    n = x.shape[0]
    return RIDGE * max((squares - n * float(mean @ mean)) / n, 1e-12)
