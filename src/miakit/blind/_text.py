"""Shared parts of the tf-idf baselines: hashed n-gram counts and a training-fold vocabulary.

``HashingVectorizer`` turns each text into n-gram counts without learning anything (the column
of an n-gram is a hash of it), so it can run once over all texts. Everything a vocabulary-based
``TfidfVectorizer`` would learn is then learned per fold by :class:`TrainVocabulary` (which
columns exist: ``min_df``, ``max_features``) and ``TfidfTransformer`` (idf weights), from the
training folds only. An n-gram seen only in a test fold therefore has no column at all, exactly
as with a vectorizer fitted on the training folds; the one difference is that two n-grams may
share a column when their hashes collide (2**21 columns: rare, and harmless to a baseline).
Character and word n-grams are hashed by :func:`miakit.blind._hashing.char_wb_counts` and
:func:`~miakit.blind._hashing.word_ngram_counts`, scikit-learn's matrices computed with numpy
(4,000 texts: 3.3 CPU seconds down to about 1.5 for characters, most of it without the GIL).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.pipeline import make_pipeline

from miakit.blind._hashing import char_wb_counts, word_ngram_counts
from miakit.blind._registry import BlindPipeline

N_HASH_FEATURES = 2**21


class TrainVocabulary(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Keep the count columns that occur in the training texts, like a fitted vocabulary.

    Args:
        min_df: keep columns non-zero in at least this many training rows (at least 1, so a
            column unseen in training is always dropped).
        max_features: then keep at most this many, by total training count (ties: lower
            column first); ``None`` keeps all.

    Attributes:
        columns_: ``(n_kept,)`` int64 kept column indices, ascending.
    """

    def __init__(self, *, min_df: int = 1, max_features: int | None = None) -> None:
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, X: Any, y: Any = None) -> TrainVocabulary:
        X = sp.csr_matrix(X)
        X.eliminate_zeros()
        df = np.bincount(X.indices, minlength=X.shape[1])  # (n_features,) rows per column
        keep = np.flatnonzero(df >= max(1, self.min_df))
        if self.max_features is not None and keep.size > self.max_features:
            total = np.asarray(X.sum(axis=0)).ravel()[keep]
            order = np.argsort(-total, kind="stable")[: self.max_features]
            keep = np.sort(keep[order])
        if keep.size == 0:
            raise ValueError(
                f"empty vocabulary: no n-gram occurs in at least {self.min_df} training text(s)"
            )
        self.columns_ = keep.astype(np.int64)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> Any:
        return sp.csr_matrix(X)[:, self.columns_]


def tfidf_baseline(
    *, analyzer: str, ngram_range: tuple[int, int], lowercase: bool, min_df: int
) -> BlindPipeline:
    """Hashed n-gram counts -> training vocabulary -> sublinear, l2-normalised tf-idf.

    At most 200,000 columns, the most frequent in the training folds. The classifier on top
    is the shared ridge classifier of :mod:`miakit.blind._ridge`.
    """
    hasher = HashingVectorizer(
        analyzer=analyzer,
        ngram_range=ngram_range,
        lowercase=lowercase,
        n_features=N_HASH_FEATURES,
        alternate_sign=False,
        norm=None,
    )
    transform = make_pipeline(
        TrainVocabulary(min_df=min_df, max_features=200_000),
        TfidfTransformer(sublinear_tf=True),
    )
    if analyzer == "word" and lowercase:

        def counts(texts: list[str]) -> Any:
            return word_ngram_counts(
                texts,
                token_pattern=hasher.token_pattern,
                ngram_range=ngram_range,
                n_features=N_HASH_FEATURES,
            )

    elif analyzer == "char_wb" and ngram_range[0] in (2, 3):

        def counts(texts: list[str]) -> Any:
            return char_wb_counts(
                texts, ngram_range=ngram_range, n_features=N_HASH_FEATURES, lowercase=lowercase
            )

    else:
        return BlindPipeline(featurize=hasher.transform, transform=transform)

    def featurize(texts: list[str]) -> Any:
        # the same matrix as hasher.transform, vectorised (see miakit.blind._hashing)
        try:
            return counts(texts)
        except UnicodeEncodeError:  # a lone surrogate: scikit-learn raises its own error
            return hasher.transform(texts)

    return BlindPipeline(featurize=featurize, transform=transform)
