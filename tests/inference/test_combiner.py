"""The combiner: clipping and standardisation fitted on training rows, rows kept intact, ridge."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.inference.combiner import CLIP_QUANTILE, Preprocessor, fit_score
from miakit.metrics.ridge import primal_scores, ridge_fit


def test_bounds_are_training_quantiles_and_test_rows_do_not_move_them():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(200, 4)), rng.normal(size=(50, 4))
    pre = Preprocessor.fit(train)
    q = np.quantile(train, [CLIP_QUANTILE, 1 - CLIP_QUANTILE], axis=0)
    np.testing.assert_allclose(pre.low, q[0])
    np.testing.assert_allclose(pre.high, q[1])
    clipped = np.clip(train, q[0], q[1])
    np.testing.assert_allclose(pre.mean, clipped.mean(axis=0))
    np.testing.assert_allclose(pre.scale, clipped.std(axis=0))
    # scores of the test rows come from a fit that never saw them
    test2 = test.copy()
    test2[0] *= 1e6
    y = (np.random.default_rng(1).random(200) < 0.5).astype(float)
    a, b = fit_score(train, test, y), fit_score(train, test2, y)
    np.testing.assert_array_equal(a[1:], b[1:])


def test_rows_are_kept_intact():
    """Row i of the output depends on row i of the input only (not the peers' per-column sort,
    which pairs the values of different texts)."""
    rng = np.random.default_rng(2)
    pre = Preprocessor.fit(rng.normal(size=(100, 3)))
    x = rng.normal(size=(30, 3)) * 3
    z = pre.transform(x)
    perm = rng.permutation(30)
    np.testing.assert_array_equal(pre.transform(x[perm]), z[perm])
    x2 = x.copy()
    x2[5] = [100.0, -100.0, 0.0]
    z2 = pre.transform(x2)
    np.testing.assert_array_equal(np.delete(z2, 5, axis=0), np.delete(z, 5, axis=0))
    # an element-wise clip: each value moves to the nearest bound, in its own row and column
    expected = (np.clip(x, pre.low, pre.high) - pre.mean) / pre.scale
    np.testing.assert_allclose(z, expected)


def test_missing_values_become_the_training_mean_and_constants_are_harmless():
    train = np.array([[1.0, 5.0, np.nan], [2.0, 5.0, np.nan], [3.0, 5.0, np.nan], [np.nan, 5, 1]])
    pre = Preprocessor.fit(train, clip=0.0)
    z = pre.transform(np.array([[np.nan, 5.0, np.inf], [2.0, 7.0, np.nan]]))
    assert np.isfinite(z).all()
    assert z[0, 0] == 0.0 and z[1, 0] == 0.0  # NaN -> mean (2.0) -> 0; the mean itself -> 0
    assert z[0, 1] == 0.0 and z[1, 1] == 0.0  # constant training column: clipped to 5 -> 0
    assert z[:, 2].tolist() == [0.0, 0.0]  # one finite training value: sd 0, scale 1
    empty = Preprocessor.fit(np.full((5, 2), np.nan))
    assert (empty.transform(np.ones((3, 2))) == 0).all()


@pytest.mark.parametrize("m", [1, 7])
def test_ridge_is_sklearns_ridge_with_the_same_penalty(m):
    """The combiner's ridge (miakit.metrics.ridge, the blind baselines' too) against an
    independent reference: scikit-learn's Ridge with an intercept and lam = the mean squared
    norm of the centred training rows; scores = prediction minus the training mean label."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(3)
    z_train, z_test = rng.normal(size=(80, 5)), rng.normal(size=(20, 5))
    y = (rng.random((80, m)) < 0.4).astype(float)
    w, mu = ridge_fit(z_train, y)
    lam = float(((z_train - z_train.mean(axis=0)) ** 2).sum()) / z_train.shape[0]
    for j in range(m):
        ref = Ridge(alpha=lam, solver="svd").fit(z_train, y[:, j])
        np.testing.assert_allclose((z_test - mu) @ w[:, j], ref.predict(z_test) - y[:, j].mean())
        np.testing.assert_allclose(w[:, j], ref.coef_, atol=1e-12)
    np.testing.assert_array_equal((z_test - mu) @ w, primal_scores(z_train, z_test, y))
    w1, mu1 = ridge_fit(z_train, y[:, 0])
    np.testing.assert_allclose(w1, w[:, 0], atol=1e-12)
    np.testing.assert_array_equal(mu1, mu)


def _old_document_standardiser(train, test):
    """The document combiner's own standardisation before it used Preprocessor (733f91d's
    ``doc_classifiers._standardised``), kept as the reference."""
    finite = np.where(np.isfinite(train), train, np.nan)
    centre = np.nan_to_num(np.nanmean(finite, axis=0))
    scale = np.nan_to_num(np.nanstd(finite, axis=0))
    scale = np.where(scale > 0, scale, 1.0)

    def z(x):
        return np.nan_to_num((np.where(np.isfinite(x), x, np.nan) - centre) / scale, nan=0.0)

    return z(train), z(test)


@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_unclipped_preprocessor_is_the_document_combiners_standardiser(missing):
    rng = np.random.default_rng(6)
    train, test = rng.standard_t(3, size=(120, 5)) * 50, rng.standard_t(3, size=(40, 5)) * 50
    for x in (train, test):
        x[rng.random(x.shape) < missing] = np.nan
    train[:, 3] = 7.0  # a constant column
    test[0, 0] = np.inf
    pre = Preprocessor.fit(train, clip=None)
    assert np.isneginf(pre.low).all() and np.isposinf(pre.high).all()
    ref_train, ref_test = _old_document_standardiser(train, test)
    # equal up to the order of the column sums (a strided copy): a few ulps
    np.testing.assert_allclose(pre.transform(train), ref_train, rtol=1e-13, atol=1e-14)
    got = pre.transform(test)
    np.testing.assert_allclose(got, ref_test, rtol=1e-13, atol=1e-14)
    assert got[0, 0] == 0.0  # inf is missing: the training mean


def test_ridge_is_linear_in_the_labels_so_columns_fit_independently():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(60, 4))
    y = (rng.random((60, 3)) < 0.5).astype(float)
    w_all, _ = ridge_fit(z, y)
    for j in range(3):
        np.testing.assert_allclose(w_all[:, j], ridge_fit(z, y[:, j])[0], atol=1e-12)
    one_class = np.ones(60)
    assert (ridge_fit(z, one_class)[0] == 0).all()  # nothing to learn


def test_learns_the_leaky_direction():
    rng = np.random.default_rng(5)
    n = 400
    x = rng.normal(size=(n, 4))
    y = (np.arange(n) < n // 2).astype(float)
    x[y == 1, 1] += 1.0
    w, _ = ridge_fit(Preprocessor.fit(x).transform(x), y)
    assert int(np.argmax(w)) == 1 and w[1] > 0
