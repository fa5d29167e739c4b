"""The built-in perturber: seeded, original token excluded, drawn from the original context."""

from __future__ import annotations

import pytest
import torch

from auxmodels import fp64_log_probs
from miakit.backends.hf import HFTokenScorer
from miakit.errors import BackendCapabilityError
from miakit.perturb import CausalLMPerturber
from miakit.perturb.base import n_replacements, text_seed
from miakit.perturb.causal import is_word_initial
from tinymodels import build_llama, build_tokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "x",
    "the cat sat on the mat and the dog sat on the log",
]


@pytest.fixture(scope="module")
def setup():
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    return tok, model, HFTokenScorer(model, tok, name="t")


class Spy:
    """Wraps a tokenizer and records the id lists passed to ``decode``."""

    def __init__(self, inner):
        self.inner = inner
        self.decoded: list[list[int]] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __len__(self):
        return len(self.inner)

    def decode(self, ids, **kwargs):
        self.decoded.append(list(ids))
        return self.inner.decode(ids, **kwargs)


def test_word_initial_tokens() -> None:
    assert is_word_initial("Ġthe") and is_word_initial("▁Paris") and is_word_initial("Ġ1969")
    assert not any(map(is_word_initial, ["the", "Ġ", "Ġ,", "##s", "", None, "Ċ"]))


def test_deterministic_with_a_seed_and_independent_of_batching(setup) -> None:
    _, _, scorer = setup
    a = CausalLMPerturber(scorer).neighbors(TEXTS, 4, seed=7)
    assert a == CausalLMPerturber(scorer).neighbors(TEXTS, 4, seed=7)
    # each text's neighbors depend only on the text and the seed: not on order or batching
    rev = CausalLMPerturber(scorer, batch_tokens=16).neighbors(TEXTS[::-1], 4, seed=7)
    assert rev[::-1] == a
    assert a != CausalLMPerturber(scorer).neighbors(TEXTS, 4, seed=8)
    assert text_seed(7, TEXTS[0]) != text_seed(7, TEXTS[1])
    assert a[2] == []  # one token: nothing replaceable
    assert all(len(n) == 4 and all(t != text for t in n) for n, text in zip(a, TEXTS) if n)


def test_replacements_exclude_the_original_and_follow_the_original_context(setup) -> None:
    tok, model, scorer = setup
    perturber = CausalLMPerturber(scorer, fraction=0.3, top_k=3)
    spy = Spy(tok)
    perturber.tokenizer = spy
    text = TEXTS[1]
    perturber.neighbors([text], 5, seed=0)
    ids = tok(text, add_special_tokens=False).input_ids
    word_initial = perturber.word_initial()
    eligible = [j for j in range(len(ids)) if word_initial[ids[j]]]
    logp = fp64_log_probs(model, [0, *ids])  # BOS tokenizer: the lead is [0]
    assert len(spy.decoded) == 5
    for new in spy.decoded:
        changed = [j for j in range(len(ids)) if new[j] != ids[j]]
        assert len(changed) == n_replacements(0.3, len(eligible))
        for j in changed:
            assert j in eligible and new[j] != ids[j] and word_initial[new[j]]
            # among the top-3 word-initial tokens predicted from the ORIGINAL left context
            row = logp[j].clone()  # input position j (after BOS) predicts text token j
            row[~word_initial[: row.shape[0]]] = float("-inf")
            row[ids[j]] = float("-inf")
            assert new[j] in torch.topk(row, 3).indices.tolist()


def test_needs_a_hf_tokenizer() -> None:
    class Bare:
        name = "bare"

    with pytest.raises(BackendCapabilityError, match="--fill-mask-model"):
        CausalLMPerturber(Bare())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_tokens": 0}, "batch_tokens"),
        ({"max_length": 1}, "max_length"),
        ({"bos": "sometimes"}, "bos"),
    ],
)
def test_invalid_engine_settings_are_errors_naming_them(setup, kwargs, message) -> None:
    """As for SignalEngine: no setting of a library object silently becomes a default."""
    from miakit.errors import InvalidParameterError

    scorer = setup[2]
    with pytest.raises(InvalidParameterError, match=rf"CausalLMPerturber(.|\n)*{message}"):
        CausalLMPerturber(scorer, **kwargs)
