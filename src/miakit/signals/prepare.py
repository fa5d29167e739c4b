"""Step 1 of the forward loop, *prepare*: texts to tokenized, truncated scoring inputs.

Under a context (``Context.apply``), each text is tokenized without special tokens; the input
is ``head + text`` where ``head`` is the BOS policy's lead ids (recorded in the table's
``meta``) and then the context's prefix tokens. The text part is truncated so the input has
at most ``max_length`` tokens (flagged per sample). Every text token that has at least one
input token before it is scored: the first text token is predicted from the prefix or BOS when
there is one, and is not scored otherwise. Prefix tokens are never scored.

The next steps are :mod:`~miakit.signals.batching` (forward units),
:mod:`~miakit.signals.forward` (hidden states of the predicting positions) and
:mod:`~miakit.signals.stats` (fp32 statistics); :mod:`~miakit.signals.engine` runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from miakit.backends.base import CharOffsetScorer, TokenScorer
from miakit.errors import InvalidParameterError
from miakit.signals.cache import CachedRow
from miakit.signals.spec import Context


@dataclass(frozen=True)
class ScoringInput:
    """One tokenized input: ``ids`` are fed to the model; tokens ``ids[first_scored:]`` are
    scored (each predicted from the position before it)."""

    ids: tuple[int, ...]
    first_scored: int
    n_text_tokens: int
    truncated: bool


def truncate(
    encoded: Sequence[Sequence[int]], head: Sequence[int], room: int
) -> list[ScoringInput]:
    """``head + text`` for each encoded text, keeping at most ``room`` text tokens.

    Args:
        encoded: the token ids of each text, without special tokens.
        head: the ids placed before every text (lead ids, then any prefix).
        room: how many text tokens fit (``max_length - len(head)``, at least 1).
    """
    head = list(head)
    out = []
    for ids in encoded:
        kept = list(ids[:room])
        out.append(
            ScoringInput(
                ids=tuple(head + kept),
                first_scored=max(1, len(head)),
                n_text_tokens=len(ids),
                truncated=len(ids) > room,
            )
        )
    return out


def shared_head(inputs: Sequence[ScoringInput]) -> tuple[int, ...]:
    """The head (prefix with BOS) that every input starts with and none of whose tokens is
    scored, when it is at least 2 tokens long; ``()`` otherwise. Prefix reuse runs it once."""
    if not inputs:
        return ()
    n = inputs[0].first_scored
    if n < 2 or any(x.first_scored != n or x.ids[:n] != inputs[0].ids[:n] for x in inputs):
        return ()
    return inputs[0].ids[:n]


@dataclass(frozen=True)
class Preparer:
    """Tokenizes and truncates texts for one model (see the module docstring).

    Args:
        scorer: the backend that tokenizes.
        lead: the BOS policy's ids, placed before every input.
        max_length: the most input tokens per text (lead and prefix included).
        char_offsets: whether ``scorer`` has the ``char_offsets`` capability.
    """

    scorer: TokenScorer
    lead: tuple[int, ...]
    max_length: int
    char_offsets: bool

    def head_ids(self, context: Context) -> list[int]:
        """The ids before every text under ``context``: the BOS policy's, then the prefix's."""
        prefix_ids: list[int] = []
        if context.prefix:
            prefix_ids = self.scorer.encode([context.prefix])[0]
        return list(self.lead) + prefix_ids

    def prepare(self, texts: Sequence[str], context: Context) -> list[ScoringInput]:
        """Tokenize and truncate ``texts`` under ``context``."""
        head = self.head_ids(context)
        room = self.max_length - len(head)
        if room < 1:
            raise InvalidParameterError(
                f"context {context.name!r}: the prefix has {len(head)} tokens, which leaves no "
                f"room for the text within max_length={self.max_length}; raise --max-length "
                "or use a shorter prefix"
            )
        encoded = self.scorer.encode([context.apply(t) for t in texts])
        return truncate(encoded, head, room)

    def text_coverage(
        self, rows: Sequence[CachedRow], context: Context, texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(text_start, kept_chars)`` of :class:`~miakit.signals.table.TokenSignals` for
        ``rows`` (one per text).

        ``text_start`` needs no tokenizer where the lead ids or the rows tell
        (:meth:`_has_head`), so a rerun whose rows are all cached and none truncated
        tokenises nothing. ``kept_chars`` is derived from the tokenizer after the cache
        lookup (so the cache format stays as it is): the character end of the last kept
        token, asked of the tokenizer for truncated texts only. ``kept_chars`` is -1 where
        the tokenizer cannot tell (a backend without the ``char_offsets`` capability), or
        where the context's transform changes the text's length (characters of the scored
        text then do not map onto the raw text's).
        """
        start = 0 if self._has_head(rows, context) else 1
        kept = np.array([len(t) for t in texts], dtype=np.int64)
        cut = [i for i, r in enumerate(rows) if r.truncated]
        if cut:
            room = self.max_length - len(self.head_ids(context))
            kept[cut] = -1
            scored = [context.apply(texts[i]) for i in cut]
            if self.char_offsets:
                char_ends = cast(CharOffsetScorer, self.scorer).char_ends
                for i, text, end in zip(cut, scored, char_ends(scored, room), strict=True):
                    if end is not None and len(text) == len(texts[i]):
                        kept[i] = end
        return np.full(len(rows), start, dtype=np.int64), kept

    def _has_head(self, rows: Sequence[CachedRow], context: Context) -> bool:
        """Whether ``head_ids(context)`` is not empty, tokenising only when nothing else tells.

        The head is the lead ids then the prefix's tokens: not empty when there are lead ids,
        empty when there are none and no prefix. Otherwise a row that is not truncated and has
        text tokens tells: it scores all its ``n`` text tokens after a head, ``n - 1``
        without one (:func:`truncate`)."""
        if self.lead or not context.prefix:
            return bool(self.lead)
        for row in rows:
            if not row.truncated and row.n_text_tokens > 0 and row.stats:
                n_scored = len(next(iter(row.stats.values())))
                return n_scored == row.n_text_tokens
        return bool(self.head_ids(context))
