"""Capabilities: declared by the backend, checked once, reported, and all the engine reads."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.backends.base import (
    Capabilities,
    PackedScorer,
    PrefixKVScorer,
    TokenScorer,
    check_capabilities,
)
from miakit.backends.hf import HFTokenScorer
from miakit.errors import BackendCapabilityError, InvalidParameterError
from miakit.signals import Context
from miakit.signals.engine import SignalEngine
from tinymodels import build_gpt2, build_llama, build_tokenizer

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Paris is the capital of France", "a b"]


class PaddedOnly:
    """A backend with nothing but padded scoring: every method of :class:`TokenScorer`,
    delegated, and an empty capability record."""

    capabilities = Capabilities()

    def __init__(self, inner: HFTokenScorer) -> None:
        self._inner = inner
        self.name = "padded-only"
        self.device = inner.device
        self.vocab_size = inner.vocab_size

    @property
    def fingerprint(self):
        return self._inner.fingerprint

    @property
    def tokenizer_fingerprint(self):
        return self._inner.tokenizer_fingerprint

    @property
    def dtype(self):
        return self._inner.dtype

    def encode(self, texts):
        return self._inner.encode(texts)

    def lead_ids(self, bos):
        return self._inner.lead_ids(bos)

    def hidden_states(self, input_ids, attention_mask):
        return self._inner.hidden_states(input_ids, attention_mask)

    def logits(self, hidden):
        return self._inner.logits(hidden)


def test_hf_scorer_declares_its_capabilities_once():
    tok = build_tokenizer(bos=True)
    llama = HFTokenScorer(build_llama(len(tok)), tok)
    gpt2 = HFTokenScorer(build_gpt2(len(tok)), tok)
    assert llama.capabilities == Capabilities(
        packed=True, prefix_kv=True, char_offsets=True, tokenizer=True, gradients=True
    )
    assert gpt2.capabilities.packed is False  # gpt2 is not known to pack correctly
    assert check_capabilities(llama) is llama.capabilities
    assert isinstance(llama, PackedScorer) and isinstance(llama, PrefixKVScorer)
    assert llama.capabilities.names() == [
        "token_scores",
        "packed",
        "prefix_kv",
        "char_offsets",
        "tokenizer",
        "gradients",
    ]
    assert Capabilities().names() == ["token_scores"]


def test_check_refuses_a_non_scorer_and_an_unbacked_claim():
    with pytest.raises(BackendCapabilityError, match="not a TokenScorer"):
        check_capabilities(object())

    class Boastful(PaddedOnly):
        capabilities = Capabilities(packed=True, prefix_kv=True)

    tok = build_tokenizer(bos=True)
    boastful = Boastful(HFTokenScorer(build_llama(len(tok)), tok))
    assert isinstance(boastful, TokenScorer)
    with pytest.raises(BackendCapabilityError, match="packed, prefix_kv"):
        check_capabilities(boastful)
    with pytest.raises(BackendCapabilityError, match="packed, prefix_kv"):
        SignalEngine(boastful, progress=False)


def test_a_padded_only_backend_gives_the_same_numbers_without_reuse_or_packing():
    tok = build_tokenizer(bos=True)
    hf = HFTokenScorer(build_llama(len(tok)), tok)
    shots = Context("shots", prefix="Some earlier text that is a prefix. ")
    full = SignalEngine(hf, progress=False, packing="padded")
    bare = SignalEngine(PaddedOnly(hf), progress=False)
    assert bare.capabilities == Capabilities()
    for context in (Context("plain"), shots):
        a = full.compute(TEXTS, stats=["token_log_prob"], context=context)
        b = bare.compute(TEXTS, stats=["token_log_prob"], context=context)
        np.testing.assert_allclose(
            a.stats["token_log_prob"], b.stats["token_log_prob"], rtol=1e-5, atol=1e-5
        )
    with pytest.raises(InvalidParameterError, match="not known to pack"):
        SignalEngine(PaddedOnly(hf), progress=False, packing="packed").compute(
            TEXTS, stats=["token_log_prob"]
        )


def test_the_run_metadata_reports_each_models_capabilities():
    from miakit.signals.plan import EngineOptions, SignalPlanner

    tok = build_tokenizer(bos=True)
    scorers = {
        "target": HFTokenScorer(build_llama(len(tok)), tok, name="tiny-llama"),
        "reference": PaddedOnly(HFTokenScorer(build_gpt2(len(tok)), tok)),
    }
    planner = SignalPlanner(scorer_for=scorers.__getitem__, options=EngineOptions(progress=False))
    planner.engine("target"), planner.engine("reference")
    meta = planner.models_meta()
    assert meta["target"]["capabilities"] == [
        "token_scores",
        "packed",
        "prefix_kv",
        "char_offsets",
        "tokenizer",
        "gradients",
    ]
    assert meta["reference"]["capabilities"] == ["token_scores"]
    assert {"name", "fingerprint", "tokenizer_fingerprint", "lead_ids", "device"} <= set(
        meta["target"]
    )
