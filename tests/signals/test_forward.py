"""The forward step: every variant gives the states predicting the scored tokens, in order."""

from __future__ import annotations

import pytest
import torch

from miakit.backends.hf import HFTokenScorer
from miakit.signals.forward import Forward
from miakit.signals.prepare import shared_head, truncate
from tinymodels import build_llama, build_tokenizer


def _setup():
    tok = build_tokenizer(bos=True)
    scorer = HFTokenScorer(build_llama(len(tok)), tok)
    forward = Forward(scorer, packed=True, prefix_kv=True)
    return scorer, forward


def test_padded_and_packed_units_agree_and_targets_are_the_scored_tokens():
    scorer, forward = _setup()
    inputs = truncate(scorer.encode(["one two three", "four", "five six"]), [1, 2], room=20)
    padded = forward.unit(inputs, packed=False)
    packed = forward.unit(inputs, packed=True)
    assert padded is not None and packed is not None and forward.n_batches == 2
    expected = [t for x in inputs for t in x.ids[x.first_scored :]]
    assert padded.targets.tolist() == expected == packed.targets.tolist()
    torch.testing.assert_close(padded.hidden, packed.hidden, rtol=1e-4, atol=1e-4)


def test_nothing_scored_means_no_forward_pass():
    scorer, forward = _setup()
    scorer.hidden_states = lambda *a: pytest.fail("the model ran")  # type: ignore[method-assign]
    inputs = truncate([[5]], head=[], room=4)  # one token, no head: nothing to predict
    assert forward.unit(inputs, packed=False) is None
    assert forward.n_batches == 1  # counted as a unit, but the model never ran


def test_after_prefix_equals_the_full_forward():
    scorer, forward = _setup()
    inputs = truncate(scorer.encode(["one two three", "four", "five six"]), [1, 2, 3], room=20)
    head = shared_head(inputs)
    assert head == (1, 2, 3)
    full = forward.unit(inputs, packed=False)
    prefix = forward.prefix_state(head)
    assert full is not None
    for packed in (False, True):
        after = forward.after_prefix(inputs, prefix, packed=packed)
        assert after.targets.tolist() == full.targets.tolist()
        assert [len(x.ids) - x.first_scored for x in after.inputs] == [
            len(x.ids) - x.first_scored for x in inputs
        ]
        torch.testing.assert_close(after.hidden, full.hidden, rtol=1e-4, atol=1e-4)
