"""ReCaLL: LL(x|P)/LL(x) over the text's own tokens, higher = member."""

from __future__ import annotations

import numpy as np

from miakit.attacks import default_registry

RECALL = default_registry().get("recall")


def test_formula_and_sign(make_view) -> None:
    view = make_view(
        tables={
            "target/plain": {"token_log_prob": [[-1.0, -3.0], [-2.0]]},
            "target/recall_nonmember": {"token_log_prob": [[-3.0, -5.0, -4.0], [-2.0]]},
        }
    )
    out = RECALL(view)
    # means: plain -2, -2; prefixed -4, -2 (each over its own scored tokens)
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
