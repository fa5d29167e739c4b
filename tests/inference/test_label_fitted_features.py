"""Columns fitted on the labels under test are never dataset-inference features.

A run with ``--doc-combiner`` writes ``learned:combiner`` / ``learned:histogram`` (out-of-fold
predictions of member vs non-member) into ``documents.parquet``; old output folders may hold
``blind:*`` columns (the blind baselines' out-of-fold scores). Fed back through ``--scores``,
such a column carries the labels the permutation test is about and sits outside its
permutations: under the null the rejection rate at alpha = 0.01 rose to about 0.33 (review of
issue 13). They are left out, and the output says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from miakit.data import Label, Sample, SampleSet
from miakit.setinference._io import features_table


class _Config:
    doc_window = None


def _samples(n: int) -> SampleSet:
    rows = [Sample(id=f"s{i}", text=f"suspect {i}", label=Label.MEMBER) for i in range(n)]
    rows += [Sample(id=f"v{i}", text=f"valid {i}", label=Label.NONMEMBER) for i in range(n)]
    return SampleSet(rows)


def test_label_fitted_columns_are_left_out_and_named(tmp_path):
    n = 12
    samples = _samples(n)
    rng = np.random.default_rng(0)
    ids = [s.id for s in samples]
    frame = pd.DataFrame(
        {
            "id": ids,
            "label": ["member"] * n + ["nonmember"] * n,
            "loss": rng.normal(size=2 * n),
            "learned:combiner": np.r_[np.ones(n), np.zeros(n)],
            "blind:bag_of_words": np.r_[np.ones(n), np.zeros(n)],
        }
    )
    path = tmp_path / "scores.parquet"
    frame.to_parquet(path)
    table, scoring = features_table(samples, path, _Config(), None, None)
    assert [c for c in table.columns if c not in ("id", "set")] == ["loss"]
    assert sorted(scoring["excluded_features"]) == ["blind:bag_of_words", "learned:combiner"]
    assert "fitted on the labels" in scoring["excluded_note"]
