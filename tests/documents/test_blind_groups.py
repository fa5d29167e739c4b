"""Blind baselines on chunks of documents: folds and permutations keep a document whole.

A document's chunks share its words; with folds over chunks, a baseline trained on some chunks
of a document recognises the others, so it separates members from non-members even when the
labels are random (measured: AUROC 0.70-0.77 and permutation p = 0.01 on Wikipedia documents
with random labels). Grouped by document, the test is calibrated again.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from miakit.blind import run_blind_baselines
from miakit.blind._folds import group_codes, make_folds, permuted_labels
from miakit.errors import InvalidParameterError


def test_group_folds_keep_each_group_on_one_side():
    groups = np.repeat(np.arange(23), np.arange(1, 24) % 5 + 1)
    folds = make_folds(len(groups), 5, seed=3, groups=groups)
    seen = np.zeros(len(groups), dtype=int)
    for train, test in folds:
        assert len(test) and not set(groups[train]) & set(groups[test])
        seen[test] += 1
    assert (seen == 1).all()
    sizes = [len(t) for _, t in folds]
    assert max(sizes) - min(sizes) <= 5  # dealt to the emptiest fold: balanced


def test_without_groups_the_folds_are_unchanged():
    from sklearn.model_selection import KFold

    want = list(KFold(4, shuffle=True, random_state=7).split(np.zeros((30, 1))))
    for (a, b), (c, d) in zip(make_folds(30, 4, 7), want, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_group_permutations_permute_documents():
    groups = np.repeat(np.arange(10), 3)
    y = np.repeat(np.array([1, 0] * 5), 3)
    perm = permuted_labels(y, 50, seed=0, groups=groups)
    assert perm.shape == (30, 50)
    for col in perm.T:
        by_group = col.reshape(10, 3)
        assert (by_group == by_group[:, :1]).all()  # one label per document
        assert by_group[:, 0].sum() == 5  # the documents' labels, permuted
    assert len({tuple(c) for c in perm.T}) > 10
    np.testing.assert_array_equal(permuted_labels(y, 5, 0), permuted_labels(y, 5, 0, None))


def test_group_codes_refuse_mixed_labels():
    with pytest.raises(InvalidParameterError, match="'a' mixes labels"):
        group_codes(["a", "a", "b"], np.array([1, 0, 0]))
    with pytest.raises(InvalidParameterError, match="2 values for 3 samples"):
        group_codes(["a", "b"], np.array([1, 0, 0]))


def chunked_documents(rng: np.random.Generator, n_docs: int = 30, n_chunks: int = 4):
    """Documents with their own vocabulary, as chunks; labels random per document."""
    words = [f"w{i}" for i in range(3000)]
    texts, docs = [], []
    for d in range(n_docs):
        own = rng.choice(words, size=40, replace=False)  # the document's topic
        for _ in range(n_chunks):
            texts.append(" ".join(rng.choice(own, size=30)))
            docs.append(f"d{d}")
    y_doc = rng.permutation(np.repeat([1, 0], n_docs // 2))
    y = np.array([y_doc[int(d[1:])] for d in docs])
    return texts, y, docs


def test_null_documents_blind_test_is_calibrated_only_when_grouped():
    """Random document labels: grouped, the family-wise p <= 0.05 at most 5% + a binomial
    99% margin of the trials; over chunks (the old folds), nearly every trial rejects."""
    trials, alpha = 100, 0.05
    grouped, chunks = [], []
    for t in range(trials):
        texts, y, docs = chunked_documents(np.random.default_rng(t))
        options = {"names": ["bag_of_words"], "seed": t, "n_resamples": 1, "n_permutations": 99}
        grouped.append(run_blind_baselines(texts, y, groups=docs, **options).test["permutation_p"])
        if t < 5:
            chunks.append(run_blind_baselines(texts, y, **options).test["permutation_p"])
    limit = binom.ppf(0.99, trials, alpha) / trials
    assert np.mean(np.array(grouped) <= alpha) <= limit, grouped
    assert np.mean(np.array(chunks) <= alpha) >= 0.8, chunks


def test_a_run_groups_the_blind_baselines_by_document(monkeypatch):
    """evaluation_integrity passes each sample's document when some document has several."""
    from miakit.blind import _integrity
    from miakit.data import Label, Sample, SampleSet

    seen = []
    real = _integrity.run_blind_baselines

    def spy(*args, **kwargs):
        seen.append(kwargs.get("groups"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_integrity, "run_blind_baselines", spy)
    texts, y, docs = chunked_documents(np.random.default_rng(0), n_docs=10, n_chunks=2)
    label = {1: Label.MEMBER, 0: Label.NONMEMBER}
    chunks = SampleSet.of([
        Sample(f"c{i}", t, label[int(v)], doc_id=d)
        for i, (t, v, d) in enumerate(zip(texts, y, docs, strict=True))
    ])  # fmt: skip
    options = {"n_resamples": 1, "n_permutations": 19, "overlap_warn_fraction": 1.0}
    _integrity.evaluation_integrity(chunks, **options)
    alone = SampleSet.of(
        [Sample(f"s{i}", t, label[int(v)]) for i, (t, v) in enumerate(zip(texts, y))]
    )
    _integrity.evaluation_integrity(alone, **options)
    assert seen == [docs, None]
