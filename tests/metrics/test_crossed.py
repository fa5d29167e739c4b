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


@pytest.mark.parametrize("unit", ["target", "example", "pair"])
def test_resampled_tpr_is_exact(unit):
    """Each resample's TPR equals tpr_at_fpr on the pairs repeated as often as drawn."""
    rng = np.random.default_rng(1)
    s, y = _design(rng, 6, 400, target_sd=0.2)
    s = np.round(s, 1)  # ties between members and non-members
    d, _, _ = _sorted(s, y)
    fprs = (0.0, 0.001, 0.01, 0.05, 0.5)
    for r in range(20):
        draw_rng = np.random.default_rng(r)
        take_neg, take_pos, w_pos, w_neg, a, b = cs.draw(d, draw_rng, unit, 6, 400)
        w_neg_all, w_pos_all = take_neg(0), take_pos(0)  # weights of the sorted pairs
        if unit != "pair":
            np.testing.assert_array_equal(w_neg_all, a[d.neg_row] * b[d.neg_col])
        assert w_neg_all.sum() == w_neg and w_pos_all.sum() == w_pos
        # the same resample read from its top slices only (a fresh rng gives the same draws
        # for blocks; pairs are checked through the full weights below)
        neg_w, pos_w = w_neg_all, w_pos_all
        got = cs.tpr_at(
            d, lambda st, w=neg_w: w[st:], lambda st, w=pos_w: w[st:], w_pos, w_neg, fprs
        )
        scores = np.r_[
            np.repeat(d.pos, w_pos_all.astype(int)), np.repeat(d.neg, w_neg_all.astype(int))
        ]
        labels = np.r_[np.ones(int(w_pos)), np.zeros(int(w_neg))].astype(int)
        want = [tpr_at_fpr(scores, labels, fpr=f) for f in fprs]
        assert got == want


def test_pair_slices_have_the_multinomial_marginals():
    """A top slice of the pair bootstrap holds Binomial(n_pick, size / n) draws."""
    rng = np.random.default_rng(3)
    totals = [cs.pairs(rng, 1000, 1000)(900).sum() for _ in range(4000)]
    assert abs(np.mean(totals) - 100.0) < 1.0
    assert abs(np.var(totals) - 1000 * 0.1 * 0.9) < 10.0


@pytest.mark.parametrize("unit", ["target", "example"])
def test_projected_auroc_matches_the_exact_weighted_count(unit):
    rng = np.random.default_rng(2)
    s, y = _design(rng, 8, 500, target_sd=0.2, example_sd=0.5)
    d, _, _ = _sorted(s, y)
    auc, inf = cs.influence(d, 8, 500)
    assert auc == auroc(s.ravel(), y.ravel())
    aucs, _ = crossed._one_way(d, inf, np.random.default_rng(5), unit, 8, 500, (0.01,), 30)
    draw = np.random.default_rng(5)  # the same draws again (blocks: _tpr_at draws none)
    exact = []
    for _ in range(30):
        _, _, _, _, a, b = cs.draw(d, draw, unit, 8, 500)
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
    z = 2 * 1.959964
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
