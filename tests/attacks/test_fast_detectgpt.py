"""Known answers and edge cases for the ``fast_detectgpt`` attack."""

from __future__ import annotations

import math

import numpy as np

from miakit.attacks import default_registry

FAST = default_registry().get("fast_detectgpt")


def _view(make_view, log_prob, mu, var):
    return make_view(token_log_prob=log_prob, mean_log_prob=mu, var_log_prob=var)


def test_known_answers(make_view) -> None:
    out = FAST(
        _view(
            make_view,
            [[-1.0, -2.0], [-3.0], []],
            [[-2.0, -2.0], [-1.0], []],
            [[1.0, 3.0], [4.0], []],
        )
    )
    # (sum l - sum mu) / sqrt(sum var): (−3 + 4)/2, (−3 + 1)/2
    np.testing.assert_allclose(out.scores[:2], [0.5, -1.0], rtol=1e-12)
    assert np.isnan(out.scores[2]) and "no scored tokens" in out.reasons[2]


def test_pooled_not_per_token_standardisation(make_view) -> None:
    out = FAST(_view(make_view, [[0.0, -4.0]], [[-1.0, -1.0]], [[0.25, 8.75]]))
    # pooled: (1 - 3)/3; the mean of per-token z would be (2 + (-3/sqrt(8.75)))/2
    np.testing.assert_allclose(out.scores[0], -2.0 / 3.0, rtol=1e-7)
    assert not math.isclose(out.scores[0], (2.0 - 3.0 / math.sqrt(8.75)) / 2.0)


def test_zero_or_negative_variance(make_view) -> None:
    out = FAST(
        _view(
            make_view,
            [[0.0, 0.0], [-1.0], [-1.0]],
            [[0.0, 0.0], [-1.0], [-2.0]],
            [[0.0, 0.0], [-0.5], [1.0]],
        )
    )
    assert np.isnan(out.scores[0]) and "zero variance" in out.reasons[0]
    assert np.isnan(out.scores[1]) and "negative var_log_prob" in out.reasons[1]
    assert out.scores[2] == 1.0
