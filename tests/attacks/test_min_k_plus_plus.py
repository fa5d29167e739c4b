"""Known answers, a slow re-implementation and edge cases for the ``min_k_plus_plus`` attack."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.attacks import default_registry
from miakit.errors import InvalidParameterError

REGISTRY = default_registry()
MKPP = REGISTRY.get("min_k_plus_plus")

fractions = st.integers(1, 100).map(lambda i: i / 100)
token = st.tuples(
    st.floats(-30.0, 0.0, width=32),  # ℓ
    st.floats(-10.0, 0.0, width=32),  # μ
    st.one_of(st.just(0.0), st.floats(0.125, 20.0, width=32)),  # σ², including one-hot
)
samples = st.lists(st.lists(token, max_size=40), min_size=1, max_size=6)


def slow_min_k_plus_plus(tokens: list[tuple[float, float, float]], k: float) -> float:
    z = []
    for log_prob, mu, var in tokens:
        sigma = math.sqrt(var)
        z.append(0.0 if sigma == 0 else (log_prob - mu) / sigma)
    m = math.floor(k * len(z) + 1e-9)
    if m == 0:
        return math.nan
    return sum(sorted(z)[:m]) / m


def _view(make_view, samples):
    return make_view(
        token_log_prob=[[t[0] for t in s] for s in samples],
        mean_log_prob=[[t[1] for t in s] for s in samples],
        var_log_prob=[[t[2] for t in s] for s in samples],
    )


def test_known_answers(make_view) -> None:
    view = make_view(
        token_log_prob=[[-1.0, -2.0, -3.0, -4.0, -5.0]],
        mean_log_prob=[[-1.0, -1.0, -1.0, -1.0, -1.0]],
        var_log_prob=[[1.0, 4.0, 0.0, 1.0, 4.0]],
    )
    # z = 0, -0.5, 0 (sigma = 0), -3, -2
    assert MKPP(view, k=0.4).scores[0] == -2.5
    assert MKPP(view, k=0.2).scores[0] == -3.0
    assert MKPP(view, k=1.0).scores[0] == pytest.approx(-1.1, rel=1e-15)


def test_one_hot_positions_give_zero(make_view) -> None:
    view = make_view(
        token_log_prob=[[-50.0] * 5], mean_log_prob=[[0.0] * 5], var_log_prob=[[0.0] * 5]
    )
    out = MKPP(view)
    assert out.scores[0] == 0.0 and out.reasons[0] is None


def test_nan_reasons(make_view) -> None:
    view = make_view(
        token_log_prob=[[-1.0] * 5, [-1.0] * 4, [-1.0] * 5, [-1.0] * 5, []],
        mean_log_prob=[[-1.0] * 5, [-1.0] * 4, [-1.0] * 5, [-1.0, np.nan, -1, -1, -1], []],
        var_log_prob=[[1.0] * 5, [1.0] * 4, [1.0, -0.5, 1, 1, 1], [1.0] * 5, []],
    )
    out = MKPP(view)
    assert out.scores[0] == 0.0
    assert out.reasons[1] == "too short for k=0.2: needs at least 5 scored tokens"
    assert "negative var_log_prob" in out.reasons[2]
    assert "NaN in target/plain:mean_log_prob" in out.reasons[3]
    assert "no scored tokens" in out.reasons[4]
    assert np.isnan(out.scores[1:]).all()


def test_matches_full_logits_with_probability_weighted_moments(make_view) -> None:
    """Parity with a slow computation from full logits: μ, σ are weighted by p_t itself."""
    rng = np.random.default_rng(0)
    n_tokens, vocab = 12, 50
    logits = rng.normal(0.0, 3.0, (n_tokens, vocab))
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))  # (T, V)
    p = np.exp(log_p)
    ids = rng.integers(0, vocab, n_tokens)
    log_prob = log_p[np.arange(n_tokens), ids]
    mu = (p * log_p).sum(axis=1)
    var = (p * (log_p - mu[:, None]) ** 2).sum(axis=1)
    view = make_view(token_log_prob=[log_prob], mean_log_prob=[mu], var_log_prob=[var])
    z_weighted = sorted((log_prob - mu) / np.sqrt(var))
    z_unweighted = sorted((log_prob - log_p.mean(axis=1)) / log_p.std(axis=1))
    score = MKPP(view, k=0.25).scores[0]  # 3 of 12 tokens
    assert score == pytest.approx(np.mean(z_weighted[:3]), rel=1e-5)  # float32 table
    assert score != pytest.approx(np.mean(z_unweighted[:3]), rel=1e-2)


@pytest.mark.parametrize("k", [0, 2, math.nan, False])
def test_invalid_k(make_view, k) -> None:
    view = make_view(token_log_prob=[[-1.0]], mean_log_prob=[[-1.0]], var_log_prob=[[1.0]])
    with pytest.raises(InvalidParameterError, match="0 < k <= 1"):
        MKPP(view, k=k)


@settings(max_examples=150, deadline=None)
@given(samples=samples, k=fractions)
def test_matches_slow_implementation(make_view, samples, k: float) -> None:
    out = MKPP(_view(make_view, samples), k=k)
    expected = [slow_min_k_plus_plus(s, k) for s in samples]
    np.testing.assert_allclose(out.scores, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert [r is not None for r in out.reasons] == [math.isnan(e) for e in expected]
