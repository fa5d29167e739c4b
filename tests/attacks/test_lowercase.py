"""Known answers and edge cases for the ``lowercase`` attack."""

from __future__ import annotations

import numpy as np

from miakit.attacks import SignalView, default_registry
from spantables import spans_table

LOWERCASE = default_registry().get("lowercase")


def _view(make_view, plain, lower):
    return make_view(
        tables={
            "target/plain": {"token_log_prob": plain},
            "target/lowercase": {"token_log_prob": lower},
        }
    )


def test_known_answers_with_different_token_counts(make_view) -> None:
    plain = [[-1.0, -1.0], [-2.0, -4.0], [0.0, 0.0], [-1.0], []]
    lower = [[-2.0, -3.0, -1.0], [-3.0], [-1.0], [], [-1.0]]
    out = LOWERCASE(_view(make_view, plain, lower))
    # NLL(lower)/NLL(text): 2/1, 3/3
    np.testing.assert_array_equal(out.scores[:2], [2.0, 1.0])
    assert np.isnan(out.scores[2:]).all()
    assert "NLL of the original text is 0" in out.reasons[2]
    assert out.reasons[3] == "no scored tokens in target/lowercase (text shorter than 2 tokens?)"
    assert "no scored tokens in target/plain (" in out.reasons[4]


def test_memorised_casing_scores_higher(make_view) -> None:
    # Sample 0: low NLL on the original casing, high once lowercased (memorised).
    out = LOWERCASE(_view(make_view, [[-0.2, -0.2], [-2.0, -2.0]], [[-2.0], [-2.0]]))
    assert out.scores[0] > out.scores[1]


def test_truncation_that_covers_different_characters_is_nan() -> None:
    # sample 0: both cut, at the same character; 1: both cut, at other characters;
    # 2: only the lowercased text was cut (it has more tokens); 3: neither was cut
    plain = spans_table(
        [[-1.0], [-1.0], [-1.0], [-1.0]],
        n_text=[5, 5, 3, 2],
        text_start=[0] * 4,
        truncated=[True, True, False, False],
        kept_chars=[7, 7, 12, 6],
    )
    lower = spans_table(
        [[-3.0], [-3.0], [-3.0], [-3.0]],
        n_text=[5, 6, 5, 2],
        text_start=[0] * 4,
        truncated=[True, True, True, False],
        kept_chars=[7, 6, 10, 6],
    )
    out = LOWERCASE(SignalView({("target", "plain"): plain, ("target", "lowercase"): lower}))
    np.testing.assert_allclose(out.scores[[0, 3]], [3.0, 3.0])
    assert np.isnan(out.scores[[1, 2]]).all()
    assert "first 7 characters" in out.reasons[1] and "first 6 characters" in out.reasons[1]
    # the id is attached by the warnings and metrics; the reason does not carry a position
    assert out.reasons[1].startswith("truncation to max_length left target/plain with")
    assert "the whole text" in out.reasons[2] and "--max-length" in out.reasons[2]
