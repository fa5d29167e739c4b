"""Stratified bootstrap: determinism, coverage sanity, vectorised path = naive loop."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.errors import InvalidParameterError
from miakit.metrics import auroc, bootstrap_ci, bootstrap_metrics, tpr_at_fpr
from miakit.metrics import bootstrap as bootstrap_module
from miakit.metrics.bootstrap import (
    _bootstrap_distribution,
    _draw_indices,
    _split,
    _vectorised_metrics,
)


def _leaky(n: int, *, seed: int = 0, shift: float = 1.0, ties: bool = False):
    """``(scores, labels)``: members score ``shift`` higher on average."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.normal(size=n) + shift * labels
    return (np.round(scores) if ties else scores), labels


# ------------------------------------------------------------------- vectorised = naive loop


@settings(max_examples=60, deadline=None)
@given(
    n_pos=st.integers(1, 25),
    n_neg=st.integers(1, 25),
    n_levels=st.sampled_from([2, 4, 1000]),
    seed=st.integers(0, 2**32 - 1),
)
def test_vectorised_metrics_equal_a_naive_loop_over_the_same_draws(n_pos, n_neg, n_levels, seed):
    rng = np.random.default_rng(seed)
    # few levels = heavy ties
    scores = rng.integers(0, n_levels, n_pos + n_neg).astype(np.float64)
    labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    perm = rng.permutation(scores.size)
    scores, labels = scores[perm], labels[perm]
    # targets below 1/n_neg, exactly on k/n_neg, between grid points, and 1
    targets = (0.0, 0.001, 1 / n_neg, min(1.0, 3 / n_neg), 0.37, 1.0)
    pos_idx = rng.integers(0, n_pos, size=(7, n_pos))
    neg_idx = rng.integers(0, n_neg, size=(7, n_neg))

    split = _split(scores, labels)
    auc, tprs = _vectorised_metrics(split, pos_idx, neg_idx, targets)

    pos, neg = scores[labels == 1], scores[labels == 0]
    resampled_labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    assert auc.shape == (7,)
    for r in range(7):
        resampled = np.r_[pos[pos_idx[r]], neg[neg_idx[r]]]
        # bit-identical: both are the same integer count divided once
        assert auc[r] == auroc(resampled, resampled_labels)
        for t in targets:
            assert tprs[t][r] == tpr_at_fpr(resampled, resampled_labels, fpr=t), t


@pytest.mark.parametrize(
    "make_statistic",
    [
        lambda: auroc,
        lambda: functools.partial(tpr_at_fpr, fpr=0.05),
        lambda: functools.partial(tpr_at_fpr, fpr=0.0),
    ],
)
@pytest.mark.parametrize("ties", [False, True])
def test_fast_path_equals_the_generic_loop(make_statistic, ties):
    scores, labels = _leaky(300, seed=1, ties=ties)
    statistic = make_statistic()

    def opaque(s, y):  # not recognised as a fast statistic: goes through the loop
        return statistic(s, y)

    fast = _bootstrap_distribution(scores, labels, statistic, n_resamples=50, seed=4)
    slow = _bootstrap_distribution(scores, labels, opaque, n_resamples=50, seed=4)
    np.testing.assert_array_equal(fast, slow)
    assert bootstrap_ci(scores, labels, statistic, n_resamples=50, seed=4) == bootstrap_ci(
        scores, labels, opaque, n_resamples=50, seed=4
    )


def test_many_small_chunks_give_the_same_as_loop(monkeypatch):
    # 3 resamples per chunk: 10 resamples span 4 chunks, the last one partial
    scores, labels = _leaky(40, seed=2, ties=True)
    monkeypatch.setattr(bootstrap_module, "_CHUNK_ELEMENTS", 3 * 40)
    chunks = list(_draw_indices(np.random.default_rng(0), n_pos=20, n_neg=20, n_resamples=10))
    assert [c[0].shape[0] for c in chunks] == [3, 3, 3, 1]
    fast = _bootstrap_distribution(scores, labels, auroc, n_resamples=10, seed=0)
    slow = _bootstrap_distribution(scores, labels, lambda s, y: auroc(s, y), n_resamples=10, seed=0)
    assert fast.shape == (10,)
    np.testing.assert_array_equal(fast, slow)


@pytest.mark.parametrize("block_elements", [1, 3 * 40, 1 << 16])
@pytest.mark.parametrize("ties", [False, True])
def test_blocks_of_resamples_give_the_same_as_loop(monkeypatch, block_elements, ties):
    """One resample per block, blocks of 3 (the last one partial), one block for all."""
    scores, labels = _leaky(40, seed=6, ties=ties)
    monkeypatch.setattr(bootstrap_module, "_BLOCK_ELEMENTS", block_elements)
    for stat in (auroc, functools.partial(tpr_at_fpr, fpr=0.05)):

        def opaque(s, y, stat=stat):  # not recognised as a fast statistic: the loop
            return stat(s, y)

        fast = _bootstrap_distribution(scores, labels, stat, n_resamples=10, seed=3)
        slow = _bootstrap_distribution(scores, labels, opaque, n_resamples=10, seed=3)
        np.testing.assert_array_equal(fast, slow)


# ---------------------------------------------------------------- resampling and the interval


@pytest.mark.parametrize("n_resamples", [1, 7, 1000])
def test_n_resamples_is_respected(n_resamples):
    scores, labels = _leaky(60)
    calls = []

    def counting(s, y):
        calls.append(1)
        return auroc(s, y)

    _bootstrap_distribution(scores, labels, counting, n_resamples=n_resamples, seed=0)
    assert len(calls) == n_resamples
    fast = _bootstrap_distribution(scores, labels, auroc, n_resamples=n_resamples, seed=0)
    assert fast.shape == (n_resamples,)


def test_resamples_are_stratified():
    scores, labels = _leaky(50, seed=3)
    n_pos = int(labels.sum())
    members, nonmembers = set(scores[labels == 1]), set(scores[labels == 0])

    def check(s, y):
        assert s.shape == (50,)
        assert int(y.sum()) == n_pos  # class counts kept
        assert set(s[y == 1]) <= members and set(s[y == 0]) <= nonmembers
        return 0.0

    _bootstrap_distribution(scores, labels, check, n_resamples=30, seed=0)


def test_same_seed_same_interval_and_different_seed_differs():
    scores, labels = _leaky(500)
    for statistic in (auroc, functools.partial(tpr_at_fpr, fpr=0.05)):
        a = bootstrap_ci(scores, labels, statistic, n_resamples=300, seed=11)
        b = bootstrap_ci(scores, labels, statistic, n_resamples=300, seed=11)
        c = bootstrap_ci(scores, labels, statistic, n_resamples=300, seed=12)
        assert a == b
        assert a != c


def test_interval_contains_the_point_estimate():
    scores, labels = _leaky(1000, shift=1.0)
    lo, hi = bootstrap_ci(scores, labels, auroc, n_resamples=500)
    assert lo < auroc(scores, labels) < hi
    assert 0.0 <= lo < hi <= 1.0
    tpr_stat = functools.partial(tpr_at_fpr, fpr=0.05)
    lo, hi = bootstrap_ci(scores, labels, tpr_stat, n_resamples=500)
    assert lo < tpr_at_fpr(scores, labels, fpr=0.05) < hi


def test_interval_narrows_with_more_samples():
    small = bootstrap_ci(*_leaky(200, seed=5), auroc, n_resamples=300)
    large = bootstrap_ci(*_leaky(5000, seed=5), auroc, n_resamples=300)
    width_small, width_large = small[1] - small[0], large[1] - large[0]
    # the width scales like 1/sqrt(n): 25x the samples, about 1/5 the width
    assert width_large < 0.4 * width_small


def test_higher_confidence_gives_a_wider_interval():
    scores, labels = _leaky(400)
    lo90, hi90 = bootstrap_ci(scores, labels, auroc, n_resamples=400, confidence=0.9)
    lo99, hi99 = bootstrap_ci(scores, labels, auroc, n_resamples=400, confidence=0.99)
    assert lo99 <= lo90 and hi90 <= hi99 and (hi99 - lo99) > (hi90 - lo90)


def test_bootstrap_metrics_equals_separate_bootstrap_ci_calls():
    scores, labels = _leaky(800, ties=True)
    targets = (0.001, 0.01, 0.05)
    result = bootstrap_metrics(scores, labels, fpr_targets=targets, n_resamples=200, seed=9)
    assert set(result) == {"auroc", "tpr_at_fpr"}
    assert result["auroc"] == bootstrap_ci(scores, labels, auroc, n_resamples=200, seed=9)
    assert set(result["tpr_at_fpr"]) == set(targets)
    for t in targets:
        stat = functools.partial(tpr_at_fpr, fpr=t)
        assert result["tpr_at_fpr"][t] == bootstrap_ci(
            scores, labels, stat, n_resamples=200, seed=9
        )


# ------------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_resamples": 0}, "n_resamples must be >= 1"),
        ({"n_resamples": 10.0}, "n_resamples must be an int"),
        ({"confidence": 1.0}, "confidence must be in"),
        ({"confidence": 0.0}, "confidence must be in"),
        ({"seed": None}, "seed must be an int"),
    ],
)
def test_invalid_options_raise(options, match):
    scores, labels = _leaky(20)
    with pytest.raises(InvalidParameterError, match=match):
        bootstrap_ci(scores, labels, auroc, **options)
    with pytest.raises(InvalidParameterError, match=match):
        bootstrap_metrics(scores, labels, **options)


def test_all_option_problems_are_reported_at_once():
    with pytest.raises(InvalidParameterError, match=r"n_resamples.*confidence.*seed"):
        bootstrap_ci([0.0, 1.0], [0, 1], auroc, n_resamples=-1, confidence=2.0, seed="x")


def test_one_class_and_bad_targets_raise():
    with pytest.raises(InvalidParameterError, match="both members"):
        bootstrap_ci([0.1, 0.2], [1, 1], auroc)
    with pytest.raises(InvalidParameterError, match="fpr_targets"):
        bootstrap_metrics([0.1, 0.2], [0, 1], fpr_targets=(1.5,))
    with pytest.raises(InvalidParameterError, match="fpr_targets"):
        bootstrap_metrics([0.1, 0.2], [0, 1], fpr_targets=())
