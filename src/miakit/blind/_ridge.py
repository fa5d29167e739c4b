"""Fold kernels of the blind baselines, and the choice of primal or dual ridge per fold.

:mod:`miakit.blind._cv` computes per-fold feature matrices and calls
:func:`fold_ridge_scores`. The classifier is miakit's one ridge classifier
(:mod:`miakit.metrics.ridge`: 0/1 label, unpenalised intercept, closed form for many
labellings at once, the intercept left out of the scores), in dual (kernel) form with the
linear kernel built here (sparse features, or more features than training rows), else in
primal form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from miakit.metrics.ridge import primal_scores, ridge_scores

#: Columns non-zero in at least this share of the training rows enter the kernel densely.
DENSE_DF = 0.05


def _dense(m: Any) -> np.ndarray:
    return np.asarray(m.toarray() if sp.issparse(m) else m, dtype=np.float64)


def fold_kernels(x_train: Any, x_test: Any) -> tuple[np.ndarray, np.ndarray]:
    """Linear kernels ``(K_train (n_train, n_train), K_test (n_test, n_train))``.

    Args:
        x_train: ``(n_train, f)`` numpy or scipy sparse training features.
        x_test: ``(n_test, f)`` test features, same columns.
    """
    if sp.issparse(x_train):
        # Sparse products cost sum(df^2) over columns, which the columns in most texts (common
        # character n-grams) dominate: those go through a dense BLAS product instead (3x
        # faster for char_ngrams at 4,000 texts), the long tail stays sparse. The split is
        # done on the CSR arrays directly (no CSC copies, no column fancy-indexing).
        xt = sp.csr_matrix(x_train, dtype=np.float64)
        xs = sp.csr_matrix(x_test, dtype=np.float64)
        df = np.bincount(xt.indices, minlength=xt.shape[1])  # (f,) training rows per column
        common = df >= max(2.0, DENSE_DF * xt.shape[0])
        dt, st = _split_columns(xt, common)
        ds, ss = _split_columns(xs, common)
        return dt @ dt.T + _dense(st @ st.T), ds @ dt.T + _dense(ss @ st.T)
    xt = np.asarray(x_train, dtype=np.float64)
    return xt @ xt.T, np.asarray(x_test, dtype=np.float64) @ xt.T


def _split_columns(x: sp.csr_matrix, common: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
    """``x`` ``(n, f)`` CSR split into its ``common`` columns, dense ``(n, n_common)`` in their
    order, and the others, CSR ``(n, f)`` with the common entries left out."""
    n = x.shape[0]
    rows = np.repeat(np.arange(n), np.diff(x.indptr))  # (nnz,) row of each entry
    in_common = common[x.indices]  # (nnz,)
    position = np.cumsum(common) - 1  # (f,) column -> its dense column
    dense = np.zeros((n, int(np.count_nonzero(common))), dtype=np.float64)
    dense[rows[in_common], position[x.indices[in_common]]] = x.data[in_common]
    rest = ~in_common
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[rest], minlength=n))])
    tail = sp.csr_matrix((x.data[rest], x.indices[rest], indptr), shape=x.shape)
    return dense, tail


def fold_ridge_scores(x_train: Any, x_test: Any, y: np.ndarray) -> np.ndarray:
    """Ridge scores of one fold for every column of ``y``: primal form for dense features
    narrower than the training set, dual (kernel) form otherwise. Same model either way."""
    if not sp.issparse(x_train) and np.shape(x_train)[1] < np.shape(x_train)[0]:
        return primal_scores(x_train, x_test, y)
    k_train, k_test = fold_kernels(x_train, x_test)
    return ridge_scores(k_train, k_test, y)
