"""Known answers and edge cases for the ``binoculars`` attack."""

from __future__ import annotations

import numpy as np

from miakit.attacks import default_registry

BINOCULARS = default_registry().get("binoculars")


def _view(make_view, log_prob, cross):
    return make_view(
        tables={
            "performer/plain": {"token_log_prob": log_prob},
            "performer@observer/plain": {"cross_mean_log_prob": cross},
        }
    )


def test_known_answers(make_view) -> None:
    out = BINOCULARS(_view(make_view, [[-1.0, -3.0], [-0.5], []], [[-4.0, -4.0], [-2.0], []]))
    # B = (−mean l)/(−mean cross): 2/4, 0.5/2; score = −B
    np.testing.assert_allclose(out.scores[:2], [-0.5, -0.25], rtol=1e-12)
    assert np.isnan(out.scores[2]) and "no scored tokens" in out.reasons[2]


def test_low_perplexity_relative_to_cross_perplexity_scores_higher(make_view) -> None:
    # same log-perplexity; sample 0's observer/performer cross-perplexity is higher
    out = BINOCULARS(_view(make_view, [[-2.0], [-2.0]], [[-5.0], [-2.5]]))
    assert out.scores[0] > out.scores[1]


def test_zero_cross_perplexity_and_mismatched_tables(make_view) -> None:
    out = BINOCULARS(_view(make_view, [[0.0], [-1.0, -1.0], [-1.0]], [[0.0], [-1.0], [-1.0]]))
    assert np.isnan(out.scores[0]) and "zero cross-perplexity" in out.reasons[0]
    assert np.isnan(out.scores[1]) and "same tokenization" in out.reasons[1]
    assert out.scores[2] == -1.0
