"""Known answers and edge cases for the ``reference`` attack."""

from __future__ import annotations

import numpy as np

from miakit.attacks import SignalView, default_registry
from spantables import spans_table

REFERENCE = default_registry().get("reference")


def _view(make_view, target, reference):
    return make_view(
        tables={
            "target/plain": {"token_log_prob": target},
            "reference/plain": {"token_log_prob": reference},
        }
    )


def test_known_answers_with_other_tokenizer_counts(make_view) -> None:
    # The reference tokenizes differently: 4 vs 2 tokens, 3 vs 1, ... Each NLL is a mean over
    # its own table's tokens (a sum, or the target's offsets, would give other numbers).
    target = [[-1.0, -3.0], [-0.5], [], [-1.0, -1.0]]
    reference = [[-2.0, -3.0, -2.0, -3.0], [-1.0, -2.0, -3.0], [-1.0], []]
    out = REFERENCE(_view(make_view, target, reference))
    # NLL_R - NLL_T: 2.5 - 2, 2 - 0.5
    np.testing.assert_array_equal(out.scores[:2], [0.5, 1.5])
    assert np.isnan(out.scores[2]) and "no scored tokens in target/plain" in out.reasons[2]
    assert np.isnan(out.scores[3]) and "no scored tokens in reference/plain" in out.reasons[3]


def test_calibration_removes_intrinsic_difficulty(make_view) -> None:
    # Sample 0 is hard for both models (uncalibrated loss would call it a non-member); the
    # target is relatively better on it than on sample 1.
    out = REFERENCE(_view(make_view, [[-3.0], [-1.0]], [[-5.0], [-1.5]]))
    assert out.scores[0] > out.scores[1]


def test_truncation_to_other_characters_is_nan() -> None:
    # sample 0: a same-tokenizer reference cut at the same character; 1: another tokenizer
    # cut at another character; 2: the reference was not cut (it covers the whole text)
    target = spans_table(
        [[-1.0], [-1.0], [-1.0]],
        n_text=[9, 9, 9],
        text_start=[0] * 3,
        truncated=[True, True, True],
        kept_chars=[20, 20, 20],
    )
    reference = spans_table(
        [[-2.0], [-2.0], [-2.0]],
        n_text=[9, 9, 4],
        text_start=[1] * 3,
        truncated=[True, True, False],
        kept_chars=[20, 23, 30],
    )
    view = SignalView({("target", "plain"): target, ("reference", "plain"): reference})
    for attack, finite in ((REFERENCE, 1.0), (default_registry().get("reference_ratio"), -0.5)):
        out = attack(view)
        np.testing.assert_allclose(out.scores[0], finite)
        assert np.isnan(out.scores[1:]).all()
        assert "reference/plain" in out.reasons[1] and "--max-length" in out.reasons[1]
        assert "the whole text" in out.reasons[2]
