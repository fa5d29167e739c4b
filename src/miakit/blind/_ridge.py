"""Closed-form kernel ridge scoring of the blind baselines, for many labellings at once.

Pure numpy: :mod:`miakit.blind._cv` computes per-fold feature matrices and calls these. The
classifier is ridge regression of the 0/1 member label with an unpenalised intercept, in dual
(kernel) form with the linear kernel. Its fit is linear in the labels, so the scores of every
column of a label matrix ``Y`` come from one Cholesky factorisation per fold::

    Kc = H K H                   (K = X_train X_train^T, H centres the training rows)
    A  = (Kc + lam I)^-1 (Y - mean(Y))          (n_train, n_labellings)
    S  = (K_test,train - 1 m^T) A                (m = row means of K)

(``A`` sums to 0 down each column, which removes the other centring terms of the test
kernel.) ``lam`` is :data:`RIDGE` times the mean diagonal of ``Kc``, so the penalty does not
depend on the scale of the features.

The scores leave out the intercept ``mean(Y)``, the training folds' share of members. It
does not change the ranking within a fold, but it differs between folds with their class
balance, always against the test fold's (more members in training, fewer in test), so
pooling scores that carry it biases the pooled AUROC below 0.5. Measured on random labels of
400 Python-doc paragraphs: the ``dates`` baseline's null mean was 0.457 with it and 0.492
without (0.424 and 0.493 at 120 texts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

#: Ridge penalty relative to the mean squared norm of the centred training rows.
RIDGE = 1.0
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


def ridge_scores(k_train: np.ndarray, k_test: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Test scores of kernel ridge regression fitted to every column of ``y`` at once.

    Args:
        k_train: ``(n_train, n_train)`` linear kernel of the training rows.
        k_test: ``(n_test, n_train)`` kernel between test and training rows.
        y: ``(n_train,)`` or ``(n_train, n_labellings)`` 0/1 labels. A column with a single
            class (a small class missing from a training fold) gives the constant score 0:
            the model has nothing to learn from.

    Returns:
        ``(n_test,)`` or ``(n_test, n_labellings)`` float64 scores (the ridge prediction minus
        the training mean label), higher = more member-like.
    """
    y2 = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
    row_mean = k_train.mean(axis=1)  # (n_train,)
    kc = k_train - row_mean[:, None] - row_mean[None, :] + row_mean.mean()
    lam = RIDGE * max(float(np.trace(kc)) / kc.shape[0], 1e-12)
    kc[np.diag_indices_from(kc)] += lam
    y_mean = y2.mean(axis=0)  # (n_labellings,)
    alpha = scipy.linalg.cho_solve(scipy.linalg.cho_factor(kc), y2 - y_mean)
    out = (k_test - row_mean[None, :]) @ alpha  # the fit minus its intercept mean(Y)
    return out if np.ndim(y) == 2 else out[:, 0]


def primal_scores(x_train: np.ndarray, x_test: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The same ridge fit as :func:`ridge_scores`, solved in primal form (few dense features).

    ``W = (Xc^T Xc + lam I)^-1 Xc^T (Y - mean(Y))`` with ``Xc`` the centred training rows and
    the same ``lam`` (``trace(Xc^T Xc) = trace(Kc)``); scores ``(X_test - mu) W + mean(Y)``.
    An ``(f, f)`` solve instead of ``(n_train, n_train)``: cheaper when ``f < n_train``.
    """
    y2 = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
    xt = np.asarray(x_train, dtype=np.float64)
    mu = xt.mean(axis=0)  # (f,)
    xc = xt - mu
    gram = xc.T @ xc  # (f, f)
    lam = RIDGE * max(float(np.trace(gram)) / xt.shape[0], 1e-12)
    gram[np.diag_indices_from(gram)] += lam
    y_mean = y2.mean(axis=0)
    w = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), xc.T @ (y2 - y_mean))  # (f, m)
    out = (np.asarray(x_test, dtype=np.float64) - mu) @ w  # the fit minus mean(Y)
    return out if np.ndim(y) == 2 else out[:, 0]


def fold_ridge_scores(x_train: Any, x_test: Any, y: np.ndarray) -> np.ndarray:
    """Ridge scores of one fold for every column of ``y``: primal form for dense features
    narrower than the training set, dual (kernel) form otherwise. Same model either way."""
    if not sp.issparse(x_train) and np.shape(x_train)[1] < np.shape(x_train)[0]:
        return primal_scores(x_train, x_test, y)
    k_train, k_test = fold_kernels(x_train, x_test)
    return ridge_scores(k_train, k_test, y)
