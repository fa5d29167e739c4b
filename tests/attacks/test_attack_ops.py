"""The shared attack helpers in ``miakit.attacks._ops`` against plain Python loops."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.attacks import _ops

rows = st.lists(st.lists(st.floats(-100.0, 100.0), max_size=12), max_size=10)


def _flat(rows: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    return np.array([v for r in rows for v in r], dtype=np.float64), offsets


@settings(max_examples=200, deadline=None)
@given(rows=rows)
def test_segment_sum_and_mean_with_empty_segments(rows: list[list[float]]) -> None:
    values, offsets = _flat(rows)
    np.testing.assert_allclose(
        _ops.segment_sum(values, offsets), [math.fsum(r) for r in rows], rtol=1e-9, atol=1e-9
    )
    means = _ops.segment_mean(values, offsets)
    expected = [math.fsum(r) / len(r) if r else math.nan for r in rows]
    np.testing.assert_allclose(means, expected, rtol=1e-9, atol=1e-9, equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(rows=rows, window=st.integers(1, 5))
def test_window_means(rows: list[list[float]], window: int) -> None:
    values, offsets = _flat(rows)
    means, win_offsets = _ops.window_means(values, offsets, window)
    got = [means[a:b].tolist() for a, b in itertools.pairwise(win_offsets)]
    expected = [[sum(r[j : j + window]) / window for j in range(len(r) - window + 1)] for r in rows]
    assert [len(g) for g in got] == [len(e) for e in expected]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def test_segment_sum_rejects_mismatched_layout() -> None:
    with pytest.raises(ValueError, match="offsets must run from 0"):
        _ops.segment_sum(np.zeros(3), np.array([0, 2]))


@pytest.mark.parametrize(
    ("k", "n", "expected"), [(0.29, 100, 29), (0.2, 5, 1), (0.2, 4, 0), (0.7, 10, 7)]
)
def test_k_count(k: float, n: int, expected: int) -> None:
    assert _ops.k_count(k, np.array([n]))[0] == expected


@pytest.mark.parametrize(
    ("k", "expected"), [(0.2, 5), (0.25, 4), (0.3, 4), (1.0, 1), (0.01, 100), (0.29, 4)]
)
def test_min_count_for(k: float, expected: int) -> None:
    n = _ops.min_count_for(k)
    assert n == expected
    assert _ops.k_count(k, np.array([n - 1, n])).tolist() == [0, 1]


def test_reasons_first_wins_and_fallback() -> None:
    reasons = _ops.Reasons(4)
    reasons.add(np.array([True, False, False, False]), "first")
    reasons.add(np.array([True, True, False, False]), lambda i: f"second {i}")
    out = reasons.output(np.array([1.0, 2.0, np.nan, 4.0]), fallback="fallback")
    assert out.reasons == ("first", "second 1", "fallback", None)
    assert np.isnan(out.scores[:3]).all() and out.scores[3] == 4.0
