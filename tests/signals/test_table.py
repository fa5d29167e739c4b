"""TokenSignals: which text tokens a table scored (``text_spans``), carried through ``take``."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.signals.table import TokenSignals


def table(n_scored, n_text, truncated, text_start=None, kept_chars=None) -> TokenSignals:
    offsets = np.concatenate([[0], np.cumsum(n_scored)]).astype(np.int64)
    return TokenSignals(
        offsets=offsets,
        stats={"token_log_prob": np.zeros(int(offsets[-1]), dtype=np.float32)},
        truncated=np.array(truncated, dtype=bool),
        n_text_tokens=np.array(n_text, dtype=np.int64),
        text_start=None if text_start is None else np.array(text_start, dtype=np.int64),
        kept_chars=None if kept_chars is None else np.array(kept_chars, dtype=np.int64),
    )


def test_recorded_spans() -> None:
    t = table([3, 5], [3, 9], [False, True], text_start=[0, 0], kept_chars=[10, 17])
    start, stop = t.text_spans()
    np.testing.assert_array_equal(start, [0, 0])
    np.testing.assert_array_equal(stop, [3, 5])


def test_inferred_spans_no_bos() -> None:
    # nothing precedes the text: token 0 is not scored; a truncated sample follows the table
    start, stop = table([2, 7], [3, 20], [False, True]).text_spans()
    np.testing.assert_array_equal(start, [1, 1])
    np.testing.assert_array_equal(stop, [3, 8])


def test_spans_unknown_when_every_sample_is_truncated() -> None:
    start, stop = table([7], [20], [True]).text_spans()
    assert start[0] == -1 and stop[0] == -1


def test_take_keeps_spans_and_characters() -> None:
    t = table([3, 5], [3, 9], [False, True], text_start=[0, 0], kept_chars=[10, 17])
    picked = t.take(np.array([1]))
    assert picked.text_start is not None and picked.kept_chars is not None
    assert picked.text_start.tolist() == [0] and picked.kept_chars.tolist() == [17]


def test_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="kept_chars"):
        table([1], [1], [False], kept_chars=[1, 2])
