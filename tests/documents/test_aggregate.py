"""Chunk scores to document scores (miakit.metrics.documents), against pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from miakit.errors import InvalidParameterError
from miakit.metrics.documents import AGGREGATES, aggregate, document_labels, group_codes


def pandas_reference(scores: np.ndarray, docs: list[str]) -> pd.DataFrame:
    """The independent computation: a pandas groupby (NaN skipped), in first-seen order."""
    frame = pd.DataFrame({"doc": docs, "s": scores})
    g = frame.groupby("doc", sort=False)["s"]
    return pd.DataFrame({
        "mean": g.mean(), "min": g.min(), "max": g.max(), "median": g.median(),
        "q25": g.quantile(0.25), "q75": g.quantile(0.75), "n_scored": g.count(),
    })  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_aggregate_equals_pandas_groupby(seed):
    rng = np.random.default_rng(seed)
    n_docs = 30
    sizes = rng.integers(1, 9 if seed % 2 else 60, n_docs)  # short and long documents
    docs = [f"d{d}" for d in rng.permutation(np.repeat(np.arange(n_docs), sizes))]
    scores = rng.normal(size=len(docs))
    scores[rng.random(len(docs)) < 0.2] = np.nan
    codes, names = group_codes(docs)
    values, n_scored = aggregate(scores, codes, len(names))
    want = pandas_reference(scores, docs).loc[names]
    for agg in AGGREGATES:
        np.testing.assert_allclose(values[agg], want[agg].to_numpy(), rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(n_scored, want["n_scored"].to_numpy())


def test_all_nan_document_is_nan_and_counted():
    codes = np.array([0, 0, 1, 1, 1])
    values, n_scored = aggregate(np.array([np.nan, np.nan, 1.0, np.nan, 3.0]), codes, 2)
    assert all(np.isnan(values[a][0]) for a in AGGREGATES)
    assert values["mean"][1] == 2.0 and values["min"][1] == 1.0 and values["max"][1] == 3.0
    assert n_scored.tolist() == [0, 2]


def test_permuting_chunks_permutes_nothing_per_document():
    rng = np.random.default_rng(3)
    docs = [f"d{i % 7}" for i in range(40)]
    scores = rng.normal(size=40)
    codes, names = group_codes(docs)
    before, _ = aggregate(scores, codes, len(names))
    perm = rng.permutation(40)
    codes2, names2 = group_codes([docs[i] for i in perm])
    after, _ = aggregate(scores[perm], codes2, len(names2))
    order = [names2.index(n) for n in names]
    for a in AGGREGATES:
        np.testing.assert_allclose(after[a][order], before[a], rtol=1e-12)


def test_group_codes_first_seen_order():
    codes, names = group_codes(["b", "a", "b", "c"])
    assert names == ["b", "a", "c"] and codes.tolist() == [0, 1, 0, 2]


def test_aggregate_errors():
    with pytest.raises(InvalidParameterError, match="must be equal 1-d"):
        aggregate(np.zeros(3), np.zeros(2, dtype=int), 1)
    with pytest.raises(InvalidParameterError, match=r"integers in 0\.\.0"):
        aggregate(np.zeros(2), np.array([0, 1]), 1)
    with pytest.raises(InvalidParameterError, match="has no chunk"):
        aggregate(np.zeros(2), np.array([0, 0]), 2)
    with pytest.raises(InvalidParameterError, match="unknown aggregate"):
        aggregate(np.zeros(2), np.array([0, 0]), 1, aggregates=("mode",))


def test_document_labels():
    assert document_labels(np.array([1, 1, 0, -1]), np.array([0, 0, 1, 2]), 3).tolist() == [
        1, 0, -1,
    ]  # fmt: skip
    with pytest.raises(InvalidParameterError, match="document 0 mixes labels"):
        document_labels(np.array([1, 0]), np.array([0, 0]), 1)
