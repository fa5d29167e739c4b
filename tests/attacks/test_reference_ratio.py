"""Known answers and edge cases for the ``reference_ratio`` attack."""

from __future__ import annotations

import numpy as np

from miakit.attacks import default_registry

RATIO = default_registry().get("reference_ratio")


def _view(make_view, target, reference):
    return make_view(
        tables={
            "target/plain": {"token_log_prob": target},
            "reference/plain": {"token_log_prob": reference},
        }
    )


def test_known_answers_with_other_tokenizer_counts(make_view) -> None:
    target = [[-1.0, -3.0], [-0.5], [-1.0], [], [-1.0]]
    reference = [[-2.0, -3.0, -2.0, -3.0], [-1.0, -2.0, -3.0], [0.0, 0.0], [-1.0], []]
    out = RATIO(_view(make_view, target, reference))
    # -NLL_T / NLL_R: -2/2.5, -0.5/2
    np.testing.assert_allclose(out.scores[:2], [-0.8, -0.25], rtol=1e-15)
    assert np.isnan(out.scores[2:]).all()
    assert out.reasons[2] == "reference NLL is 0 (all tokens have probability 1)"
    assert "no scored tokens in target/plain" in out.reasons[3]
    assert "no scored tokens in reference/plain" in out.reasons[4]


def test_target_better_than_reference_scores_higher(make_view) -> None:
    out = RATIO(_view(make_view, [[-1.0], [-2.0]], [[-2.0, -2.0], [-2.0]]))
    assert out.scores[0] > out.scores[1]
