"""The one ridge classifier of miakit, closed form, for many labellings at once (pure numpy).

Ridge regression of a 0/1 label with an unpenalised intercept. Two users, peers that may not
import each other, share it here (as they share :mod:`miakit.metrics.ranks`' AUROC): the
blind baselines (:mod:`miakit.blind._ridge` builds their fold kernels and picks the form) and
the combiners of dataset inference and the collection test
(:mod:`miakit.inference.combiner`). Its fit is linear in the labels, so every column of a
label matrix ``Y`` is fitted by one Cholesky factorisation: a permutation test refits it for
each permutation exactly, at the cost of one matrix product.

Penalty: ``lam =`` :data:`RIDGE` times the mean squared norm of the centred training rows
(``trace(Xc^T Xc) / n = trace(Kc) / n``), so it does not depend on the scale of the features.

- **primal** (:func:`ridge_fit`, :func:`primal_scores`): ``W = (Xc^T Xc + lam I)^-1 Xc^T
  (Y - mean(Y))``, an ``(f, f)`` solve, for few dense features;
- **dual** (:func:`ridge_scores`), with the linear kernel, an ``(n_train, n_train)`` solve, for
  many (sparse) features::

      Kc = H K H                   (K = X_train X_train^T, H centres the training rows)
      A  = (Kc + lam I)^-1 (Y - mean(Y))          (n_train, n_labellings)
      S  = (K_test,train - 1 m^T) A                (m = row means of K)

  (``A`` sums to 0 down each column, which removes the other centring terms of the test
  kernel.)

The scores leave out the intercept ``mean(Y)``, the training folds' share of members. It does
not change the ranking within a fold, but it differs between folds with their class balance,
always against the test fold's (more members in training, fewer in test), so pooling scores
that carry it biases the pooled AUROC below 0.5. Measured on random labels of 400 Python-doc
paragraphs: the ``dates`` blind baseline's null mean was 0.457 with it and 0.492 without
(0.424 and 0.493 at 120 texts). A label column with one class only gives zero weights and the
constant score 0: nothing to learn.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RIDGE", "primal_scores", "ridge_fit", "ridge_scores"]

#: Ridge penalty relative to the mean squared norm of the centred training rows.
RIDGE = 1.0


def _primal(x_train: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(W (f, m), mu (f,))`` for the label columns of ``y`` ``(n_train,)`` or ``(n_train, m)``."""
    import scipy.linalg  # here: a run imports this module before its models load (issue 15)

    y2 = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
    mu = x_train.mean(axis=0)  # (f,)
    xc = x_train - mu
    gram = xc.T @ xc  # (f, f)
    lam = RIDGE * max(float(np.trace(gram)) / x_train.shape[0], 1e-12)
    gram[np.diag_indices_from(gram)] += lam
    w = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), xc.T @ (y2 - y2.mean(axis=0)))
    return w, mu


def ridge_fit(z_train: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Primal ridge weights for every label column at once.

    Args:
        z_train: ``(n_train, f)`` float64 features.
        y: ``(n_train,)`` or ``(n_train, m)`` 0/1 labels (1 = member or suspect).

    Returns:
        ``(w, mu)``: ``w`` ``(f,)`` or ``(f, m)`` weights and ``mu`` ``(f,)`` the training
        mean the scores are centred on: ``score = (z - mu) @ w``.
    """
    w, mu = _primal(z_train, y)
    return (w if np.ndim(y) == 2 else w[:, 0]), mu


def primal_scores(x_train: np.ndarray, x_test: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Test scores of the primal fit, ``(X_test - mu) W``: ``(n_test,)`` or ``(n_test, m)``.

    The same model as :func:`ridge_scores` (same ``lam``); cheaper when ``f < n_train``.
    """
    w, mu = _primal(np.asarray(x_train, dtype=np.float64), y)
    out = (np.asarray(x_test, dtype=np.float64) - mu) @ w  # the fit minus mean(Y)
    return out if np.ndim(y) == 2 else out[:, 0]


def ridge_scores(k_train: np.ndarray, k_test: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Test scores of kernel (dual) ridge regression fitted to every column of ``y`` at once.

    Args:
        k_train: ``(n_train, n_train)`` linear kernel of the training rows.
        k_test: ``(n_test, n_train)`` kernel between test and training rows.
        y: ``(n_train,)`` or ``(n_train, n_labellings)`` 0/1 labels.

    Returns:
        ``(n_test,)`` or ``(n_test, n_labellings)`` float64 scores (the ridge prediction minus
        the training mean label), higher = more member-like.
    """
    import scipy.linalg

    y2 = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
    row_mean = k_train.mean(axis=1)  # (n_train,)
    kc = k_train - row_mean[:, None] - row_mean[None, :] + row_mean.mean()
    lam = RIDGE * max(float(np.trace(kc)) / kc.shape[0], 1e-12)
    kc[np.diag_indices_from(kc)] += lam
    y_mean = y2.mean(axis=0)  # (n_labellings,)
    alpha = scipy.linalg.cho_solve(scipy.linalg.cho_factor(kc), y2 - y_mean)
    out = (k_test - row_mean[None, :]) @ alpha  # the fit minus its intercept mean(Y)
    return out if np.ndim(y) == 2 else out[:, 0]
