"""Known answers, a slow re-implementation and edge cases for the ``min_k`` attack."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.attacks import default_registry
from miakit.errors import InvalidParameterError

REGISTRY = default_registry()
MIN_K = REGISTRY.get("min_k")

# float32-exact values so that storing in the table does not change them
log_probs = st.floats(min_value=-30.0, max_value=0.0, width=32)
rows = st.lists(st.lists(log_probs, max_size=60), min_size=1, max_size=8)
fractions = st.integers(1, 100).map(lambda i: i / 100)


def slow_min_k(row: list[float], k: float) -> float:
    m = math.floor(k * len(row) + 1e-9)  # ⌊k·T⌋, tolerant of 0.29 * 100 = 28.999...
    if m == 0:
        return math.nan
    return sum(sorted(row)[:m]) / m


@pytest.mark.parametrize(
    ("k", "expected"),
    [(0.2, -5.0), (0.4, -4.5), (0.5, -4.5), (0.6, -4.0), (1.0, -3.0)],
)
def test_known_answers(make_view, k: float, expected: float) -> None:
    out = MIN_K(make_view(token_log_prob=[[-1.0, -5.0, -2.0, -4.0, -3.0]]), k=k)
    assert out.scores[0] == expected


def test_k_times_t_rounding(make_view) -> None:
    # 0.29 * 100 == 28.999999999999996 in floating point; ⌊k·T⌋ is 29: -99 .. -71, mean -85
    out = MIN_K(make_view(token_log_prob=[-np.arange(100.0)]), k=0.29)
    assert out.scores[0] == -85.0


def test_too_short_reasons(make_view) -> None:
    out = MIN_K(make_view(token_log_prob=[[-1.0, -2.0, -3.0], [], [-1.0] * 5]))
    assert np.isnan(out.scores[:2]).all()
    assert out.reasons[0] == "too short for k=0.2: needs at least 5 scored tokens"
    assert "no scored tokens" in out.reasons[1]
    assert out.scores[2] == -1.0
    out = MIN_K(make_view(token_log_prob=[[-1.0] * 3]), k=0.3)
    assert out.reasons[0] == "too short for k=0.3: needs at least 4 scored tokens"


def test_k_one_equals_loss(make_view) -> None:
    rng = np.random.default_rng(0)
    view = make_view(token_log_prob=[-rng.exponential(2.0, n) for n in (1, 2, 9, 300)])
    np.testing.assert_allclose(
        MIN_K(view, k=1.0).scores, REGISTRY.get("loss")(view).scores, rtol=1e-12
    )


def test_ties_do_not_matter(make_view) -> None:
    out = MIN_K(make_view(token_log_prob=[[-2.0, -1.0, -2.0, -2.0, -1.0]]), k=0.4)
    assert out.scores[0] == -2.0


@pytest.mark.parametrize("k", [0, 0.0, -0.1, 1.5, math.nan, math.inf, True, "0.2", None])
def test_invalid_k(make_view, k) -> None:
    with pytest.raises(InvalidParameterError, match="0 < k <= 1"):
        MIN_K(make_view(token_log_prob=[[-1.0]]), k=k)


@settings(max_examples=150, deadline=None)
@given(rows=rows, k=fractions)
def test_matches_slow_implementation(make_view, rows: list[list[float]], k: float) -> None:
    out = MIN_K(make_view(token_log_prob=rows), k=k)
    expected = [slow_min_k(r, k) for r in rows]
    np.testing.assert_allclose(out.scores, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert [r is not None for r in out.reasons] == [math.isnan(e) for e in expected]
