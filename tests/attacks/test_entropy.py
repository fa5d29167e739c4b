"""Known answers and edge cases for the ``entropy`` attack."""

from __future__ import annotations

import numpy as np

from miakit.attacks import default_registry

ENTROPY = default_registry().get("entropy")


def test_known_answers(make_view) -> None:
    out = ENTROPY(make_view(mean_log_prob=[[-1.0, -2.0], [-0.5], [], [0.0, 0.0]]))
    np.testing.assert_array_equal(out.scores[[0, 1, 3]], [-1.5, -0.5, 0.0])
    assert np.isnan(out.scores[2]) and "no scored tokens" in out.reasons[2]


def test_no_scored_tokens_is_worded_as_in_loss(make_view) -> None:
    """One cause, one reason: the console groups warnings by reason, so ``entropy`` (reading
    ``mean_log_prob``) and ``loss`` (``token_log_prob``) must word an empty text alike."""
    loss = default_registry().get("loss")(make_view(token_log_prob=[[-1.0], []]))
    out = ENTROPY(make_view(mean_log_prob=[[-1.0], []]))
    assert out.reasons[1] == loss.reasons[1]
    assert out.reasons[1] == "no scored tokens in target/plain (text shorter than 2 tokens?)"


def test_lower_entropy_scores_higher(make_view) -> None:
    out = ENTROPY(make_view(mean_log_prob=[[-0.1, -0.2], [-3.0, -4.0]]))
    assert out.scores[0] > out.scores[1]


def test_positive_mean_log_prob_is_corrupt(make_view) -> None:
    out = ENTROPY(make_view(mean_log_prob=[[-1.0, 0.5], [-1.0]]))
    assert np.isnan(out.scores[0]) and "positive mean_log_prob" in out.reasons[0]
    assert out.scores[1] == -1.0
