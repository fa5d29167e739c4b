"""Known answers, a slow re-implementation and edge cases for the ``win_k`` attack."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.attacks import default_registry
from miakit.errors import InvalidParameterError

REGISTRY = default_registry()
WIN_K = REGISTRY.get("win_k")

log_probs = st.floats(min_value=-30.0, max_value=0.0, width=32)
rows = st.lists(st.lists(log_probs, max_size=60), min_size=1, max_size=8)
fractions = st.integers(1, 100).map(lambda i: i / 100)


def slow_win_k(row: list[float], k: float, window: int) -> float:
    averages = []
    for start in range(len(row) - window + 1):
        total = 0.0
        for t in range(start, start + window):
            total += row[t]
        averages.append(total / window)
    m = math.floor(k * len(averages) + 1e-9)
    if m == 0:
        return math.nan
    return sum(sorted(averages)[:m]) / m


def test_known_answers(make_view) -> None:
    view = make_view(token_log_prob=[[-1.0, -7.0, -1.0, -2.0, -4.0, -2.0]])
    # window 3: averages -3, -10/3, -7/3, -8/3; the 2 smallest: -10/3, -3 -> -19/6
    assert WIN_K(view, k=0.5, window=3).scores[0] == pytest.approx(-19 / 6, rel=1e-15)
    # window 2: -4, -4, -1.5, -3, -3; k=0.4 keeps 2: -4, -4
    assert WIN_K(view, k=0.4, window=2).scores[0] == -4.0
    # window = T: one window, the mean
    assert WIN_K(view, k=1.0, window=6).scores[0] == pytest.approx(-17 / 6, rel=1e-15)


def test_windows_do_not_cross_samples(make_view) -> None:
    out = WIN_K(make_view(token_log_prob=[[-1.0, -1.0], [-9.0, -9.0]]), k=1.0, window=2)
    np.testing.assert_array_equal(out.scores, [-1.0, -9.0])


def test_too_short_reasons(make_view) -> None:
    view = make_view(token_log_prob=[[-1.0] * 2, [-1.0] * 6, [-1.0] * 7, []])
    out = WIN_K(view)  # k=0.2, window=3: needs 5 windows, i.e. 7 tokens
    assert np.isnan(out.scores[[0, 1, 3]]).all() and out.scores[2] == -1.0
    # one reason for every too-short sample (their token counts are in samples.parquet)
    assert out.reasons[0] == "too short for k=0.2, window=3: needs at least 7 scored tokens"
    assert out.reasons[1] == out.reasons[0]
    assert "no scored tokens" in out.reasons[3]


@settings(max_examples=60, deadline=None)
@given(rows=rows, k=fractions)
def test_window_one_equals_min_k(make_view, rows: list[list[float]], k: float) -> None:
    view = make_view(token_log_prob=rows)
    a, b = WIN_K(view, k=k, window=1), REGISTRY.get("min_k")(view, k=k)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("window", [0, -1, 2.5, 3.0, True, "3", None])
def test_invalid_window(make_view, window) -> None:
    with pytest.raises(InvalidParameterError, match="window must be an integer >= 1"):
        WIN_K(make_view(token_log_prob=[[-1.0]]), window=window)


def test_numpy_integer_window_accepted(make_view) -> None:
    out = WIN_K(make_view(token_log_prob=[[-1.0] * 8]), window=np.int64(2))
    assert out.scores[0] == -1.0


@pytest.mark.parametrize("k", [0, 1.01, math.nan])
def test_invalid_k(make_view, k) -> None:
    with pytest.raises(InvalidParameterError, match="0 < k <= 1"):
        WIN_K(make_view(token_log_prob=[[-1.0]]), k=k)


@settings(max_examples=150, deadline=None)
@given(rows=rows, k=fractions, window=st.integers(1, 8))
def test_matches_slow_implementation(
    make_view, rows: list[list[float]], k: float, window: int
) -> None:
    out = WIN_K(make_view(token_log_prob=rows), k=k, window=window)
    expected = [slow_win_k(r, k, window) for r in rows]
    np.testing.assert_allclose(out.scores, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert [r is not None for r in out.reasons] == [math.isnan(e) for e in expected]
