"""ROC, AUROC, TPR@FPR and FPR@TPR against scikit-learn, brute force and known answers.

Also tests :func:`miakit.metrics.evaluate` and :func:`roc_points`, the entry points that handle
NaN scores and unknown labels on top of these functions.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sklearn.metrics
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.errors import InvalidParameterError
from miakit.metrics import (
    auroc,
    bootstrap_metrics,
    evaluate,
    fpr_at_tpr,
    roc_arrays,
    roc_curve,
    roc_points,
    tpr_at_fpr,
)

SETTINGS = settings(max_examples=150, deadline=None)

# Scores of three kinds: continuous floats, a handful of integers (heavy ties) and two values.
_SCORE_ELEMENTS = st.one_of(
    st.just(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
    st.just(st.integers(-3, 3).map(float)),
    st.just(st.sampled_from([0.0, 1.0])),
)


@st.composite
def scored_labels(draw, max_size: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, labels)`` of equal length with at least one member and one non-member."""
    elements = draw(_SCORE_ELEMENTS)
    n = draw(st.integers(2, max_size))
    scores = np.array(draw(st.lists(elements, min_size=n, max_size=n)))
    labels = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    # force both classes at random positions
    i, j = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
    labels[i], labels[j] = 1, 0
    return scores, labels


def brute_force_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every threshold in {+inf} ∪ scores, by direct counting."""
    thresholds = np.r_[np.inf, np.unique(scores)]
    pos, neg = scores[labels == 1], scores[labels == 0]
    fpr = np.array([np.count_nonzero(neg >= t) / neg.size for t in thresholds])
    tpr = np.array([np.count_nonzero(pos >= t) / pos.size for t in thresholds])
    return fpr, tpr


# A fixture whose nearest ROC point to FPR 0.19 lies *above* it. 10 members, 10 non-members,
# descending: M M M | N | {N + 6 M tied at 7.0} | M | 8 N. ROC points:
# (0,0) (0,.1) (0,.2) (0,.3) (.1,.3) (.2,.9) (.2,1) (.3,1) ... (1,1)
STEP_SCORES = np.r_[10.0, 9.5, 9.0, 8.0, [7.0] * 7, np.arange(6.0, -3.0, -1.0)]
STEP_LABELS = np.r_[1, 1, 1, 0, 0, [1] * 6, 1, [0] * 8]


# ---------------------------------------------------------------- ROC curve and AUROC parity


def test_roc_curve_sklearn_docstring_example():
    fpr, tpr, thr = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    np.testing.assert_array_equal(fpr, [0.0, 0.0, 0.5, 0.5, 1.0])
    np.testing.assert_array_equal(tpr, [0.0, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(thr, [np.inf, 0.8, 0.4, 0.35, 0.1])


def test_roc_curve_step_fixture_points():
    fpr, tpr, thr = roc_curve(STEP_SCORES, STEP_LABELS)
    # one point per distinct score (the tied 7.0s form one point), plus the (0, 0) start
    np.testing.assert_array_equal(
        thr, np.r_[np.inf, 10.0, 9.5, 9.0, 8.0, 7.0, np.arange(6, -3, -1)]
    )
    np.testing.assert_array_equal(fpr, np.r_[0, 0, 0, 0, 1, 2, 2, np.arange(3, 11)] / 10)
    np.testing.assert_array_equal(tpr, np.r_[0, 1, 2, 3, 3, 9, [10] * 9] / 10)


@SETTINGS
@given(scored_labels())
def test_roc_curve_equals_sklearn(data):
    scores, labels = data
    fpr, tpr, thr = roc_curve(scores, labels)
    ref_fpr, ref_tpr, ref_thr = sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_array_equal(fpr, ref_fpr)
    np.testing.assert_array_equal(tpr, ref_tpr)
    np.testing.assert_array_equal(thr, ref_thr)


@SETTINGS
@given(scored_labels())
def test_auroc_equals_sklearn(data):
    scores, labels = data
    assert auroc(scores, labels) == pytest.approx(
        sklearn.metrics.roc_auc_score(labels, scores), abs=1e-12
    )


def test_auroc_equals_sklearn_on_large_tied_data():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 20_000)
    scores = np.round(rng.normal(size=labels.size) + 0.3 * labels, 1)  # many ties
    assert auroc(scores, labels) == pytest.approx(
        sklearn.metrics.roc_auc_score(labels, scores), abs=1e-12
    )


@SETTINGS
@given(scored_labels())
def test_auroc_of_negated_scores_is_one_minus_auroc(data):
    scores, labels = data
    assert auroc(-scores, labels) == pytest.approx(1.0 - auroc(scores, labels), abs=1e-12)


@SETTINGS
@given(scored_labels(), st.sampled_from(["dense_rank", "cube_of_rank", "affine"]))
def test_metrics_invariant_under_strictly_increasing_transform(data, transform):
    scores, labels = data
    # transforms that stay strictly increasing in floating point (no distinct values collapse)
    rank = np.unique(scores, return_inverse=True)[1].astype(np.float64)
    transformed = {
        "dense_rank": rank,
        "cube_of_rank": (rank - 5.0) ** 3,
        "affine": 2.0 * rank - 100.0,
    }[transform]
    assert auroc(transformed, labels) == auroc(scores, labels)
    fpr_a, tpr_a, _ = roc_curve(scores, labels)
    fpr_b, tpr_b, _ = roc_curve(transformed, labels)
    np.testing.assert_array_equal(fpr_a, fpr_b)
    np.testing.assert_array_equal(tpr_a, tpr_b)
    for target in (0.0, 0.1, 0.5):
        assert tpr_at_fpr(transformed, labels, fpr=target) == tpr_at_fpr(scores, labels, fpr=target)


@SETTINGS
@given(scored_labels(), st.randoms(use_true_random=False))
def test_metrics_invariant_under_sample_order(data, random):
    scores, labels = data
    perm = np.array(random.sample(range(scores.size), scores.size))
    assert auroc(scores[perm], labels[perm]) == auroc(scores, labels)
    for a, b in zip(roc_curve(scores[perm], labels[perm]), roc_curve(scores, labels)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("value", [0.0, -3.5, 1e9])
def test_constant_scores_give_chance_auroc_and_diagonal_roc(value):
    labels = np.array([0, 1, 1, 0, 1, 0, 0])
    scores = np.full(labels.size, value)
    assert auroc(scores, labels) == 0.5
    fpr, tpr, _ = roc_curve(scores, labels)
    assert fpr.tolist() == [0.0, 1.0]
    assert tpr.tolist() == [0.0, 1.0]


def test_auroc_known_answers():
    assert auroc([1.0, 2.0, 3.0, 4.0], [0, 0, 1, 1]) == 1.0
    assert auroc([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 0]) == 0.0
    # pairs (member, non-member): (2,1)=1, (2,2)=1/2, (0,1)=0, (0,2)=0 -> 1.5 / 4
    assert auroc([2.0, 0.0, 1.0, 2.0], [1, 1, 0, 0]) == 0.375


# ----------------------------------------------------------------------- TPR at FPR, FPR at TPR


def test_tpr_at_fpr_picks_the_point_below_when_the_nearest_lies_above():
    # nearest ROC point to FPR 0.19 is (0.2, 0.9); it exceeds the budget, so (0.1, 0.3) it is
    assert tpr_at_fpr(STEP_SCORES, STEP_LABELS, fpr=0.19) == 0.3
    assert tpr_at_fpr(STEP_SCORES, STEP_LABELS, fpr=0.1999999) == 0.3


@pytest.mark.parametrize(
    ("target", "expected"),
    [(0.0, 0.3), (0.05, 0.3), (0.1, 0.3), (0.2, 1.0), (0.25, 1.0), (1.0, 1.0)],
)
def test_tpr_at_fpr_known_answers(target, expected):
    # at exactly FPR 0.2 there are two points, (0.2, 0.9) and (0.2, 1.0): the largest TPR wins
    assert tpr_at_fpr(STEP_SCORES, STEP_LABELS, fpr=target) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [(0.0, 0.0), (0.3, 0.0), (0.31, 0.2), (0.9, 0.2), (1.0, 0.2)],
)
def test_fpr_at_tpr_known_answers(target, expected):
    assert fpr_at_tpr(STEP_SCORES, STEP_LABELS, tpr=target) == expected


def test_tpr_at_fpr_below_one_over_n_floor():
    # 100 non-members: FPR 0.001 allows no false positive at all
    rng = np.random.default_rng(0)
    neg = rng.normal(size=100)
    pos = rng.normal(size=50)
    pos[:5] = neg.max() + 1.0 + np.arange(5)  # the 5 top scores are members
    scores, labels = np.r_[pos, neg], np.r_[np.ones(50, int), np.zeros(100, int)]
    expected = np.count_nonzero(pos > neg.max()) / 50
    assert expected >= 0.1
    assert tpr_at_fpr(scores, labels, fpr=0.001) == expected
    # a non-member on top: zero by construction
    scores_top_nonmember = np.r_[pos, neg[:-1], pos.max() + 1.0]
    assert tpr_at_fpr(scores_top_nonmember, labels, fpr=0.001) == 0.0


@SETTINGS
@given(scored_labels(), st.floats(0.0, 1.0), st.integers(0, 60))
def test_tpr_at_fpr_equals_brute_force(data, target, k):
    scores, labels = data
    fpr, tpr = brute_force_points(scores, labels)
    n_neg = np.count_nonzero(labels == 0)
    # a random target and one exactly on an achievable FPR k / n_neg (the boundary case)
    for t in (target, min(k, n_neg) / n_neg):
        assert tpr_at_fpr(scores, labels, fpr=t) == tpr[fpr <= t].max()


@SETTINGS
@given(scored_labels(), st.floats(0.0, 1.0), st.integers(0, 60))
def test_fpr_at_tpr_equals_brute_force(data, target, k):
    scores, labels = data
    fpr, tpr = brute_force_points(scores, labels)
    n_pos = np.count_nonzero(labels == 1)
    for t in (target, min(k, n_pos) / n_pos):
        assert fpr_at_tpr(scores, labels, tpr=t) == fpr[tpr >= t].min()


# ------------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        ([0.1, 0.2, 0.3], [1, 1, 1], "both members"),
        ([0.1, 0.2, 0.3], [0, 0, 0], "both members"),
        ([0.1, np.nan, 0.3], [0, 1, 1], "NaN"),
        ([0.1, np.inf, 0.3], [0, 1, 1], "infinite"),
        ([0.1, 0.2], [0, 1, 1], "same length"),
        ([0.1, 0.2, 0.3], [0, 1, 2], "labels must be in"),
        ([0.1, 0.2, 0.3], [0, 1, -1], "labels must be in"),
        ([[0.1, 0.2]], [[0, 1]], "1-D"),
        ([0.1, 0.2], ["a", "b"], "labels must be integers"),
    ],
)
@pytest.mark.parametrize("fn", [roc_curve, auroc])
def test_invalid_inputs_raise_with_guidance(fn, scores, labels, match):
    with pytest.raises(InvalidParameterError, match=match):
        fn(scores, labels)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_rate_targets_outside_unit_interval_raise(bad):
    with pytest.raises(InvalidParameterError, match="fpr must be a rate"):
        tpr_at_fpr([0.0, 1.0], [0, 1], fpr=bad)
    with pytest.raises(InvalidParameterError, match="tpr must be a rate"):
        fpr_at_tpr([0.0, 1.0], [0, 1], tpr=bad)


# ------------------------------------------------------------------------ evaluate, roc_points

EVALUATE_KEYS = {
    "n",
    "n_nan",
    "n_members",
    "n_nonmembers",
    "auroc",
    "auroc_ci",
    "tpr_at_fpr",
    "tpr_at_fpr_ci",
    "fpr_at_tpr_0.95",
}
FAST = {"n_resamples": 200}


def _leaky(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return rng.normal(size=n) + 1.0 * labels, labels


def _assert_plain_json(value) -> None:
    """Only Python dict/list/str/int/float (no numpy scalars), and json.dumps works."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str
            _assert_plain_json(v)
    elif isinstance(value, list):
        for v in value:
            _assert_plain_json(v)
    else:
        assert type(value) in (int, float, str), (value, type(value))


def test_evaluate_exact_shape_and_json():
    scores, labels = _leaky(400)
    result = evaluate(scores, labels, **FAST)
    assert set(result) == EVALUATE_KEYS
    assert set(result["tpr_at_fpr"]) == {"0.001", "0.01", "0.05"}
    assert set(result["tpr_at_fpr_ci"]) == {"0.001", "0.01", "0.05"}
    _assert_plain_json(result)
    assert json.loads(json.dumps(result)) == result
    assert type(result["n"]) is int and type(result["auroc"]) is float
    assert len(result["auroc_ci"]) == 2


def test_evaluate_values_match_the_functions():
    scores, labels = _leaky(400)
    result = evaluate(scores, labels, **FAST)
    assert result["auroc"] == auroc(scores, labels)
    assert result["fpr_at_tpr_0.95"] == fpr_at_tpr(scores, labels, tpr=0.95)
    cis = bootstrap_metrics(scores, labels, **FAST)
    assert result["auroc_ci"] == list(cis["auroc"])
    for t in (0.001, 0.01, 0.05):
        assert result["tpr_at_fpr"][format(t, "g")] == tpr_at_fpr(scores, labels, fpr=t)
        assert result["tpr_at_fpr_ci"][format(t, "g")] == list(cis["tpr_at_fpr"][t])


def test_evaluate_key_names_follow_the_targets():
    scores, labels = _leaky(100)
    result = evaluate(scores, labels, fpr_targets=(0.1, 0.0001), tpr_target=0.9, **FAST)
    assert set(result["tpr_at_fpr"]) == {"0.1", "0.0001"}
    assert "fpr_at_tpr_0.9" in result and "fpr_at_tpr_0.95" not in result


def test_evaluate_counts_nan_scores_and_excludes_them():
    scores, labels = _leaky(300)
    nan_at = np.array([0, 5, 7, 100, 299])
    with_nan = scores.copy()
    with_nan[nan_at] = np.nan
    result = evaluate(with_nan, labels, **FAST)
    keep = np.ones(300, bool)
    keep[nan_at] = False
    assert result["n"] == 300
    assert result["n_nan"] == 5
    assert result["n_members"] == np.count_nonzero(labels[keep] == 1)
    assert result["n_nonmembers"] == np.count_nonzero(labels[keep] == 0)
    assert result["n"] == result["n_nan"] + result["n_members"] + result["n_nonmembers"]
    expected = evaluate(scores[keep], labels[keep], **FAST)
    assert {k: v for k, v in result.items() if k not in ("n", "n_nan")} == {
        k: v for k, v in expected.items() if k not in ("n", "n_nan")
    }


def test_evaluate_ignores_unknown_labels_entirely():
    scores, labels = _leaky(300)
    extra_scores = np.array([100.0, np.nan, -100.0, 0.0])
    mixed_scores = np.r_[extra_scores[:2], scores, extra_scores[2:]]
    mixed_labels = np.r_[[-1, -1], labels, [-1, -1]]
    assert evaluate(mixed_scores, mixed_labels, **FAST) == evaluate(scores, labels, **FAST)
    assert roc_points(mixed_scores, mixed_labels) == roc_points(scores, labels)


@pytest.mark.parametrize(
    ("scores", "labels", "n", "n_nan"),
    [
        ([0.3, np.nan, np.nan, 0.1], [0, 1, 1, 0], 4, 2),  # members all unscored
        ([0.3, 0.2, 0.5], [1, 1, -1], 2, 0),  # no non-members at all
        ([np.nan, 1.0], [-1, -1], 0, 0),  # nothing labelled
    ],
)
def test_evaluate_one_class_gives_nan_metrics_and_error(scores, labels, n, n_nan):
    result = evaluate(scores, labels, **FAST)
    assert set(result) == EVALUATE_KEYS | {"error"}
    assert "both members and non-members" in result["error"]
    assert (result["n"], result["n_nan"]) == (n, n_nan)
    assert math.isnan(result["auroc"]) and math.isnan(result["fpr_at_tpr_0.95"])
    assert all(math.isnan(v) for v in result["auroc_ci"])
    assert set(result["tpr_at_fpr"]) == {"0.001", "0.01", "0.05"}
    assert all(math.isnan(v) for v in result["tpr_at_fpr"].values())
    assert all(math.isnan(x) for ci in result["tpr_at_fpr_ci"].values() for x in ci)
    _assert_plain_json(result)
    json.dumps(result)
    points = roc_points(scores, labels)
    assert points["fpr"] == [] and points["tpr"] == [] and "error" in points


def test_evaluate_rejects_infinite_scores_and_bad_labels():
    with pytest.raises(InvalidParameterError, match="infinite"):
        evaluate([np.inf, 0.0, 1.0], [1, 0, 1], **FAST)
    with pytest.raises(InvalidParameterError, match="labels must be in"):
        evaluate([0.5, 0.0, 1.0], [1, 0, 2], **FAST)


def test_evaluate_rejects_bad_options():
    scores, labels = _leaky(50)
    with pytest.raises(InvalidParameterError, match="fpr_targets"):
        evaluate(scores, labels, fpr_targets=(0.01, 2.0))
    with pytest.raises(InvalidParameterError, match="tpr_target"):
        evaluate(scores, labels, tpr_target=-1)
    with pytest.raises(InvalidParameterError, match="n_resamples"):
        evaluate(scores, labels, n_resamples=0)


def test_roc_points_exclude_nan_and_match_roc_curve():
    scores, labels = _leaky(200)
    with_nan = scores.copy()
    with_nan[:10] = np.nan
    points = roc_points(with_nan, labels)
    fpr, tpr, _ = roc_curve(scores[10:], labels[10:])
    assert points == {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    _assert_plain_json(points)


def test_roc_arrays_are_roc_points_as_arrays():
    scores, labels = _leaky(200)
    scores[:7] = np.nan
    labels[7:12] = -1
    arrays, points = roc_arrays(scores, labels), roc_points(scores, labels)
    assert isinstance(arrays["fpr"], np.ndarray) and arrays["fpr"].dtype == np.float64
    assert arrays["fpr"].tolist() == points["fpr"] and arrays["tpr"].tolist() == points["tpr"]
    one_class = roc_arrays([0.1, 0.2], [1, -1])
    assert (
        one_class["fpr"].shape == (0,)
        and one_class["error"] == roc_points([0.1, 0.2], [1, -1])["error"]
    )
