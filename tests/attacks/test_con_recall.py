"""Con-ReCall: (LL(x|P_nm) − γ·LL(x|P_m)) / LL(x)."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.attacks import SignalView, default_registry
from miakit.errors import InvalidParameterError
from spantables import spans_table

REGISTRY = default_registry()
CON = REGISTRY.get("con_recall")

TABLES = {
    "target/plain": {"token_log_prob": [[-1.0, -3.0], [-4.0]]},
    "target/recall_nonmember": {"token_log_prob": [[-5.0, -3.0], [-4.0]]},
    "target/recall_member": {"token_log_prob": [[-1.0, -2.0], [-2.0]]},
}


def test_formula_default_gamma_is_one(make_view) -> None:
    out = CON(make_view(tables=TABLES))
    assert CON.params == {"gamma": 1.0}
    np.testing.assert_allclose(out.scores, [(-4.0 + 1.5) / -2.0, (-4.0 + 2.0) / -4.0])


@pytest.mark.parametrize("gamma", [0.0, 0.3, 2.5])
def test_gamma(make_view, gamma) -> None:
    out = CON(make_view(tables=TABLES), gamma=gamma)
    np.testing.assert_allclose(
        out.scores, [(-4.0 + gamma * 1.5) / -2.0, (-4.0 + gamma * 2.0) / -4.0]
    )


def test_gamma_zero_is_recall(make_view) -> None:
    view = make_view(tables=TABLES)
    np.testing.assert_allclose(CON(view, gamma=0.0).scores, REGISTRY.get("recall")(view).scores)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "1", True])
def test_invalid_gamma(make_view, bad) -> None:
    with pytest.raises(InvalidParameterError, match="gamma"):
        CON(make_view(tables=TABLES), gamma=bad)


def test_nan_when_member_prefix_table_is_empty(make_view) -> None:
    tables = dict(TABLES)
    tables["target/recall_member"] = {"token_log_prob": [[], [-1.0]]}
    out = CON(make_view(tables=tables))
    assert np.isnan(out.scores[0]) and "recall_member" in out.reasons[0]
    assert np.isfinite(out.scores[1])


def test_three_contexts_cut_at_three_places_score_the_common_span() -> None:
    # BOS; member and non-member prefixes of different lengths cut the 5-token text at 4 and 2
    plain = spans_table([[-1.0, -3.0, -9.0, -9.0, -9.0]], n_text=[5], text_start=[0])
    nonmember = spans_table(
        [[-4.0, -6.0, -9.0, -9.0]], n_text=[5], text_start=[0], truncated=[True]
    )
    member = spans_table([[-1.0, -2.0]], n_text=[5], text_start=[0], truncated=[True])
    view = SignalView(
        {
            ("target", "plain"): plain,
            ("target", "recall_nonmember"): nonmember,
            ("target", "recall_member"): member,
        }
    )
    np.testing.assert_allclose(CON(view).scores, [(-5.0 + 1.5) / -2.0])
