"""The one AUROC: the vectorised rank AUROC that :func:`miakit.metrics.auroc` and the blind
baselines share, against the exact pair-counting form that ``auroc`` used before and against
scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.metrics import auroc, auroc_columns
from miakit.metrics.ranks import average_ranks


def twice_u_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """``metrics.auroc`` as it was before it shared the rank code: exact pair counting
    (members above a non-member count 2, ties 1), one division."""
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[labels == 1], np.sort(s[labels == 0])
    lo = np.searchsorted(neg, pos, side="left")
    hi = np.searchsorted(neg, pos, side="right")
    twice_u = int(lo.sum(dtype=np.int64) + hi.sum(dtype=np.int64))
    return twice_u / (2.0 * pos.shape[0] * neg.shape[0])


def _labels(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """``(n, m)`` 0/1 labels with both classes in every column and varying member counts."""
    y = (rng.random((n, m)) < rng.uniform(0.1, 0.9, size=m)).astype(np.int64)
    y[0], y[1] = 1, 0
    return y


@pytest.mark.parametrize("n", [2, 3, 17, 200, 5001])
@pytest.mark.parametrize("kind", ["continuous", "ties", "binary", "float32"])
def test_the_shared_auroc_is_bit_identical_to_pair_counting(n, kind):
    rng = np.random.default_rng(n)
    for _ in range(20):
        y = _labels(rng, n, 1)[:, 0]
        s = {
            "continuous": rng.normal(size=n),
            "ties": np.round(rng.normal(size=n), 1),
            "binary": rng.integers(0, 2, size=n).astype(float),
            "float32": rng.normal(size=n).astype(np.float32),
        }[kind]
        assert auroc(s, y) == twice_u_auroc(s, y)  # ==, not approx: the numbers do not move


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_equal_to_sklearn_and_pair_counting_on_random_inputs(data):
    n = data.draw(st.integers(2, 60))
    s = np.array(data.draw(st.lists(st.integers(-3, 3).map(float), min_size=n, max_size=n)))
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[0], y[-1] = 1, 0
    assert auroc(s, y) == twice_u_auroc(s, y)
    assert auroc(s, y) == pytest.approx(sklearn.metrics.roc_auc_score(y, s), abs=1e-12)


def test_columns_equal_the_scalar_auroc_with_ties():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(60, 9)), 1)  # many ties
    labels = np.stack([rng.permutation(np.r_[np.ones(25), np.zeros(35)]) for _ in range(9)], 1)
    labels = labels.astype(np.int64)
    expected = [auroc(scores[:, j], labels[:, j]) for j in range(9)]
    np.testing.assert_array_equal(auroc_columns(scores, labels), expected)
    # one score vector against many labellings
    one = [auroc(scores[:, 0], labels[:, j]) for j in range(9)]
    np.testing.assert_array_equal(auroc_columns(scores[:, 0], labels), one)


def test_columns_with_different_member_counts():
    rng = np.random.default_rng(3)
    scores = np.round(rng.normal(size=(80, 12)), 1)
    labels = _labels(rng, 80, 12)
    assert len(set(labels.sum(axis=0).tolist())) > 1
    expected = [twice_u_auroc(scores[:, j], labels[:, j]) for j in range(12)]
    np.testing.assert_array_equal(auroc_columns(scores, labels), expected)


def test_average_ranks_equal_scipy():
    rng = np.random.default_rng(4)
    s = np.round(rng.normal(size=(50, 7)), 1)
    np.testing.assert_array_equal(average_ranks(s), scipy.stats.rankdata(s, axis=0))
