"""Neighborhood: mean neighbor NLL minus the text's NLL, higher = member."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.attacks import SignalView, default_registry
from miakit.attacks._base import PerSample
from miakit.errors import MissingSignalError

HOOD = default_registry().get("neighborhood")


def view(make_view, log_probs, neighbor_nll) -> SignalView:
    base = make_view(token_log_prob=log_probs)
    return SignalView(
        {("target", "plain"): base.table()},
        n_samples=len(log_probs),
        extras={"neighbor_nll": neighbor_nll},
    )


def test_formula_and_sign(make_view) -> None:
    nbr = PerSample.of([3.0, 2.0])
    out = HOOD(view(make_view, [[-1.0, -2.0], [-2.0]], nbr))
    np.testing.assert_allclose(out.scores, [3.0 - 1.5, 2.0 - 2.0])
    assert out.scores[0] > out.scores[1]  # its neighbors are much worse than itself
    assert not HOOD.default  # costly: runs only when asked for


def test_reason_of_the_extra_is_kept(make_view) -> None:
    nbr = PerSample.of([np.nan, 1.0], ["no neighbor could be generated", None])
    out = HOOD(view(make_view, [[-1.0], []], nbr))
    assert "no neighbor could be generated" in out.reasons[0]
    assert "no scored tokens" in out.reasons[1]


def test_extra_must_be_per_sample(make_view) -> None:
    with pytest.raises(MissingSignalError, match="PerSample"):
        HOOD(view(make_view, [[-1.0]], np.array([1.0])))


def test_causal_variant_reads_its_own_extra(make_view) -> None:
    causal = default_registry().get("neighborhood_causal")
    assert causal.extras == ("neighbor_nll_causal",) and HOOD.extras == ("neighbor_nll",)
    assert not causal.default and causal.summary.startswith("VARIANT, not the paper's")
    base = make_view(token_log_prob=[[-1.0, -2.0]])
    signals = SignalView(
        {("target", "plain"): base.table()},
        n_samples=1,
        extras={"neighbor_nll_causal": PerSample.of([3.0])},
    )
    np.testing.assert_allclose(causal(signals).scores, [1.5])
