"""No test-fold text ever influences the model that scores it.

Three independent checks: a spy transformer records what every fold fits and scores; every
registered baseline's featurizer is row-wise (so computing it once is leak-free); and a word
that occurs only in one held-out text cannot move that text's bag-of-words score. The last check
is shown to fail for a vectorizer fitted on all texts (the Blind-MIA flaw), so it can fail.
"""

from __future__ import annotations

from pydoc_data.topics import topics

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from miakit.blind import BaselineRegistry, BlindPipeline, default_baselines, run_blind_baselines


class Log:
    """Shared by every clone of the spy (sklearn's clone deep-copies parameters)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, list[int]]] = []

    def __deepcopy__(self, memo):
        return self


class Spy(TransformerMixin, BaseEstimator):
    """An unsupervised per-fold transformer that logs the rows it is fitted on and applies to."""

    def __init__(self, log: Log | None = None) -> None:
        self.log = log

    def fit(self, X, y=None):
        assert self.log is not None and y is None  # never given labels
        self.log.events.append(("fit", [int(v) for v in np.asarray(X)[:, 0]]))
        return self

    def transform(self, X):
        assert self.log is not None
        self.log.events.append(("transform", [int(v) for v in np.asarray(X)[:, 0]]))
        return np.asarray(X, dtype=float)


def text_id(texts: list[str]) -> np.ndarray:
    """Row-wise: ``"t17 ..."`` -> ``[[17]]``."""
    return np.array([[int(t.split()[0][1:])] for t in texts], dtype=float)


def test_each_fold_fits_on_training_rows_only_and_scores_each_sample_once():
    log = Log()
    registry = BaselineRegistry()
    registry.register("spy", paper="-")(
        lambda *, seed: BlindPipeline(featurize=text_id, transform=Spy(log))
    )
    n = 47
    y = np.array([1 if i % 3 == 0 else 0 for i in range(n)])
    y[[5, 11, 40]] = -1  # unknown: never fitted, never scored
    texts = [f"t{i} some words" for i in range(n)]
    result = run_blind_baselines(
        texts, y, registry=registry, n_folds=4, n_resamples=50, n_permutations=19
    )

    # per fold: fit on the training rows, transform them, then transform the held-out rows;
    # once per fold however many permutations the test runs
    events = log.events
    assert [kind for kind, _ in events] == ["fit", "transform", "transform"] * 4
    labelled = {i for i in range(n) if y[i] != -1}
    held_out = []
    for j in range(4):
        fit, train, test = (set(ids) for _, ids in events[3 * j : 3 * j + 3])
        assert fit == train and not fit & test  # nothing scored was fitted on
        assert fit | test == labelled  # each fold trains on all the other labelled rows
        held_out += events[3 * j + 2][1]
    assert sorted(held_out) == sorted(labelled)  # each labelled sample scored exactly once
    s = result.scores["spy"]
    assert np.isnan(s[[5, 11, 40]]).all() and np.isfinite(s[y != -1]).all()


@pytest.mark.parametrize("name", ["bag_of_words", "char_ngrams", "dates"])
def test_featurize_is_row_wise(name):
    texts = [
        "In 1999 the first release shipped; version 2.0 followed in March 2004.",
        "Nothing here but words and more words.",
        "A rare token xylophonequartz appears only here, on 2024-05-01.",
        "The quick brown fox jumps over the lazy dog.",
    ]
    featurize = default_baselines().get(name).build(seed=0).featurize
    together = featurize(texts)
    for i, text in enumerate(texts):
        alone = featurize([text])
        row = together[i]
        if sp.issparse(row):
            assert (row != alone).nnz == 0
        else:
            np.testing.assert_array_equal(row, alone[0])


def _paragraphs(n: int) -> list[str]:
    out = []
    for key in sorted(topics):
        for p in topics[key].split("\n\n"):
            p = " ".join(p.split())
            if len(p.split()) >= 20:
                out.append(p)
    return list(dict.fromkeys(out))[:n]


def _token_only_in_one_text_moves_its_score(registry: BaselineRegistry | None, name: str) -> bool:
    texts = _paragraphs(120)
    y = np.array([i % 2 for i in range(len(texts))])
    before = run_blind_baselines(texts, y, names=[name], registry=registry, n_resamples=20)
    changed = list(texts)
    changed[17] = texts[17] + " zqxwvjkunique"
    after = run_blind_baselines(changed, y, names=[name], registry=registry, n_resamples=20)
    return bool(before.scores[name][17] != after.scores[name][17])


def test_a_word_only_in_the_held_out_text_cannot_change_its_score():
    assert not _token_only_in_one_text_moves_its_score(None, "bag_of_words")


def test_the_check_above_catches_a_vectorizer_fitted_on_all_texts():
    def leaky(*, seed: int) -> BlindPipeline:
        # not row-wise: the vocabulary and idf are fitted on every text, test folds included
        def featurize(texts: list[str]):
            return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)

        return BlindPipeline(featurize=featurize, transform=None)

    registry = BaselineRegistry()
    registry.register("leaky", paper="-")(leaky)
    assert _token_only_in_one_text_moves_its_score(registry, "leaky")
