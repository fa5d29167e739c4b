"""Learned document scores, cross-validated by document (miakit.inference.doc_classifiers)."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.errors import InvalidParameterError
from miakit.inference.doc_classifiers import (
    combiner_cv,
    document_folds,
    histogram_cv,
    histogram_matrix,
    normalised_token_values,
)
from miakit.metrics.documents import aggregate


def doc_features(rng, n_docs, *, leak=0.0, n_attacks=3):
    """Per-document aggregates of correlated chunk scores: a document effect shared by its
    chunks (so chunks are not independent), plus ``leak`` for members."""
    y = np.repeat([1, 0], n_docs // 2)
    sizes = rng.integers(2, 8, n_docs)
    codes = np.repeat(np.arange(n_docs), sizes)
    effect = rng.normal(size=n_docs) + leak * y
    cols = []
    for _ in range(n_attacks):
        chunk = effect[codes] + rng.normal(size=len(codes))
        values, _ = aggregate(chunk, codes, n_docs)
        cols += [values["mean"], values["min"], values["max"]]
    return np.column_stack(cols), y


def doc_tokens(rng, n_docs, *, leak=0.0, vocab=50):
    y = np.repeat([1, 0], n_docs // 2)
    ids, lps = [], []
    for d in range(n_docs):
        n = int(rng.integers(30, 80))
        t = rng.integers(0, vocab, n)
        ids.append(t)
        lps.append(-np.log(vocab) + 0.3 * rng.normal(size=n) + leak * y[d] - 0.01 * t)
    return lps, ids, y


def test_folds_are_by_document_and_stratified():
    y = np.array([1] * 12 + [0] * 9 + [-1] * 3)
    folds = document_folds(y, n_folds=3, seed=0)
    assert (folds[y == -1] == -1).all()
    assert set(folds[y >= 0]) == {0, 1, 2}
    for k in range(3):
        assert {int(v) for v in y[folds == k]} == {0, 1}
    # a chunk takes its document's fold: the chunks of one document are on one side
    codes = np.repeat(np.arange(len(y)), 3)
    chunk_folds = folds[codes]
    for d in range(len(y)):
        assert len(set(chunk_folds[codes == d])) == 1


def test_folds_need_enough_documents():
    with pytest.raises(InvalidParameterError, match="at least 5 member and 5 non-member"):
        document_folds(np.array([1] * 9 + [0] * 4), n_folds=5, seed=0)
    with pytest.raises(InvalidParameterError, match="--doc-folds must be an integer >= 2"):
        document_folds(np.array([1, 0]), n_folds=1, seed=0)


def test_combiner_null_auroc_is_about_half():
    """Labels independent of the features: the cross-validated document AUROC averages 0.5
    over 200 trials (standard error about 0.006)."""
    rng = np.random.default_rng(0)
    aurocs = []
    for trial in range(200):
        x, y = doc_features(rng, 40)
        aurocs.append(combiner_cv(x, y, seed=trial, n_resamples=1).metrics["auroc"])
    assert abs(np.mean(aurocs) - 0.5) < 0.03, np.mean(aurocs)


def test_combiner_finds_a_leak():
    rng = np.random.default_rng(1)
    x, y = doc_features(rng, 60, leak=1.5)
    fit = combiner_cv(x, y, seed=0, n_resamples=50)
    assert fit.metrics["auroc"] > 0.8 and fit.metrics["n"] == 60


def test_combiner_scores_depend_on_training_documents_only():
    """Changing another document of the same test fold leaves a document's score alone."""
    rng = np.random.default_rng(2)
    x, y = doc_features(rng, 30)
    fit = combiner_cv(x, y, seed=0, n_resamples=1)
    same = np.flatnonzero(fit.folds == fit.folds[0])
    other = same[same != 0][0]
    x2 = x.copy()
    x2[other] += 100.0
    fit2 = combiner_cv(x2, y, seed=0, n_resamples=1)
    assert fit2.scores[0] == fit.scores[0]
    assert fit2.scores[other] != fit.scores[other]


def test_histogram_null_and_leak():
    rng = np.random.default_rng(3)
    null = []
    for trial in range(25):
        lps, ids, y = doc_tokens(rng, 30)
        fit = histogram_cv(lps, ids, y, n_trees=25, n_folds=3, seed=trial, n_resamples=1)
        null.append(fit.metrics["auroc"])
    assert abs(np.mean(null) - 0.5) < 0.07, np.mean(null)
    lps, ids, y = doc_tokens(rng, 30, leak=0.4)
    fit = histogram_cv(lps, ids, y, n_trees=50, n_folds=3, seed=0, n_resamples=20)
    assert fit.metrics["auroc"] > 0.85


def test_histogram_scores_depend_on_training_documents_only():
    rng = np.random.default_rng(4)
    lps, ids, y = doc_tokens(rng, 24)
    fit = histogram_cv(lps, ids, y, n_trees=10, n_folds=3, seed=0, n_resamples=1)
    same = np.flatnonzero(fit.folds == fit.folds[0])
    other = int(same[same != 0][0])
    lps2, ids2 = list(lps), list(ids)
    # its tokens, were they seen, would move the token frequencies and the bin edges
    ids2[other] = np.repeat(ids[0][:3], 400)
    lps2[other] = np.full(1200, 5.0)
    fit2 = histogram_cv(lps2, ids2, y, n_trees=10, n_folds=3, seed=0, n_resamples=1)
    assert fit2.scores[0] == fit.scores[0]


def test_normalised_values_use_training_frequencies():
    ids = [np.array([0, 0, 1]), np.array([2])]
    lps = [np.log(np.array([0.5, 0.5, 0.25])), np.log(np.array([0.1]))]
    out = normalised_token_values(lps, ids, np.array([0]))
    # training tokens 0, 0, 1: counts 2 and 1, add-one over 2 types plus one unseen: total 6
    np.testing.assert_allclose(out[0], np.log([0.5 / (3 / 6), 0.5 / (3 / 6), 0.25 / (2 / 6)]))
    np.testing.assert_allclose(out[1], np.log([0.1 / (1 / 6)]))  # unseen: count 0 + 1


def test_histogram_matrix_shares():
    h = histogram_matrix([np.array([0.0, 1.0, 2.0, 3.0]), np.array([])], np.array([0.5, 2.5]))
    np.testing.assert_allclose(h, [[0.25, 0.5, 0.25], [0.0, 0.0, 0.0]])


def test_unlabelled_documents_are_scored_by_the_model_of_all_labelled_ones():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    x, y = doc_features(rng, 20)
    extra = rng.normal(size=(2, x.shape[1]))
    fit = combiner_cv(np.vstack([x, extra]), np.concatenate([y, [-1, -1]]), n_folds=2,
                      n_resamples=1)  # fmt: skip
    assert fit.metrics["n"] == 20 and (fit.folds[-2:] == -1).all()
    # the independent computation: standardise on the labelled rows, fit, score the others
    centre, scale = x.mean(axis=0), x.std(axis=0)
    model = LogisticRegression(C=1.0, solver="newton-cholesky").fit((x - centre) / scale, y)
    want = model.decision_function((extra - centre) / scale)
    np.testing.assert_allclose(fit.scores[-2:], want, rtol=1e-6)
    alone = combiner_cv(x, y, n_folds=2, n_resamples=1)
    np.testing.assert_array_equal(fit.scores[:-2], alone.scores)  # out of fold, unchanged
