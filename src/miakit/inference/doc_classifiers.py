"""Learned document scores, cross-validated by document (issue 13).

Two classifiers turn a document's chunk-level evidence into one score, each trained on a
labelled set of documents and scored out of fold:

- :func:`combiner_cv`, the *learned combiner*: the per-document aggregates of every attack
  (:mod:`miakit.metrics.documents`) as features, standardised with the training fold's mean
  and standard deviation (a missing value becomes 0 after it: the training mean, an
  imputation that uses no label; dataset inference's :class:`~miakit.inference.combiner.
  Preprocessor`, without its clipping), then an L2 logistic regression (``C=1``).
- :func:`histogram_cv`, the *normalised-token-probability histogram* of Meeus et al., "Did
  the Neurons Read your Book?" (arXiv 2310.15007): each token's log-probability under the
  target minus the log of its frequency among the training fold's tokens (the paper's
  "ratio" normalisation; its "max" normalisation needs the highest probability of each
  position, which the signal tables do not hold), binned into ``n_bins`` equal-population
  bins whose edges are quantiles of the training fold's values; a document's features are the
  share of its tokens in each bin; the classifier is a random forest, as in the paper.

Folds are over *documents* (``StratifiedKFold`` on the document labels, seeded): every chunk
and token of a document lies on one side of each split, and everything fitted (scaler, token
frequencies, bin edges, model) sees the training documents only. The reported metrics are
:func:`miakit.metrics.evaluate` of the out-of-fold scores, whose bootstrap resamples
documents; the interval treats the fitted folds as fixed (it does not refit per resample).
Unlabelled documents (label -1) take no part in the folds; they are scored by the model fitted
on all the labelled documents (a suspect document scored by what the labelled ones taught).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.inference.combiner import Preprocessor
from miakit.metrics import evaluate

#: Folds of the cross-validation, and the fewest documents of each class it needs.
DEFAULT_FOLDS = 5
#: Histogram bins of :func:`histogram_cv`.
DEFAULT_BINS = 20
#: Trees of the histogram classifier's random forest.
N_TREES = 200


@dataclass(frozen=True)
class CrossValidated:
    """Out-of-fold document scores of one learned classifier.

    Attributes:
        scores: ``(n_docs,)`` float64, higher = more likely member: out of fold for labelled
            documents, from the model fitted on all of them for unlabelled ones.
        folds: ``(n_docs,)`` int64, the fold in which each document was scored (-1: none).
        metrics: :func:`miakit.metrics.evaluate` of ``scores`` (documents resampled).
        method: what was fitted, in words (for ``metrics.json``).
    """

    scores: np.ndarray
    folds: np.ndarray
    metrics: dict[str, Any]
    method: str


def document_folds(labels: np.ndarray, *, n_folds: int, seed: int) -> np.ndarray:
    """``(n_docs,)`` fold of each labelled document (-1 for unlabelled ones), stratified.

    Raises:
        InvalidParameterError: ``n_folds < 2``, or fewer than ``n_folds`` labelled documents
            of a class.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels, dtype=np.int64)
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
        raise InvalidParameterError(f"--doc-folds must be an integer >= 2, got {n_folds!r}")
    known = np.flatnonzero(y >= 0)
    counts = {c: int((y[known] == c).sum()) for c in (0, 1)}
    if min(counts.values()) < n_folds:
        raise InvalidParameterError(
            f"a {n_folds}-fold cross-validation by document needs at least {n_folds} member "
            f"and {n_folds} non-member documents; got {counts[1]} and {counts[0]}. Add "
            "labelled documents or lower --doc-folds"
        )
    folds = np.full(len(y), -1, dtype=np.int64)
    cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(cv.split(np.zeros((len(known), 1)), y[known])):
        folds[known[test]] = k
    return folds


def combiner_cv(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    n_folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    n_resamples: int = 1000,
) -> CrossValidated:
    """The learned combiner's out-of-fold document scores (see the module docstring).

    Args:
        features: ``(n_docs, n_features)`` per-document aggregates; NaN allowed.
        labels: ``(n_docs,)`` 1 member, 0 non-member, -1 unknown.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise InvalidParameterError(f"features {x.shape} do not match {y.shape[0]} labels")
    folds = document_folds(y, n_folds=n_folds, seed=seed)
    scores = np.full(len(y), np.nan)
    for train, test in _splits(folds, n_folds):
        pre = Preprocessor.fit(x[train], clip=None)
        z_train, z_test = pre.transform(x[train]), pre.transform(x[test])
        model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200)
        model.fit(z_train, y[train])
        scores[test] = model.decision_function(z_test)
    return CrossValidated(
        scores, folds, evaluate(scores, y, n_resamples=n_resamples, seed=seed),
        f"standardised aggregates -> L2 logistic regression, {n_folds}-fold by document",
    )  # fmt: skip


def normalised_token_values(
    log_probs: Sequence[np.ndarray], token_ids: Sequence[np.ndarray], train: np.ndarray
) -> list[np.ndarray]:
    """Each document's ``log p(token) - log f(token)``, ``f`` the token's add-one smoothed
    frequency among the tokens of the documents ``train`` (indices): label-free, training
    documents only. One array per document, in input order."""
    parts = [np.asarray(token_ids[i], dtype=np.int64) for i in train]
    seen = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    vocab, counts = np.unique(seen, return_counts=True)
    total = float(seen.size + len(vocab) + 1)  # one more type for every unseen token
    out = []
    for lp, ids in zip(log_probs, token_ids, strict=True):
        ids = np.asarray(ids, dtype=np.int64)
        where = np.searchsorted(vocab, ids)
        hit = (where < len(vocab)) & (vocab[np.minimum(where, len(vocab) - 1)] == ids)
        freq = np.where(hit, counts[np.minimum(where, len(vocab) - 1)] + 1.0, 1.0) / total
        out.append(np.asarray(lp, dtype=np.float64) - np.log(freq))
    return out


def histogram_matrix(values: Sequence[np.ndarray], edges: np.ndarray) -> np.ndarray:
    """``(n_docs, len(edges) + 1)``: the share of each document's values in each bin (bins
    split at the inner ``edges``; a document with no value is all zeros)."""
    out = np.zeros((len(values), len(edges) + 1))
    for d, v in enumerate(values):
        if len(v):
            out[d] = np.bincount(np.searchsorted(edges, v, side="right"), minlength=len(edges) + 1)
            out[d] /= len(v)
    return out


def histogram_cv(
    log_probs: Sequence[np.ndarray],
    token_ids: Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    n_bins: int = DEFAULT_BINS,
    n_trees: int = N_TREES,
    n_folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    n_resamples: int = 1000,
) -> CrossValidated:
    """The histogram classifier of arXiv 2310.15007, out of fold (see the module docstring).

    Args:
        log_probs: per document, the target's ``token_log_prob`` of its scored tokens.
        token_ids: per document, the ids of those tokens (same lengths).
        labels: ``(n_docs,)`` 1 member, 0 non-member, -1 unknown.
        n_bins: histogram bins (equal-population on the training fold's values).
        n_trees: trees of the random forest.
    """
    from sklearn.ensemble import RandomForestClassifier

    y = np.asarray(labels, dtype=np.int64)
    if not len(log_probs) == len(token_ids) == len(y):
        raise InvalidParameterError("log_probs, token_ids and labels need one entry per document")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 2:
        raise InvalidParameterError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    folds = document_folds(y, n_folds=n_folds, seed=seed)
    scores = np.full(len(y), np.nan)
    for train, test in _splits(folds, n_folds):
        values = normalised_token_values(log_probs, token_ids, train)
        pooled = np.concatenate([values[i] for i in train] or [np.zeros(0)])
        if pooled.size == 0:
            raise InvalidParameterError("the training documents of a fold have no scored token")
        edges = np.unique(np.quantile(pooled, np.linspace(0, 1, n_bins + 1)[1:-1]))
        h = histogram_matrix(values, edges)
        model = RandomForestClassifier(n_estimators=n_trees, random_state=seed, n_jobs=1)
        model.fit(h[train], y[train])
        scores[test] = model.predict_proba(h[test])[:, 1]
    return CrossValidated(
        scores, folds, evaluate(scores, y, n_resamples=n_resamples, seed=seed),
        f"ratio-normalised token log-probabilities, {n_bins}-bin histogram -> random forest "
        f"({n_trees} trees), {n_folds}-fold by document (arXiv 2310.15007)",
    )  # fmt: skip


def _splits(folds: np.ndarray, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` document indices: each fold against the other labelled documents,
    then, when there are unlabelled documents, all labelled ones against them."""
    out = [(np.flatnonzero((folds >= 0) & (folds != k)), np.flatnonzero(folds == k))
           for k in range(n_folds)]  # fmt: skip
    if (folds < 0).any():
        out.append((np.flatnonzero(folds >= 0), np.flatnonzero(folds < 0)))
    return out
