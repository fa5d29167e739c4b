"""Shared word n-gram counts of many text pairs at once, in numpy (issue 15).

:func:`miakit.data.containment.find_contained` needs, for every pair of a text of one list and
one of the other that share a word n-gram, how many distinct n-grams they share, and each
text's number of distinct n-grams. Built from Python sets of joined strings and a dict of
lists, that cost about 1.2 s of pure Python (holding the GIL) for 4,000 texts of ~170 words,
while a run's models score beside it. Here each n-gram is a 64-bit hash of its tokens' integer
ids (exact ids: a dict of the distinct tokens), the distinct n-grams of each text come from one
sort, and the pairs sharing an n-gram from one join on the hash: a few numpy passes.

Hashes can collide (two different n-grams, one 64-bit value: about ``m**2 / 2**65`` for ``m``
distinct n-grams, 3e-9 for a million), which could only add shared n-grams or merge two of one
text's n-grams; the caller therefore recomputes every pair it reports from the exact sets
(:func:`miakit.data.containment.find_contained`), so no reported number rests on a hash.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

_P = np.uint64(0x100000001B3)  # odd multiplier of the rolling hash (FNV-1a 64-bit prime)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads the rolling hash over all 64 bits."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


class Vocabulary:
    """Exact integer ids of tokens: distinct tokens, distinct ids (not consecutive)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._next = itertools.count()

    def ids(self, tokens: list[str]) -> Iterator[int]:
        """The id of each token; a new token takes a fresh one. ``map`` over two iterables
        runs in C: no Python frame per token (a generator with ``setdefault`` cost 0.5 s for
        700,000 tokens)."""
        return map(self._ids.setdefault, tokens, self._next)


class NgramSets:
    """The distinct word n-grams of some texts, as sorted ``(text, hash)`` rows.

    Args:
        tokens: each text's word tokens (all texts, of any length).
        keep: positions of the texts to hash (the others get no n-gram).
        n: the n-gram length.
        vocab: token ids, shared by every :class:`NgramSets` compared with this one (grown
            here as new tokens appear).

    Attributes:
        text: ``(m,)`` int64 position of the text of each distinct n-gram, ascending.
        hash: ``(m,)`` uint64 the n-gram's hash, ascending within a text.
        sizes: ``(len(tokens),)`` int64 distinct n-grams per text (0 for those not kept).
    """

    def __init__(
        self, tokens: Sequence[list[str]], keep: Sequence[int], n: int, vocab: Vocabulary
    ) -> None:
        keep = [k for k in keep if len(tokens[k]) >= n]
        flat = list(itertools.chain.from_iterable(tokens[k] for k in keep))
        ids = np.fromiter(vocab.ids(flat), dtype=np.uint64, count=len(flat))
        lengths = np.array([len(tokens[k]) for k in keep], dtype=np.int64)
        n_grams = np.maximum(lengths - n + 1, 0)  # (n_kept,)
        token_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        owner = np.repeat(np.arange(len(keep)), n_grams)  # (total,) kept text of each n-gram
        first = np.arange(owner.shape[0]) - np.repeat(np.cumsum(n_grams) - n_grams, n_grams)
        first += token_start[owner]  # (total,) its first token in ``flat``
        h = np.zeros(first.shape, dtype=np.uint64)
        for k in range(n):  # polynomial hash of the n token ids (mod 2**64)
            h = h * _P + ids[first + k] + np.uint64(1)
        h = _mix(h)
        text = np.asarray(keep, dtype=np.int64)[owner]
        order = np.lexsort((h, text))
        text, h = text[order], h[order]
        distinct = np.ones(h.shape, dtype=bool)
        distinct[1:] = (h[1:] != h[:-1]) | (text[1:] != text[:-1])
        self.text, self.hash = text[distinct], h[distinct]
        self.sizes = np.bincount(self.text, minlength=len(tokens)).astype(np.int64)

    def total(self) -> int:
        """Distinct n-grams summed over the texts."""
        return int(self.hash.shape[0])

    def subset(self, texts: np.ndarray) -> NgramSets:
        """The rows of the texts whose mask ``texts`` (``(len(tokens),)`` bool) is set."""
        out = object.__new__(NgramSets)
        rows = texts[self.text]
        out.text, out.hash = self.text[rows], self.hash[rows]
        out.sizes = np.where(texts, self.sizes, 0)
        return out


def shared_counts(a: NgramSets, b: NgramSets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, common)``: every pair of a text of ``a`` and one of ``b`` sharing an n-gram,
    with the number of distinct n-grams they share; each ``(n_pairs,)`` int64, sorted by
    ``(j, i)``.

    Cost: the sorts, plus one entry per (n-gram, text of ``a``, text of ``b``) triple: an
    n-gram found in many texts of both lists (boilerplate) multiplies.
    """
    empty = np.zeros(0, dtype=np.int64)
    if not a.total() or not b.total():
        return empty, empty, empty
    oa, ob = np.argsort(a.hash, kind="stable"), np.argsort(b.hash, kind="stable")
    ha, hb = a.hash[oa], b.hash[ob]
    ta, tb = a.text[oa], b.text[ob]
    # for each b row, the range of a rows with the same hash
    lo = np.searchsorted(ha, hb, side="left")
    hi = np.searchsorted(ha, hb, side="right")
    width = hi - lo  # (n_b_rows,)
    hit = np.flatnonzero(width)
    if not hit.size:
        return empty, empty, empty
    reps = width[hit]
    j = np.repeat(tb[hit], reps)
    offset = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
    i = ta[np.repeat(lo[hit], reps) + offset]
    n_a = int(a.sizes.shape[0])
    key, common = np.unique(j * n_a + i, return_counts=True)  # sorted by (j, i)
    return key % n_a, key // n_a, common.astype(np.int64)
