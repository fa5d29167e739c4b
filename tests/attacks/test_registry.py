"""The registry's optional feasibility declaration (``min_tokens``)."""

from __future__ import annotations

import pytest

from miakit.attacks import default_registry
from miakit.attacks._registry import Registry, max_scored_tokens, unscorable
from miakit.errors import InvalidParameterError


def test_min_k_family_declares_the_tokens_it_needs():
    reg = default_registry()
    assert reg.get("min_k").tokens_needed({}) == 5
    assert reg.get("min_k").tokens_needed({"k": 0.001}) == 1000
    assert reg.get("min_k_plus_plus").tokens_needed({"k": 0.5}) == 2
    assert reg.get("win_k").tokens_needed({}) == 7
    assert reg.get("win_k").tokens_needed({"k": 1.0, "window": 10}) == 10
    assert reg.get("loss").tokens_needed({}) is None


def test_bad_values_are_refused_by_the_declaration():
    with pytest.raises(InvalidParameterError, match="0 < k <= 1"):
        default_registry().get("min_k").tokens_needed({"k": 2.0})


def test_token_bound_is_bytes_plus_one_capped_by_max_length():
    assert max_scored_tokens("abc", max_length=2048) == 4
    assert max_scored_tokens("é", max_length=2048) == 3  # 2 UTF-8 bytes
    assert max_scored_tokens("\ufdfa", max_length=2048) > 3  # NFKC expands it to 18 letters
    assert max_scored_tokens("x" * 5000, max_length=2048) == 2048


def test_unscorable_names_the_longest_text_and_the_need():
    spec = default_registry().get("min_k")
    texts = ["short", "a little longer"]
    msg = unscorable(spec, {"k": 0.01}, texts, ["a", "b"], max_length=2048)
    assert msg is not None
    assert "k=0.01" in msg and "100" in msg and "'b'" in msg and "16" in msg
    assert unscorable(spec, {"k": 0.2}, texts, ["a", "b"], max_length=2048) is None


def test_registering_min_tokens():
    reg = Registry()

    @reg.register("toy", needs=("token_log_prob",), paper="0000.00000", min_tokens=lambda n: n)
    def toy(signals, *, n: int = 3):
        return signals

    assert reg.get("toy").tokens_needed({"n": 9}) == 9
