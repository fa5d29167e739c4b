"""Known answers and edge cases for the ``zlib`` attack."""

from __future__ import annotations

import zlib as stdlib_zlib

import numpy as np
import pytest

from miakit.attacks import SignalView, default_registry
from miakit.attacks.zlib import zlib_bytes
from spantables import spans_table

ZLIB = default_registry().get("zlib")


@pytest.mark.parametrize(
    ("text", "n_bytes"),
    [
        ("", 8),
        ("hello hello hello hello", 16),
        # 13 CJK characters: 39 UTF-8 bytes; UTF-16 would compress to 37, Latin-1 is impossible
        ("漢字かな交じり文のテキスト", 50),
        ("Grüße aus Köln, schöne Grüße", 39),
    ],
)
def test_zlib_bytes_uses_utf8(text: str, n_bytes: int) -> None:
    assert zlib_bytes(text) == n_bytes == len(stdlib_zlib.compress(text.encode("utf-8")))


def test_known_answers(make_view) -> None:
    texts = ["hello hello hello hello", "漢字かな交じり文のテキスト", "", "x"]
    view = make_view(
        token_log_prob=[[-1.0, -3.0], [-4.0], [-0.5, -0.5, -0.5, -0.5], []], texts=texts
    )
    out = ZLIB(view)
    # -NLL / zlib bytes: (-2)/16, (-4)/50, (-0.5)/8
    np.testing.assert_allclose(out.scores[:3], [-2.0 / 16, -4.0 / 50, -0.5 / 8], rtol=1e-15)
    assert np.isnan(out.scores[3]) and "no scored tokens" in out.reasons[3]


def test_same_nll_more_compressible_text_scores_lower(make_view) -> None:
    # Equal NLL: the text that zlib finds easy (repetitive) is less surprising for the model
    # to predict well, so it is less evidence of membership.
    texts = ["ab" * 100, "The quick brown fox jumps over the lazy dog, 1969 Moon!"]
    out = ZLIB(make_view(token_log_prob=[[-2.0], [-2.0]], texts=texts))
    assert zlib_bytes(texts[0]) < zlib_bytes(texts[1])
    assert out.scores[0] < out.scores[1]


def test_truncated_text_compresses_only_the_scored_characters() -> None:
    texts = ["hello hello hello hello and then many more words", "abc abc abc abc"]
    table = spans_table(
        [[-1.0, -3.0], [-2.0]],
        n_text=[9, 4],
        text_start=[0, 0],
        truncated=[True, True],
        kept_chars=[11, -1],
    )
    out = ZLIB(SignalView({("target", "plain"): table}, texts))
    np.testing.assert_allclose(out.scores[0], -2.0 / zlib_bytes("hello hello"), rtol=1e-15)
    # truncated where the tokenizer could not say which characters were kept
    assert np.isnan(out.scores[1]) and "--max-length" in out.reasons[1]
