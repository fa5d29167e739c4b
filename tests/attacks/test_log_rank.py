"""Known answers and edge cases for the ``log_rank`` attack."""

from __future__ import annotations

import math

import numpy as np

from miakit.attacks import default_registry

LOG_RANK = default_registry().get("log_rank")


def test_known_answers(make_view) -> None:
    out = LOG_RANK(make_view(token_rank=[[0.0, 0.0], [0.0, 3.0], [], [2**20]]))
    expected = [0.0, -math.log(4.0) / 2, -math.log(2**20 + 1)]
    np.testing.assert_allclose(out.scores[[0, 1, 3]], expected, rtol=1e-12)
    assert np.isnan(out.scores[2]) and "no scored tokens" in out.reasons[2]


def test_log_damps_one_badly_ranked_token(make_view) -> None:
    # by mean rank sample 1 (one awful token) is worse; by mean log-rank it is better
    view = make_view(token_rank=[[9.0, 9.0, 9.0, 9.0], [0.0, 0.0, 0.0, 999.0]])
    ranks = default_registry().get("rank")(view).scores
    out = LOG_RANK(view)
    assert ranks[0] > ranks[1] and out.scores[1] > out.scores[0]


def test_negative_rank_is_corrupt(make_view) -> None:
    out = LOG_RANK(make_view(token_rank=[[-1.0, 2.0], [2.0]]))
    assert np.isnan(out.scores[0]) and "negative token_rank" in out.reasons[0]
    np.testing.assert_allclose(out.scores[1], -math.log(3.0))
