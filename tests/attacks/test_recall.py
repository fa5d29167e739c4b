"""ReCaLL: LL(x|P)/LL(x) over the text tokens both contexts score, higher = member."""

from __future__ import annotations

import numpy as np

from miakit.attacks import SignalView, default_registry
from spantables import spans_table

RECALL = default_registry().get("recall")
NM = "recall_nonmember"


def test_formula_and_sign(make_view) -> None:
    view = make_view(
        tables={
            "target/plain": {"token_log_prob": [[-1.0, -3.0], [-2.0]]},
            "target/recall_nonmember": {"token_log_prob": [[-3.0, -5.0], [-2.0]]},
        }
    )
    out = RECALL(view)
    # means: plain -2, -2; prefixed -4, -2
    np.testing.assert_allclose(out.scores, [2.0, 1.0])
    # the prefix lowered the first text's likelihood more: it scores as more member-like
    assert out.scores[0] > out.scores[1]


def test_nan_reasons(make_view) -> None:
    view = make_view(
        tables={
            "target/plain": {"token_log_prob": [[0.0, 0.0], [], [-1.0]]},
            "target/recall_nonmember": {"token_log_prob": [[-1.0], [-1.0], []]},
        }
    )
    out = RECALL(view)
    assert np.isnan(out.scores).all()
    assert "LL(x) is 0" in out.reasons[0]
    assert "target/plain" in out.reasons[1] and "recall_nonmember" in out.reasons[2]


def test_truncated_after_the_prefix_scores_the_common_span() -> None:
    # BOS: both contexts score from text token 0; the prefix left room for 3 of 5 tokens
    plain = spans_table([[-1.0, -2.0, -3.0, -10.0, -10.0]], n_text=[5], text_start=[0])
    prefixed = spans_table([[-2.0, -4.0, -6.0]], n_text=[5], text_start=[0], truncated=[True])
    out = RECALL(SignalView({("target", "plain"): plain, ("target", NM): prefixed}))
    np.testing.assert_allclose(out.scores, [-4.0 / -2.0])


def test_without_bos_token_zero_is_left_out_of_both() -> None:
    # no BOS: plain scores text tokens 1..3, the prefix context tokens 0..3
    plain = spans_table([[-1.0, -2.0, -3.0]], n_text=[4], text_start=[1])
    prefixed = spans_table([[-100.0, -2.0, -4.0, -6.0]], n_text=[4], text_start=[0])
    out = RECALL(SignalView({("target", "plain"): plain, ("target", NM): prefixed}))
    np.testing.assert_allclose(out.scores, [-4.0 / -2.0])


def test_empty_common_span_is_nan_with_reason() -> None:
    plain = spans_table([[-1.0, -2.0], [-1.0]], n_text=[3, 2], text_start=[1, 1])
    prefixed = spans_table(
        [[-1.0], [-1.0, -2.0]], n_text=[3, 2], text_start=[0, 0], truncated=[True, False]
    )
    out = RECALL(SignalView({("target", "plain"): plain, ("target", NM): prefixed}))
    assert np.isnan(out.scores[0]) and np.isfinite(out.scores[1])
    # the id is attached by the warnings and metrics; the reason does not carry a position
    assert out.reasons[0].startswith("the common span is empty, no text token is scored")
    assert "--max-length" in out.reasons[0] and "--recall-shots" in out.reasons[0]
