"""Known answers and edge cases for the ``fast_detectgpt_ref`` attack."""

from __future__ import annotations

import numpy as np

from miakit.attacks import default_registry

FAST_REF = default_registry().get("fast_detectgpt_ref")


def _view(make_view, log_prob, cross_mean, cross_second):
    return make_view(
        tables={
            "target/plain": {"token_log_prob": log_prob},
            "target@sampling_model/plain": {
                "cross_mean_log_prob": cross_mean,
                "cross_second_moment": cross_second,
            },
        }
    )


def test_known_answers(make_view) -> None:
    # var = second - mean^2: 1 and 3 (sample 0), 4 (sample 1)
    out = FAST_REF(
        _view(
            make_view,
            [[-1.0, -2.0], [-3.0], []],
            [[-2.0, -2.0], [-1.0], []],
            [[5.0, 7.0], [5.0], []],
        )
    )
    np.testing.assert_allclose(out.scores[:2], [0.5, -1.0], rtol=1e-6)
    assert np.isnan(out.scores[2]) and "no scored tokens" in out.reasons[2]


def test_float32_rounding_below_zero_is_clamped(make_view) -> None:
    mu = np.float32(-1.1)
    second = np.float32(mu * mu) * np.float32(1 - 1e-7)  # a hair below mu^2 in float32
    out = FAST_REF(_view(make_view, [[-0.5, -1.0]], [[mu, -1.0]], [[second, 2.0]]))
    # the first token's variance is clamped to 0, the second's is 1
    np.testing.assert_allclose(out.scores[0], (-1.5 - (float(mu) - 1.0)) / 1.0, rtol=1e-6)


def test_zero_total_variance_and_mismatched_tables(make_view) -> None:
    out = FAST_REF(_view(make_view, [[0.0], [-1.0, -1.0]], [[0.0], [-1.0]], [[0.0], [2.0]]))
    assert np.isnan(out.scores[0]) and "zero variance" in out.reasons[0]
    assert np.isnan(out.scores[1]) and "same tokenization" in out.reasons[1]
