"""Known answers and edge cases for the ``rank`` attack."""

from __future__ import annotations

import numpy as np

from miakit.attacks import default_registry

RANK = default_registry().get("rank")


def test_known_answers_use_one_based_ranks(make_view) -> None:
    # token_rank counts strictly higher logits: 0 is the top choice, rank 1
    out = RANK(make_view(token_rank=[[0.0, 0.0], [0.0, 3.0], [], [9.0]]))
    np.testing.assert_array_equal(out.scores[[0, 1, 3]], [-1.0, -2.5, -10.0])
    assert np.isnan(out.scores[2]) and "no scored tokens" in out.reasons[2]


def test_better_ranked_tokens_score_higher(make_view) -> None:
    out = RANK(make_view(token_rank=[[0.0, 1.0], [50.0, 2.0]]))
    assert out.scores[0] > out.scores[1]


def test_negative_rank_is_corrupt(make_view) -> None:
    out = RANK(make_view(token_rank=[[-1.0, 2.0], [np.nan], [2.0]]))
    assert np.isnan(out.scores[0]) and "negative token_rank" in out.reasons[0]
    assert np.isnan(out.scores[1]) and "NaN in target/plain:token_rank" in out.reasons[1]
    assert out.scores[2] == -3.0
