"""collection_test (arXiv 2411.00154): calibration under the null, power, held-out split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from miakit.errors import DataError, InvalidParameterError
from miakit.inference import collection_test


def _reference(synth, rng, n=60, shift=0.6):
    return synth(rng, n, shift=shift), synth(rng, n)


def test_calibrated_under_the_null(synth, margin):
    """500 collections of non-members: rejection at 0.05 within the binomial 99% margin."""
    trials = 500
    p = np.empty(trials)
    for t in range(trials):
        rng = np.random.default_rng([11, t])
        members, nonmembers = _reference(synth, rng)
        p[t] = collection_test(synth(rng, 15), members, nonmembers, seed=t).p_value
    for level in (0.05, 0.1):
        assert np.mean(p <= level) <= level + margin(level, trials), level
    assert np.mean(p <= 0.25) >= 0.25 - 2 * margin(0.25, trials)


def test_detects_a_collection_of_members(synth):
    hits = 0
    for t in range(20):
        rng = np.random.default_rng([12, t])
        members, nonmembers = _reference(synth, rng, n=80, shift=0.8)
        r = collection_test(synth(rng, 30, shift=0.8), members, nonmembers, seed=t)
        hits += r.verdict == "member"
        assert r.reference_auroc > 0.5
    assert hits >= 15  # measured: 17 of 20 (reference AUROC about 0.75)


def test_compared_with_held_out_non_members_only(synth):
    rng = np.random.default_rng(1)
    members, nonmembers = _reference(synth, rng, n=41)
    coll = synth(rng, 12)
    r = collection_test(coll, members, nonmembers, holdout=0.5, seed=3)
    assert r.n_train_nonmembers + r.n_heldout_nonmembers == 41
    assert r.n_train_members + r.n_heldout_members == 41
    assert r.n_heldout_nonmembers == round(0.5 * 41)
    # the p-value is scipy's one-sided U test of the collection's scores against the
    # held-out non-members' scores; the score is U / (n_c * n_h)
    assert r.score == pytest.approx(r.u_statistic / (12 * r.n_heldout_nonmembers))
    assert 0.0 <= r.p_value <= 1.0
    d = r.to_dict()
    assert d["paper"] == "arXiv 2411.00154" and "collection_scores" not in d
    # reordering the collection changes nothing
    perm = rng.permutation(12)
    r2 = collection_test(coll[perm], members, nonmembers, holdout=0.5, seed=3)
    assert r2.p_value == r.p_value
    np.testing.assert_allclose(r2.collection_scores, r.collection_scores[perm])


def test_p_value_is_scipys_u_test_on_the_held_out_scores(synth):
    rng = np.random.default_rng(2)
    members, nonmembers = _reference(synth, rng)
    cols = [f"a{j}" for j in range(members.shape[1])]
    frame = lambda x: pd.DataFrame(x, columns=cols)  # noqa: E731
    r = collection_test(frame(synth(rng, 9)), frame(members), frame(nonmembers), seed=0)
    assert list(r.weights) == cols and r.n_collection == 9
    ref = mannwhitneyu(r.collection_scores, r.nonmember_scores, alternative="greater")
    assert r.p_value == pytest.approx(float(ref.pvalue))
    assert r.u_statistic == pytest.approx(float(ref.statistic))
    assert r.nonmember_scores.shape == (r.n_heldout_nonmembers,)


def test_errors_name_the_fix(synth):
    rng = np.random.default_rng(3)
    members, nonmembers = _reference(synth, rng)
    with pytest.raises(DataError, match="at least 10 reference members"):
        collection_test(synth(rng, 5), members[:4], nonmembers)
    with pytest.raises(DataError, match="the collection is empty"):
        collection_test(synth(rng, 0), members, nonmembers)
    with pytest.raises(InvalidParameterError, match="holdout must be a share"):
        collection_test(synth(rng, 5), members, nonmembers, holdout=1.0)
    with pytest.raises(InvalidParameterError, match="features differ"):
        collection_test(synth(rng, 5)[:, :2], members, nonmembers)


def test_an_unreachable_alpha_is_an_error_naming_the_fix(synth):
    """2 documents against 5 held-out non-members: the smallest p is 1/21 = 0.048, so at
    alpha = 0.01 the verdict could never be 'member' (review of issue 13)."""
    rng = np.random.default_rng(4)
    members, nonmembers = synth(rng, 10, shift=3.0), synth(rng, 10)
    collection = synth(rng, 2, shift=3.0)
    with pytest.raises(DataError, match=r"cannot reach alpha = 0.01.*smallest possible p-value"):
        collection_test(collection, members, nonmembers)
    assert collection_test(collection, members, nonmembers, alpha=0.05).p_value >= 1 / 21


def test_checks_that_tell_the_sets_apart_withhold_and_test_nothing(synth):
    from miakit.inference import ShiftCheck
    from miakit.inference.collection import SETS

    rng = np.random.default_rng(13)
    members, nonmembers = _reference(synth, rng, n=40, shift=2.0)
    collection = synth(rng, 20, shift=2.0)  # members: the test alone would say "member"
    assert collection_test(collection, members, nonmembers).verdict == "member"
    shift = ShiftCheck(blind_p=0.003, blind_best="dates", blind_auroc=0.8, sets=SETS)
    r = collection_test(collection, members, nonmembers, shift=shift)
    assert r.verdict == "withheld" and r.p_value is None and r.score is None
    assert r.u_statistic is None and r.reference_auroc is None and r.weights == {}
    assert "'dates' tells collection documents from reference non-members" in r.reason
    assert "p = 0.003" in r.reason
    d = r.to_dict()
    assert d["assumption_checks"]["withhold"] is True and d["assumption_checks"]["blind_best"]
    assert r.n_heldout_nonmembers == 20 and r.n_train_members == 20  # the split it would use
    passed = ShiftCheck(blind_p=0.4, blind_best="dates", blind_auroc=0.5, sets=SETS)
    ok = collection_test(collection, members, nonmembers, shift=passed)
    assert ok.verdict == "member" and "did not tell the collection from" in ok.reason
    assert "did not run" in collection_test(collection, members, nonmembers).reason


def test_withheld_result_needs_checks_that_withhold():
    from miakit.inference import ShiftCheck
    from miakit.inference.collection import withheld_result

    with pytest.raises(InvalidParameterError, match="needs checks that withhold"):
        withheld_result(ShiftCheck(blind_p=0.5), alpha=0.01, n_collection=5, n_members=10,
                        n_nonmembers=10)  # fmt: skip
