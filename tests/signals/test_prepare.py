"""The prepare step: head, truncation, scored tokens, the shared head of prefix reuse."""

from __future__ import annotations

import pytest

from miakit.backends.hf import HFTokenScorer
from miakit.errors import InvalidParameterError
from miakit.signals import Context
from miakit.signals.prepare import Preparer, ScoringInput, shared_head, truncate
from tinymodels import build_llama, build_tokenizer


def test_truncate_keeps_room_text_tokens_after_the_head():
    a, b = truncate([[7, 8, 9], [4]], head=[1], room=2)
    assert a == ScoringInput(ids=(1, 7, 8), first_scored=1, n_text_tokens=3, truncated=True)
    assert b == ScoringInput(ids=(1, 4), first_scored=1, n_text_tokens=1, truncated=False)
    (c,) = truncate([[7, 8]], head=[], room=5)
    assert c.first_scored == 1  # no head: the first text token is not scored
    (d,) = truncate([[7]], head=[1, 2, 3], room=5)
    assert d.first_scored == 3  # prefix tokens are never scored


def test_shared_head_needs_two_unscored_tokens_common_to_all():
    same = truncate([[7, 8], [9]], head=[1, 2, 3], room=5)
    assert shared_head(same) == (1, 2, 3)
    assert shared_head(truncate([[7, 8], [9]], head=[1], room=5)) == ()
    other = [*same, ScoringInput((1, 2, 4, 5), 3, 1, False)]
    assert shared_head(other) == ()
    assert shared_head([]) == ()


def test_preparer_refuses_a_prefix_that_leaves_no_room():
    tok = build_tokenizer(bos=True)
    scorer = HFTokenScorer(build_llama(len(tok)), tok)
    preparer = Preparer(scorer, tuple(scorer.lead_ids("auto")), 4, char_offsets=True)
    with pytest.raises(InvalidParameterError, match="leaves no room"):
        preparer.prepare(["text"], Context("long", prefix="a much longer prefix than four"))
    (x,) = preparer.prepare(["hello there"], Context("plain"))
    assert len(x.ids) <= 4 and x.ids[: len(preparer.lead)] == preparer.lead
