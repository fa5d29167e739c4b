"""DC-PDD: mean over first occurrences of min(p · log(1/f), a), higher = member."""

from __future__ import annotations

import math

import numpy as np
import pytest

from miakit.attacks import SignalView, default_registry
from miakit.errors import InvalidParameterError, MissingSignalError

DC = default_registry().get("dc_pdd")
FREQ = np.array([0.5, 0.25, 0.125, 0.0625, 0.0625])


def view(make_view, log_probs, ids, freq=FREQ) -> SignalView:
    base = make_view(token_log_prob=log_probs, token_id=ids)
    return SignalView(
        {("target", "plain"): base.table()}, n_samples=len(ids), extras={"token_frequency": freq}
    )


def reference(log_probs, ids, freq, a):
    seen, alphas = set(), []
    for lp, i in zip(log_probs, ids, strict=True):
        if i in seen:
            continue
        seen.add(i)
        alphas.append(min(math.exp(lp) * math.log(1 / freq[i]), a))
    return sum(alphas) / len(alphas)


def test_first_occurrence_rule_and_clip(make_view) -> None:
    log_probs = [[-2.0, -0.1, -3.0, -0.2, -4.0]]
    ids = [[1, 1, 2, 2, 4]]  # the repeats of ids 1 and 2 (high probability) must not count
    out = DC(view(make_view, log_probs, ids), a=10.0)  # no clipping
    expected = np.mean(
        [math.exp(-2.0) * math.log(4), math.exp(-3.0) * math.log(8), math.exp(-4.0) * math.log(16)]
    )
    np.testing.assert_allclose(out.scores, [expected])
    # counting every occurrence would give a different (larger) value
    every = np.mean([math.exp(lp) * math.log(1 / FREQ[i]) for lp, i in zip(log_probs[0], ids[0])])
    assert not math.isclose(every, expected)
    clipped = DC(view(make_view, log_probs, ids), a=0.1)
    np.testing.assert_allclose(clipped.scores, [reference(log_probs[0], ids[0], FREQ, 0.1)])
    assert DC.params == {"a": 0.01}


def test_first_occurrence_is_per_sample(make_view) -> None:
    log_probs = [[-1.0, -2.0], [-3.0, -1.0]]
    ids = [[0, 3], [3, 0]]  # the same ids in both samples: each sample keeps its own
    out = DC(view(make_view, log_probs, ids), a=1.0)
    for i in range(2):
        assert out.scores[i] == pytest.approx(reference(log_probs[i], ids[i], FREQ, 1.0))


def test_nan_reasons(make_view) -> None:
    out = DC(view(make_view, [[-1.0], [], [-1.0], [-1.0]], [[0], [], [7], [1.5]]))
    assert np.isfinite(out.scores[0])
    assert "no scored tokens" in out.reasons[1]
    assert "not in the frequency table" in out.reasons[2]
    assert "not in the frequency table" in out.reasons[3]
    bad = DC(view(make_view, [[-1.0]], [[0]], freq=np.array([0.0, 1.0])))
    assert "not in (0, 1]" in bad.reasons[0]


@pytest.mark.parametrize("a", [0, -1.0, float("nan"), "0.01", True])
def test_invalid_a(make_view, a) -> None:
    with pytest.raises(InvalidParameterError, match="a must be"):
        DC(view(make_view, [[-1.0]], [[0]]), a=a)


def test_frequency_table_must_be_1d(make_view) -> None:
    with pytest.raises(MissingSignalError, match="1-D"):
        DC(view(make_view, [[-1.0]], [[0]], freq=np.ones((2, 2))))
