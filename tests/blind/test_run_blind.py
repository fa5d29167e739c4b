"""Tests of miakit.blind.run_blind_baselines: cross-validation, metrics, warning, determinism."""

from __future__ import annotations

import json
import math
from pydoc_data.topics import topics

import numpy as np
import pytest

from miakit.blind import WARN_AUROC_LOWER, run_blind_baselines, shift_warning
from miakit.data import Label
from miakit.errors import InvalidParameterError
from miakit.metrics import evaluate

NAMES = ["bag_of_words", "char_ngrams", "dates"]


def paragraphs(min_words: int = 20) -> list[str]:
    """Distinct paragraphs of Python's own documentation (real English, available offline)."""
    out = []
    for key in sorted(topics):
        for p in topics[key].split("\n\n"):
            p = " ".join(p.split())
            if len(p.split()) >= min_words:
                out.append(p)
    return list(dict.fromkeys(out))


def random_labels(n: int, seed: int) -> np.ndarray:
    y = np.zeros(n, dtype=np.int64)
    y[np.random.default_rng(seed).permutation(n)[: n // 2]] = 1
    return y


def shifted(texts: list[str], y: np.ndarray, seed: int) -> list[str]:
    """Members mention 1990–2005, non-members 2024–2026: the temporal shift of many benchmarks."""
    rng = np.random.default_rng(seed)
    out = []
    for t, label in zip(texts, y, strict=True):
        year = rng.integers(1990, 2006) if label == 1 else rng.integers(2024, 2027)
        out.append(f"{t} This section was last revised in {year}.")
    return out


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    texts = paragraphs()
    assert len(texts) >= 600
    return texts[:600]


def test_random_split_of_real_text_is_not_separable(corpus):
    y = random_labels(len(corpus), seed=0)
    result = run_blind_baselines(corpus, y, seed=0)
    assert list(result.metrics) == NAMES
    for name, m in result.metrics.items():
        lo, hi = m["auroc_ci"]
        assert lo <= 0.5 <= hi, (name, m["auroc"], m["auroc_ci"])
    assert result.warning is None
    assert result.n_folds == 5 and result.notes == ()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_splits_do_not_warn(corpus, seed):
    # The bootstrap interval treats out-of-fold scores as fixed, so on some seeds a CI misses
    # 0.5 by a little; the warning rests on the permutation test instead, which fires on 5%
    # of random splits by design (alpha = 0.05; the rate is measured in benchmarks/); these
    # seeds are quiet.
    result = run_blind_baselines(corpus, random_labels(len(corpus), seed), seed=seed)
    assert result.warning is None
    for m in result.metrics.values():
        assert abs(m["auroc"] - 0.5) < 0.1
        assert m["auroc_ci"][0] <= WARN_AUROC_LOWER


def test_shifted_split_is_separable_and_warns(corpus):
    y = random_labels(len(corpus), seed=0)
    result = run_blind_baselines(shifted(corpus, y, seed=0), y, seed=0)
    best = result.metrics[result.best]
    assert best["auroc"] > 0.9
    assert best["auroc_ci"][0] > WARN_AUROC_LOWER
    assert result.best == max(NAMES, key=lambda n: result.metrics[n]["auroc"])
    assert result.metrics["dates"]["auroc"] > 0.9  # the baseline made for this shift sees it
    assert result.warning is not None
    assert "WITHOUT the model" in result.warning and "not evidence of membership" in result.warning
    assert result.best in result.warning and "2406.16201" in result.warning


def test_scores_are_out_of_fold_probabilities_fed_to_evaluate(corpus):
    texts = corpus[:200]
    y = random_labels(len(texts), seed=1)
    result = run_blind_baselines(texts, y, seed=3, n_resamples=200)
    for name in NAMES:
        s = result.scores[name]
        assert s.shape == (200,) and s.dtype == np.float64
        assert np.isfinite(s).all()  # ridge scores of the 0/1 label, not probabilities
        assert result.metrics[name] == evaluate(s, y, n_resamples=200, seed=3)


def test_deterministic_given_seed_and_seed_matters(corpus):
    texts = corpus[:240]
    y = random_labels(len(texts), seed=2)
    a = run_blind_baselines(texts, y, seed=7, n_resamples=100)
    b = run_blind_baselines(texts, y, seed=7, n_resamples=100)
    for name in NAMES:
        np.testing.assert_array_equal(a.scores[name], b.scores[name])
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    c = run_blind_baselines(texts, y, seed=8, n_resamples=100)
    assert not np.array_equal(a.scores["bag_of_words"], c.scores["bag_of_words"])


def test_unknown_labels_get_nan_and_do_not_change_the_others(corpus):
    texts = corpus[:150]
    y = random_labels(len(texts), seed=4)
    labelled = run_blind_baselines(texts, y, seed=0, n_resamples=50)
    # insert 30 unknown samples between them, keeping the labelled ones in order (so the folds
    # are the same): unknowns must be neither trained on nor scored
    rng = np.random.default_rng(0)
    is_unknown = np.zeros(180, dtype=bool)
    is_unknown[rng.choice(180, size=30, replace=False)] = True
    extra = iter(corpus[300:330])
    known = iter(zip(texts, y, strict=True))
    mixed_texts, mixed_y = [], []
    for u in is_unknown:
        t, label = (next(extra), -1) if u else next(known)
        mixed_texts.append(t)
        mixed_y.append(label)
    mixed = run_blind_baselines(mixed_texts, mixed_y, seed=0, n_resamples=50)
    for name in NAMES:
        s = mixed.scores[name]
        assert np.isnan(s[is_unknown]).all()
        assert np.isfinite(s[~is_unknown]).all()
        np.testing.assert_array_equal(s[~is_unknown], labelled.scores[name])
        assert mixed.metrics[name]["n"] == 150


def test_accepts_label_enums():
    texts = [f"text number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(20)]
    enums = [Label.MEMBER if i % 2 else Label.NONMEMBER for i in range(20)]
    ints = [1 if i % 2 else 0 for i in range(20)]
    a = run_blind_baselines(texts, enums, names=["bag_of_words"], n_resamples=50)
    b = run_blind_baselines(texts, ints, names=["bag_of_words"], n_resamples=50)
    np.testing.assert_array_equal(a.scores["bag_of_words"], b.scores["bag_of_words"])
    assert a.metrics["bag_of_words"]["auroc"] == 1.0  # "cats" vs "dogs" is a perfect shift


def test_small_class_reduces_folds_and_says_so():
    texts = [f"sample {i} mentions the year {1990 + i}" for i in range(13)]
    y = np.array([1, 1, 1] + [0] * 10)
    result = run_blind_baselines(texts, y, n_folds=5, n_resamples=50)
    assert result.n_folds == 3
    assert any("reduced from 5 to 3" in note and "members" in note for note in result.notes)
    assert np.isfinite(result.scores["dates"]).all()
    assert result.summary()["n_folds"] == 3


def test_fewer_than_two_per_class_gives_nan_metrics_with_errors():
    texts = [f"sample {i}" for i in range(6)]
    y = np.array([1, 0, 0, 0, 0, -1])
    result = run_blind_baselines(texts, y, n_resamples=50)
    assert result.n_folds == 0 and result.warning is None
    for name in NAMES:
        assert np.isnan(result.scores[name]).all()
        m = result.metrics[name]
        assert math.isnan(m["auroc"]) and "at least 2 members" in m["error"]
    summary = result.summary()
    assert math.isnan(summary["best_auroc"]) and summary["best"] == NAMES[0]
    json.dumps(result.to_dict())  # NaN is valid for json.dumps' default allow_nan


def test_a_baseline_that_cannot_be_fitted_does_not_stop_the_others():
    # no token of two word characters: the word vocabulary is empty in every training fold
    texts = [f"{'x' if i % 2 else 'y'} ! {i % 10}" for i in range(20)]
    y = np.array([i % 2 for i in range(20)])
    result = run_blind_baselines(texts, y, n_resamples=50)
    assert "could not be fitted" in result.metrics["bag_of_words"]["error"]
    assert np.isnan(result.scores["bag_of_words"]).all()
    assert np.isfinite(result.scores["char_ngrams"]).all()
    assert "error" not in result.metrics["char_ngrams"]


def test_names_select_and_order():
    texts = [f"row {i} of {'spring' if i % 2 else 'autumn'}" for i in range(20)]
    y = np.array([i % 2 for i in range(20)])
    result = run_blind_baselines(texts, y, names=["dates", "bag_of_words"], n_resamples=50)
    assert list(result.scores) == ["dates", "bag_of_words"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"names": ["bag_of_word"]}, "Did you mean 'bag_of_words'"),
        ({"names": ["dates", "dates"]}, "more than once"),
        ({"names": []}, "names is empty"),
        ({"names": "dates"}, "list of baseline names"),
        ({"n_folds": 1}, "n_folds"),
        ({"n_permutations": -1}, "blind_permutations must be an integer >= 0"),
        ({"n_permutations": True}, "blind_permutations must be an integer >= 0"),
        ({"n_permutations": 2.5}, "blind_permutations must be an integer >= 0"),
        ({"alpha": 0.0}, "blind_alpha must be a number in \\(0, 1\\)"),
        ({"alpha": 1.5}, "blind_alpha must be a number in \\(0, 1\\)"),
        ({"alpha": "0.05"}, "blind_alpha must be a number"),
        ({"alpha": True}, "blind_alpha must be a number"),
        ({"n_permutations": 9, "alpha": 0.05}, "cannot be reached with 9 permutations"),
    ],
)
def test_invalid_options(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        run_blind_baselines(["a b", "c d", "e f", "g h"], [1, 0, 1, 0], **kwargs)


def test_invalid_inputs():
    with pytest.raises(InvalidParameterError, match="differ in length"):
        run_blind_baselines(["a", "b"], [1, 0, 1])
    with pytest.raises(InvalidParameterError, match="found"):
        run_blind_baselines(["a", "b"], [1, 2])
    with pytest.raises(InvalidParameterError, match="must be strings"):
        run_blind_baselines(["a", 3], [1, 0])  # type: ignore[list-item]


def test_shift_warning_follows_the_test_or_else_the_lower_bound():
    def m(auroc, lo, hi):
        return {"auroc": auroc, "auroc_ci": [lo, hi]}

    def perm(p, alpha=0.05):
        return {"permutation_p": p, "alpha": alpha, "n_permutations": 199}

    # with the permutation test: the family-wise p-value decides, whatever the interval
    warned = shift_warning("x", m(0.58, 0.54, 0.62), test=perm(0.01))
    assert warned is not None and "p = 0.01 <= alpha = 0.05" in warned
    assert shift_warning("x", m(0.58, 0.54, 0.62), test=perm(0.05)) is not None  # p <= alpha
    assert shift_warning("x", m(0.9, 0.8, 0.95), test=perm(0.06)) is None
    assert shift_warning("x", m(0.58, 0.54, 0.62), test=perm(0.06, alpha=0.1)) is not None
    # without it: the lower bound must exceed 0.6
    assert shift_warning("x", m(0.9, 0.61, 0.95)) is not None
    assert shift_warning("x", m(0.9, 0.6, 0.95)) is None
    assert shift_warning("x", m(0.7, 0.45, 0.9)) is None
    assert shift_warning("x", m(math.nan, math.nan, math.nan)) is None


def test_permutation_test_finds_a_strong_shift_at_its_resolution(corpus):
    texts = corpus[:160]
    y = random_labels(len(texts), seed=0)
    result = run_blind_baselines(shifted(texts, y, seed=0), y, n_permutations=19)
    assert result.test["permutation_p"] == pytest.approx(0.05)  # beats all 19: p = 1 / 20
    assert abs(result.test["permutation_null_mean"] - 0.5) < 0.1
    assert result.test["test_best"] == result.best and result.test["test_n"] == 160
    assert result.warning is not None


def test_without_permutations_no_test_keys(corpus):
    result = run_blind_baselines(
        corpus[:60], random_labels(60, 0), names=["dates"], n_permutations=0
    )
    assert result.test == {}
    assert "permutation_p" not in result.summary() and "alpha" not in result.summary()
    assert "too narrow" in result.summary()["interval_note"]
