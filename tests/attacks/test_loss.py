"""Known answers and edge cases for the ``loss`` attack."""

from __future__ import annotations

import numpy as np

from miakit.attacks import default_registry

LOSS = default_registry().get("loss")


def test_known_answers(make_view) -> None:
    view = make_view(token_log_prob=[[-1.0, -2.0, -3.0], [-0.5], [], [-2.0, -2.0], [0.0, 0.0]])
    out = LOSS(view)
    np.testing.assert_array_equal(out.scores[[0, 1, 3, 4]], [-2.0, -0.5, -2.0, 0.0])
    assert np.isnan(out.scores[2])
    assert out.reasons[2] == "no scored tokens in target/plain (text shorter than 2 tokens?)"
    assert out.reasons[0] is None


def test_lower_loss_scores_higher(make_view) -> None:
    out = LOSS(make_view(token_log_prob=[[-0.1, -0.2], [-3.0, -4.0]]))
    assert out.scores[0] > out.scores[1]


def test_nan_log_prob_gives_nan_with_reason(make_view) -> None:
    out = LOSS(make_view(token_log_prob=[[-1.0, np.nan], [-1.0]]))
    assert np.isnan(out.scores[0]) and "NaN in target/plain:token_log_prob" in out.reasons[0]
    assert out.scores[1] == -1.0


def test_float32_table_long_sample_mean(make_view) -> None:
    rng = np.random.default_rng(0)
    rows = [(-rng.exponential(2.0, n)).astype(np.float32) for n in (1, 7, 5000)]
    out = LOSS(make_view(token_log_prob=rows))
    expected = [np.mean(r.astype(np.float64)) for r in rows]
    np.testing.assert_allclose(out.scores, expected, rtol=1e-12)
