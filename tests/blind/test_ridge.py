"""The closed-form ridge classifier of the blind baselines against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Ridge

from miakit.blind._ridge import fold_kernels, fold_ridge_scores
from miakit.metrics.ridge import primal_scores, ridge_scores


@pytest.mark.parametrize("sparse", [False, True])
def test_dual_ridge_equals_sklearn_ridge_with_the_same_penalty(sparse):
    # scores are the prediction minus the intercept's training mean label (see _ridge)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 80)) * (rng.random((50, 80)) < 0.3)
    x[:, :5] = rng.normal(size=(50, 5))  # dense columns: the kernel's dense path
    xs = rng.normal(size=(12, 80)) * (rng.random((12, 80)) < 0.3)
    y = np.stack([rng.permutation(np.r_[np.ones(20), np.zeros(30)]) for _ in range(4)], 1)
    train, test = (sp.csr_matrix(x), sp.csr_matrix(xs)) if sparse else (x, xs)
    got = ridge_scores(*fold_kernels(train, test), y)
    lam = float(((x - x.mean(axis=0)) ** 2).sum()) / x.shape[0]
    for j in range(4):
        ref = Ridge(alpha=lam, solver="svd").fit(x, y[:, j]).predict(xs) - y[:, j].mean()
        np.testing.assert_allclose(got[:, j], ref, atol=1e-9)
    np.testing.assert_allclose(fold_ridge_scores(train, test, y), got, atol=1e-9)


def test_primal_equals_dual_and_one_class_gives_a_constant():
    rng = np.random.default_rng(2)
    x, xs = rng.normal(size=(40, 6)), rng.normal(size=(9, 6))
    y = (rng.random(40) < 0.5).astype(float)
    np.testing.assert_allclose(primal_scores(x, xs, y), ridge_scores(*fold_kernels(x, xs), y))
    np.testing.assert_allclose(primal_scores(x, xs, np.zeros(40)), 0.0)
    np.testing.assert_allclose(ridge_scores(*fold_kernels(x, xs), np.ones(40)), 0.0)
