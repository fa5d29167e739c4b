"""Every invalid option of ``SignalEngine`` called directly is an error that names the fix, as
in the config path (issue 11: ``batch_tokens=0`` used to become 4096 silently)."""

from __future__ import annotations

import pytest

from miakit.backends.hf import HFTokenScorer
from miakit.errors import InvalidParameterError
from miakit.signals.engine import SignalEngine
from tinymodels import build_llama, build_tokenizer


@pytest.fixture(scope="module")
def scorer() -> HFTokenScorer:
    tok = build_tokenizer()
    return HFTokenScorer(build_llama(len(tok)), tok, name="t")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_tokens": 0}, r"batch_tokens must be an integer >= 1, got 0; e\.g\. batch_tokens="),
        ({"batch_tokens": -5}, "batch_tokens must be an integer >= 1, got -5"),
        ({"batch_tokens": 64.0}, r"batch_tokens: expected an integer >= 1, or None .*got 64\.0"),
        ({"chunk_tokens": 0}, "chunk_tokens must be an integer >= 1, got 0"),
        ({"max_length": 1}, "max_length must be an integer >= 2, got 1"),
        ({"max_length": 512.5}, "max_length: expected an integer >= 2, got 512.5"),
        ({"max_length": True}, "max_length: expected an integer >= 2, got True"),
        ({"bos": "sometimes"}, "bos must be one of 'auto', 'always', 'never', got 'sometimes'"),
        ({"packing": "tight"}, "packing must be one of 'auto', 'packed', 'padded'"),
        ({"prefix_reuse": "no"}, "prefix_reuse: expected true or false, got 'no'"),
        ({"progress": 1}, "progress: expected true or false, got 1"),
        ({"cache": "dir"}, "cache: expected a SignalCache or None, got 'dir' .str."),
    ],
)
def test_an_invalid_option_is_an_error_naming_the_fix(scorer, options, message) -> None:
    with pytest.raises(InvalidParameterError, match=message) as info:
        SignalEngine(scorer, **options)
    assert "SignalEngine" in str(info.value)


def test_every_problem_is_named_at_once(scorer) -> None:
    with pytest.raises(InvalidParameterError) as info:
        SignalEngine(scorer, batch_tokens=0, chunk_tokens=0, bos="x")
    text = str(info.value)
    assert "batch_tokens" in text and "chunk_tokens" in text and "bos" in text


def test_none_still_means_the_documented_default(scorer) -> None:
    engine = SignalEngine(scorer, batch_tokens=None, chunk_tokens=None)
    assert engine.batch_tokens == 4096  # CPU
    assert engine.chunk_tokens == max(1, (1 << 26) // scorer.vocab_size)
    assert SignalEngine(scorer, batch_tokens=7, chunk_tokens=3).batch_tokens == 7
