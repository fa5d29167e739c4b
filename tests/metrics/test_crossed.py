"""Pooled (target x example) metrics: exact point estimates, exact resampled TPRs, the AUROC
projection against the exact weighted count, and interval calibration under replication."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.errors import InvalidParameterError
from miakit.metrics import _crossed_sorted as cs
from miakit.metrics import auroc, crossed, evaluate, tpr_at_fpr
from miakit.metrics.crossed import evaluate_crossed


def _design(rng, n_targets, n_examples, *, target_sd=0.0, example_sd=0.0, gap=0.3):
    """Balanced membership (half the targets per example), per-example centres, and a
    leak that varies by target (``target_sd``) and by example (``example_sd``)."""
    labels = np.zeros((n_targets, n_examples), dtype=np.int64)
    for e in range(n_examples):
        labels[rng.permutation(n_targets)[: n_targets // 2], e] = 1
    centre = 2.0 * rng.normal(size=n_examples)
    gap_t = gap + target_sd * rng.normal(size=n_targets)
    gap_e = np.abs(1.0 + example_sd * rng.normal(size=n_examples))
    noise = rng.normal(size=(n_targets, n_examples))
    scores = centre[None, :] + noise + labels * gap_t[:, None] * gap_e[None, :]
    return scores, labels


@pytest.mark.parametrize("ties", [False, True])
def test_point_estimates_equal_evaluate(ties):
    rng = np.random.default_rng(0)
    s, y = _design(rng, 8, 300)
    if ties:
        s = np.round(s)
    s[0, :5] = np.nan
    ref = evaluate(s.ravel(), y.ravel(), n_resamples=10)
    got = evaluate_crossed(s, y, n_resamples=10)
    for key in (
        "n",
        "n_nan",
        "n_members",
        "n_nonmembers",
        "auroc",
        "tpr_at_fpr",
        "fpr_at_tpr_0.95",
    ):
        assert got[key] == ref[key], key
    assert got["bootstrap_unit"] == "two-way"


def _sorted(s, y):
    rows = np.repeat(np.arange(s.shape[0]), s.shape[1])
    cols = np.tile(np.arange(s.shape[1]), s.shape[0])
    return cs.sort_pairs(s.ravel(), y.ravel(), rows, cols, s.shape), rows, cols


def _explicit(w_neg, w_pos):
    """``take_neg`` and ``above`` of explicit weights of the sorted pairs."""
    tail = np.r_[np.cumsum(w_pos[::-1])[::-1], 0.0]
    return (lambda st: w_neg[st:]), (lambda cuts: [float(tail[c]) for c in cuts])


@pytest.mark.parametrize("unit", ["target", "example"])
def test_resampled_tpr_is_exact(unit):
    """Each resample's TPR equals tpr_at_fpr on the pairs repeated as often as drawn, and
    the anchored member counts equal the explicit ones."""
    rng = np.random.default_rng(1)
    s, y = _design(rng, 6, 400, target_sd=0.2)
    s = np.round(s, 1)  # ties between members and non-members
    d, _, _ = _sorted(s, y)
    fprs = (0.0, 0.001, 0.01, 0.05, 0.5)
    at = cs.anchors(d, [100, 900], 6, 400)
    for r in range(20):
        take_neg, above, w_pos, w_neg, a, b = cs.draw(d, np.random.default_rng(r), unit, at)
        w_neg_all = take_neg(0)
        w_pos_all = a[d.pos_row] if b is None else b[d.pos_col]
        np.testing.assert_array_equal(w_neg_all, a[d.neg_row] if b is None else b[d.neg_col])
        assert w_neg_all.sum() == w_neg and w_pos_all.sum() == w_pos
        cuts = [0, 50, 100, 101, 500, 900, 1100, d.pos.shape[0]]
        np.testing.assert_allclose(above(cuts), _explicit(w_neg_all, w_pos_all)[1](cuts))
        got = cs.tpr_at(d, take_neg, above, w_pos, w_neg, fprs)
        scores = np.r_[np.repeat(d.pos, w_pos_all.astype(int)),
                       np.repeat(d.neg, w_neg_all.astype(int))]  # fmt: skip
        labels = np.r_[np.ones(int(w_pos)), np.zeros(int(w_neg))].astype(int)
        assert got == [tpr_at_fpr(scores, labels, fpr=f) for f in fprs]


def test_tpr_at_is_exact_for_any_weights():
    rng = np.random.default_rng(8)
    s, y = _design(rng, 5, 300)
    d, _, _ = _sorted(np.round(s, 1), y)
    fprs = (0.001, 0.02, 0.3)
    for _ in range(20):
        w_neg = rng.poisson(1.0, d.neg.shape[0]).astype(float)
        w_pos = rng.poisson(1.0, d.pos.shape[0]).astype(float)
        got = cs.tpr_at(d, *_explicit(w_neg, w_pos), w_pos.sum(), w_neg.sum(), fprs)
        scores = np.r_[np.repeat(d.pos, w_pos.astype(int)), np.repeat(d.neg, w_neg.astype(int))]
        labels = np.r_[np.ones(int(w_pos.sum())), np.zeros(int(w_neg.sum()))].astype(int)
        assert got == [tpr_at_fpr(scores, labels, fpr=f) for f in fprs]


def test_pair_draws_have_the_multinomial_marginals():
    """A top slice of the pair bootstrap holds Binomial(n_pick, size / n) draws, and the
    members above a cut too."""
    rng = np.random.default_rng(3)
    totals = [cs._pair_take(rng, 1000, 1000)(900).sum() for _ in range(4000)]
    assert abs(np.mean(totals) - 100.0) < 1.0
    assert abs(np.var(totals) - 1000 * 0.1 * 0.9) < 10.0
    above = [cs._pair_above(rng, 1000, 1000)([900, 500, 900]) for _ in range(4000)]
    arr = np.array(above)
    np.testing.assert_array_equal(arr[:, 0], arr[:, 2])  # one draw per resample
    assert abs(arr[:, 0].mean() - 100.0) < 1.0 and abs(arr[:, 1].mean() - 500.0) < 2.0
    assert abs(arr[:, 1].var() - 1000 * 0.5 * 0.5) < 25.0
    assert np.all(arr[:, 1] >= arr[:, 0])


@pytest.mark.parametrize("unit", ["target", "example"])
def test_projected_auroc_matches_the_exact_weighted_count(unit):
    rng = np.random.default_rng(2)
    s, y = _design(rng, 8, 500, target_sd=0.2, example_sd=0.5)
    d, _, _ = _sorted(s, y)
    auc, inf = cs.influence(d, 8, 500)
    assert auc == auroc(s.ravel(), y.ravel())
    at = cs.anchors(d, [d.pos.shape[0] // 2], 8, 500)
    aucs, _ = crossed._one_way(d, inf, np.random.default_rng(5), unit, at, (0.01,), 30)
    draw = np.random.default_rng(5)  # the same draws again (blocks: _tpr_at draws none)
    exact = []
    for _ in range(30):
        _, _, _, _, a, b = cs.draw(d, draw, unit, at)
        a = np.ones(8) if a is None else a
        b = np.ones(500) if b is None else b
        w = (a[:, None] * b[None, :]).ravel().astype(int)
        exact.append(auroc(np.repeat(s.ravel(), w), np.repeat(y.ravel(), w)))
    # second-order terms are left out: small against the resamples' spread (with 500
    # examples of 8 pairs; relatively O(1 / n_examples))
    spread = np.std(exact)
    assert spread > 0
    np.testing.assert_allclose(aucs, exact, atol=0.15 * spread)
    assert abs(np.std(aucs) / spread - 1.0) < 0.05


def test_two_way_intervals_match_the_replicated_spread():
    """Over replicated experiments (new targets, new examples), the two-way interval's
    implied standard deviation matches the estimate's spread; the one-way example bootstrap
    misses the targets' variation (here by a factor > 1.4)."""
    rng = np.random.default_rng(7)
    points, sd_two, sd_example = [], [], []
    from scipy.stats import t as student_t

    z = 2 * float(student_t.ppf(0.975, 8 - 1))  # the interval's quantile with 8 targets
    for rep in range(40):
        s, y = _design(rng, 8, 300, target_sd=0.15, example_sd=0.3)
        two = evaluate_crossed(s, y, n_resamples=60, seed=rep, fpr_targets=(0.05,))
        one = evaluate_crossed(s, y, n_resamples=60, seed=rep, unit="example", fpr_targets=(0.05,))
        points.append(two["auroc"])
        sd_two.append(np.diff(two["auroc_ci"])[0] / z)
        sd_example.append(np.diff(one["auroc_ci"])[0] / z)
    true_sd = np.std(points, ddof=1)
    assert 0.75 < np.mean(sd_two) / true_sd < 1.33
    assert np.mean(sd_example) / true_sd < 0.7


def test_deterministic_and_unit_errors():
    rng = np.random.default_rng(4)
    s, y = _design(rng, 4, 100)
    assert evaluate_crossed(s, y, n_resamples=20, seed=3) == evaluate_crossed(
        s, y, n_resamples=20, seed=3
    )
    with pytest.raises(InvalidParameterError, match="unit must be one of"):
        evaluate_crossed(s, y, unit="pairs")
    with pytest.raises(InvalidParameterError, match="2-D arrays of the same shape"):
        evaluate_crossed(s.ravel(), y.ravel())
    with pytest.raises(InvalidParameterError, match="finite"):
        evaluate_crossed(np.where(s > 1, np.inf, s), y)


def test_one_class_gives_nan_with_error():
    s = np.zeros((2, 3))
    out = evaluate_crossed(s, np.ones((2, 3), dtype=int), n_resamples=5)
    assert np.isnan(out["auroc"]) and "need both members" in out["error"]


def test_two_way_variance_is_floored_at_the_smaller_one_way():
    big = 10**12  # the small-sample factors G/(G-1) vanish
    assert crossed._two_way(4.0, 3.0, 2.0, big, big) == pytest.approx(5.0)
    assert crossed._two_way(1.0, 4.0, 6.0, big, big) == pytest.approx(1.0)  # would be negative
    np.testing.assert_allclose(
        crossed._two_way(
            np.array([4.0, 1.0]), np.array([3.0, 4.0]), np.array([2.0, 6.0]), big, big
        ),
        [5.0, 1.0],
    )
    # 4 targets, 5 examples: 4/3 * 3 + 5/4 * 4 - 2
    assert crossed._two_way(3.0, 4.0, 2.0, 4, 5) == pytest.approx(4.0 + 5.0 - 2.0)


def test_two_way_intervals_cover_with_few_targets():
    """95% AUROC intervals with 4 targets cover the mean estimate in about 95% of replicated
    experiments (without the G/(G-1) factor and the t quantile: 80%, independent review)."""
    rng = np.random.default_rng(5)
    points, cis = [], []
    for rep in range(150):
        s, y = _design(rng, 4, 300, target_sd=0.3, example_sd=0.3, gap=0.5)
        out = evaluate_crossed(s, y, n_resamples=10, seed=rep, fpr_targets=(0.05,))
        points.append(out["auroc"])
        cis.append(out["auroc_ci"])
    truth = float(np.mean(points))
    covered = np.mean([lo <= truth <= hi for lo, hi in cis])
    assert covered >= 0.87, covered
