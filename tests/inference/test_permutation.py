"""The permutation test: calibration under the null, power, row integrity, folds."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.inference import combiner
from miakit.inference.permutation import assign_folds, cross_fit, permutation_test


def _null_pvalues(synth, trials: int, m: int = 99) -> np.ndarray:
    """p-values of ``trials`` tests whose suspect and validation rows share one distribution
    (unequal set sizes, missing values, heavy tails)."""
    out = np.empty(trials)
    for t in range(trials):
        rng = np.random.default_rng([7, t])
        n_s, n_v = 30 + t % 7, 24 + t % 5
        x = np.vstack([synth(rng, n_s), synth(rng, n_v)])
        y = np.r_[np.ones(n_s, dtype=np.int64), np.zeros(n_v, dtype=np.int64)]
        ids = [f"t{t}-{i}" for i in range(n_s + n_v)]
        out[t] = permutation_test(x, y, ids, n_permutations=m, seed=t).p_value
    return out


def _calibration_problems(p: np.ndarray, margin) -> list[tuple[float, float]]:
    """``(level, rate)`` for each level whose rejection rate exceeds the level plus the
    binomial 99% margin, and ``(0.25, rate)`` if the test hardly ever rejects (a test that
    never rejects would pass the first check)."""
    n = p.shape[0]
    problems = []
    for level in (0.05, 0.1, 0.25):
        rate = float(np.mean(p <= level))
        if rate > level + margin(level, n):
            problems.append((level, rate))
    if float(np.mean(p <= 0.25)) < 0.25 - 2 * margin(0.25, n):
        problems.append((0.25, float(np.mean(p <= 0.25))))
    return problems


def test_calibrated_under_the_null(synth, margin):
    """200 null trials: the rejection rate at 0.05 (and 0.1, 0.25) is within the binomial
    99% margin of the level. The 600-trial version is marked slow."""
    assert _calibration_problems(_null_pvalues(synth, 200), margin) == []


@pytest.mark.slow
def test_calibrated_under_the_null_600_trials(synth, margin):
    assert _calibration_problems(_null_pvalues(synth, 600), margin) == []


def test_power_on_a_leaky_generator(synth):
    detected = 0
    for t in range(10):
        rng = np.random.default_rng([8, t])
        n = 150
        x = np.vstack([synth(rng, n, shift=0.5), synth(rng, n)])  # single-feature AUROC ~0.6
        y = np.r_[np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]
        r = permutation_test(x, y, [str(i) for i in range(2 * n)], n_permutations=199, seed=t)
        detected += r.p_value <= 0.01
        assert r.auroc > r.null_mean
    assert detected >= 8


def test_p_value_is_the_corrected_permutation_share():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    y = np.r_[np.ones(20, dtype=np.int64), np.zeros(20, dtype=np.int64)]
    x[:20, 0] += 5.0  # perfectly separable: no permutation reaches the observed AUROC
    r = permutation_test(x, y, [str(i) for i in range(40)], n_permutations=49)
    assert r.auroc == 1.0
    assert r.p_value == 1 / 50  # (b + 1) / (m + 1) with b = 0, never 0
    x = rng.normal(size=(40, 3))  # no signal: p spread over (0, 1]
    r = permutation_test(x, y, [str(i) for i in range(40)], n_permutations=49)
    assert 1 / 50 <= r.p_value <= 1.0
    assert (r.p_value * 50) == pytest.approx(round(r.p_value * 50))


def test_one_sided_on_the_learned_direction():
    """The combiner learns the direction in which suspect texts differ, so a set that scores
    LOWER on an attack is detected too (as in the paper): the verdict rests on the validation
    texts being non-members. Held-out scores of suspect texts exceed validation texts'."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 3))
    y = np.r_[np.ones(30, dtype=np.int64), np.zeros(30, dtype=np.int64)]
    x[:30, 1] -= 3.0
    r = permutation_test(x, y, [str(i) for i in range(60)], n_permutations=49)
    assert r.p_value == 1 / 50
    assert r.scores[:30].mean() > r.scores[30:].mean()


def test_folds_are_balanced_label_free_and_follow_the_ids():
    ids = [f"doc-{i}" for i in range(103)]
    folds = assign_folds(ids, 5, seed=0)
    assert sorted(np.bincount(folds).tolist()) == [20, 20, 21, 21, 21]
    perm = np.random.default_rng(0).permutation(103)
    np.testing.assert_array_equal(assign_folds([ids[i] for i in perm], 5, seed=0), folds[perm])
    assert not np.array_equal(assign_folds(ids, 5, seed=1), folds)


def test_permuting_rows_permutes_the_results(synth):
    rng = np.random.default_rng(3)
    x = np.vstack([synth(rng, 40, shift=0.3), synth(rng, 35)])
    y = np.r_[np.ones(40, dtype=np.int64), np.zeros(35, dtype=np.int64)]
    ids = [f"r{i}" for i in range(75)]
    a = permutation_test(x, y, ids, n_permutations=99, seed=2)
    perm = rng.permutation(75)
    b = permutation_test(x[perm], y[perm], [ids[i] for i in perm], n_permutations=99, seed=2)
    np.testing.assert_array_equal(b.folds, a.folds[perm])
    np.testing.assert_allclose(b.scores, a.scores[perm], atol=1e-12)
    assert b.auroc == pytest.approx(a.auroc)
    assert b.p_value == a.p_value  # the permutations follow the rows too


def test_a_row_is_never_trained_on_and_scored_in_one_fit(synth):
    """Changing one row changes no held-out score of its own fold (it is not in their fit)
    but does change the other folds' scores (it is in theirs)."""
    rng = np.random.default_rng(4)
    x = synth(rng, 60, nan_share=0.0)
    y = (np.arange(60) < 30).astype(float)
    folds = assign_folds([str(i) for i in range(60)], 3, seed=0)
    base = cross_fit(x, y, folds)
    x2 = x.copy()
    x2[0] += 50.0
    moved = cross_fit(x2, y, folds)
    same = folds == folds[0]
    same[0] = False
    np.testing.assert_array_equal(moved[same], base[same])
    assert not np.allclose(moved[folds != folds[0]], base[folds != folds[0]])


def test_the_integrity_check_catches_a_column_sorting_clipper(synth, monkeypatch):
    """The row-integrity test above can fail: with the peers' trimming (np.sort(axis=0) of
    each feature column, arXiv 2411.00154's code) permuted input rows no longer give
    permuted results."""
    rng = np.random.default_rng(5)
    x = synth(rng, 50, shift=0.5, nan_share=0.0)
    y = np.r_[np.ones(25, dtype=np.int64), np.zeros(25, dtype=np.int64)]
    ids = [str(i) for i in range(50)]
    original = combiner.Preprocessor.transform

    def sorting(self, x):  # sorts every column on its own, as the buggy trimming did
        return original(self, np.sort(np.asarray(x, dtype=float), axis=0))

    monkeypatch.setattr(combiner.Preprocessor, "transform", sorting)
    perm = rng.permutation(50)
    a = permutation_test(x, y, ids, n_permutations=19)
    b = permutation_test(x[perm], y[perm], [ids[i] for i in perm], n_permutations=19)
    assert not np.allclose(b.scores, a.scores[perm])
