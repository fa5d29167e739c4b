"""Word n-gram containment between two lists of texts: one search, several checks.

Used for member/non-member near-duplicates (:mod:`miakit.data.overlap`) and for auxiliary sets
that must not hold evaluation text (:mod:`miakit.data.disjoint`,
:mod:`miakit.pipeline.providers.frequency`).

The measure. Texts are normalised by :func:`fold_text` (Unicode NFKC, case folding, format
characters such as zero-width spaces and soft hyphens removed) and split into word tokens
(``\\w+``, so case, punctuation, whitespace, full-width letters, decomposed accents and
invisible characters never matter); each becomes the set ``G`` of its word n-grams (default
``n = 13``, the contamination n-gram of GPT-3's and later overlap studies). For texts ``a`` and
``b`` two shares are computed::

    a_in_b = |G(a) ∩ G(b)| / |G(a)|        b_in_a = |G(a) ∩ G(b)| / |G(b)|

``a_in_b`` is the share of ``a``'s n-grams that ``b`` contains (1 when ``a`` is copied into
``b``); the pair's ``containment`` is the larger of the two, and a pair is reported when it
reaches ``threshold`` (default 0.5).

Finding pairs. Comparing every text of one list with every text of the other is quadratic. When
one list has at most :data:`EXACT_MAX_NGRAMS` n-grams in all (the default ``exact=None``; or
always with ``exact=True``), the distinct n-grams of every text of both lists are joined on
their hashes (numpy, :mod:`miakit.data._ngram_index`): the shared-n-gram count of every pair
that shares one, for any sizes, in time linear in the texts plus those pairs, and every pair
that reaches the threshold is then recomputed from its exact n-gram sets (2,000 against 2,000
texts of ~170 words: 0.6 CPU s, was 1.3 s with Python sets and dicts, 8-12 s by LSH). For
larger inputs (or ``exact=False``), a text with at most :data:`SMALL_SET` n-grams (about 75
words) is still compared exactly through the same join, and pairs of two larger texts
come from MinHash LSH over the n-gram sets (``num_perm=128``, seeded); each candidate's shares
are then computed exactly from the sets, so no reported number is an estimate. The LSH index is
datasketch's ``MinHashLSHEnsemble``: ``MinHashLSH`` indexes partitioned by set size, which turn
the containment threshold into the right Jaccard threshold per partition, queried both ways and
weighted towards recall. A plain ``MinHashLSH`` thresholds Jaccard, which is tiny when a short
text sits inside a long one (14 words inside 300: Jaccard 0.007, containment 1); on 30 planted
pairs of that kind it found 18–22, the ensemble 30. LSH can still miss a pair of two large
texts whose sizes differ by well over 10x, near the threshold.

Short texts. A text with fewer than ``n`` words uses ``n`` equal to its word count, but never
less than :data:`MIN_N` (3); a pair is compared at the smaller of its two texts' n. So a 7-word
text that appears word for word inside another is reported (its share is 1). Such a text has a
single n-gram (itself), so the check is an exact lookup of it among the other text's n-grams of
that length; no sketch is involved. Texts of fewer than 3 words are never compared (too short
for a phrase to be evidence); :func:`too_short` lists them, and callers check them for exact and
normalised copies instead.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miakit.data._ngram_index import NgramSets, Vocabulary, shared_counts
from miakit.errors import InvalidParameterError

#: Shortest n used for texts with fewer than ``n`` words; shorter texts are not compared.
MIN_N = 3
NUM_PERM = 128
#: Sets of at most this many n-grams are compared exactly (the hash join), not by LSH.
SMALL_SET = 64
#: With ``exact=None``, every pair is compared exactly (no LSH) when one side has at most this
#: many n-grams in all (about 10,000 texts of 200 words; a few hundred MB of n-gram strings).
EXACT_MAX_NGRAMS = 2_000_000
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Contained:
    """Two texts sharing at least ``threshold`` of one's word n-grams.

    Attributes:
        i, j: positions of the texts in ``a`` and ``b``.
        a_in_b: share of text ``a[i]``'s n-grams found in ``b[j]``, in ``[0, 1]``.
        b_in_a: share of text ``b[j]``'s n-grams found in ``a[i]``.
        n: the n-gram length the pair was compared at.
    """

    i: int
    j: int
    a_in_b: float
    b_in_a: float
    n: int

    @property
    def containment(self) -> float:
        return max(self.a_in_b, self.b_in_a)


class _DropFormat(dict[int, int | None]):
    """``str.translate`` table deleting every Unicode format character (category ``Cf``:
    zero-width spaces and joiners, soft hyphens, direction marks, the byte-order mark).

    Filled as characters are met (``__missing__``): building it for all 1.1 million code
    points up front cost about 0.7 s of pure Python per process."""

    def __missing__(self, cp: int) -> int | None:
        kept = None if unicodedata.category(chr(cp)) == "Cf" else cp
        self[cp] = kept
        return kept


_FORMAT = _DropFormat()


def fold_text(text: str) -> str:
    """``text`` with format characters (``Cf``) removed, then NFKC-normalised and case-folded:
    the one normalisation of every overlap check (here and
    :func:`miakit.data.disjoint.normalise_text`). ASCII text is only lowercased (the same)."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text.translate(_FORMAT)).casefold()


def words(text: str) -> list[str]:
    """Word tokens (``\\w+``) of :func:`fold_text` of a text."""
    return _WORD.findall(fold_text(text))


def word_ngrams(tokens: Sequence[str], n: int) -> set[str]:
    """The set of word n-grams of a token list, each joined by single spaces."""
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def containment(a: set[str], b: set[str]) -> float:
    """``max(|a ∩ b| / |a|, |a ∩ b| / |b|)``; 0 when either set is empty."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return max(common / len(a), common / len(b))


def check_params(n: Any, threshold: Any) -> float:
    """Validate ``n`` and ``threshold``; return ``threshold`` as a float.

    Raises:
        InvalidParameterError: ``n`` not an integer >= :data:`MIN_N`, or ``threshold`` not in
            ``(0, 1]``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < MIN_N:
        raise InvalidParameterError(f"n must be an integer >= {MIN_N}; got {n!r}.")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidParameterError(f"threshold must be a number in (0, 1]; got {threshold!r}.")
    if not 0.0 < float(threshold) <= 1.0:
        raise InvalidParameterError(f"threshold must be in (0, 1]; got {threshold!r}.")
    return float(threshold)


def too_short(texts: Sequence[str]) -> list[int]:
    """Positions of the texts with fewer than :data:`MIN_N` words (never compared)."""
    return [k for k, t in enumerate(texts) if len(words(t)) < MIN_N]


def find_contained(
    a: Sequence[str],
    b: Sequence[str],
    *,
    n: int = 13,
    threshold: float = 0.5,
    seed: int = 0,
    exact: bool | None = None,
) -> list[Contained]:
    """Every pair of a text of ``a`` and one of ``b`` whose containment reaches ``threshold``.

    See the module docstring for the measure, the search and short texts.

    Args:
        a, b: the two lists of texts.
        n: word n-gram length, at least :data:`MIN_N`.
        threshold: containment at or above which a pair is reported, in ``(0, 1]``.
        seed: seed of the MinHash permutations (affects only which candidates LSH proposes).
        exact: ``True``: compare every pair through the hash join of both sides
            (no LSH); ``False``: small sets by the index, pairs of large sets by LSH;
            ``None`` (default): ``True`` when the smaller side has at most
            :data:`EXACT_MAX_NGRAMS` n-grams.

    Returns:
        The pairs, ordered by ``(j, i)``.

    Raises:
        InvalidParameterError: ``n`` or ``threshold`` out of range.
    """
    threshold = check_params(n, threshold)
    a_tok = [words(t) for t in a]
    b_tok = [words(t) for t in b]
    a_n = [_n_eff(len(t), n) for t in a_tok]
    b_n = [_n_eff(len(t), n) for t in b_tok]
    found: dict[tuple[int, int], Contained] = {}

    def add(i: int, j: int, common: int, size_a: int, size_b: int, g: int) -> None:
        c = Contained(i, j, common / size_a, common / size_b, g)
        if c.containment >= threshold and (j, i) not in found:
            found[(j, i)] = c

    # Texts of at least n words. A pair with a small set: shared-n-gram counts from a join of
    # hashed n-grams (numpy, :mod:`._ngram_index`), each reported pair recomputed from its
    # exact sets. Two large sets: MinHash LSH candidates, then exact.
    vocab = Vocabulary()
    a_idx = NgramSets(a_tok, [i for i, k in enumerate(a_n) if k == n], n, vocab)
    b_idx = NgramSets(b_tok, [j for j, k in enumerate(b_n) if k == n], n, vocab)
    a_total, b_total = a_idx.total(), b_idx.total()
    if exact is None:
        exact = min(a_total, b_total) <= EXACT_MAX_NGRAMS
    a_large = np.zeros(len(a_tok), dtype=bool) if exact else a_idx.sizes > SMALL_SET
    b_large = np.zeros(len(b_tok), dtype=bool) if exact else b_idx.sizes > SMALL_SET
    parts = [shared_counts(a_idx.subset(~a_large), b_idx)]
    if a_large.any():
        parts.append(shared_counts(a_idx.subset(a_large), b_idx.subset(~b_large)))
    a_sets: dict[int, set[str]] = {}
    b_sets: dict[int, set[str]] = {}

    def exact_add(i: int, j: int) -> None:
        if i not in a_sets:
            a_sets[i] = word_ngrams(a_tok[i], n)
        if j not in b_sets:
            b_sets[j] = word_ngrams(b_tok[j], n)
        ga, gb = a_sets[i], b_sets[j]
        add(i, j, len(ga & gb), len(ga), len(gb), n)

    for ii, jj, common in parts:
        size_a, size_b = a_idx.sizes[ii], b_idx.sizes[jj]
        reach = np.maximum(common / size_a, common / size_b) >= threshold
        for i, j in zip(ii[reach].tolist(), jj[reach].tolist(), strict=True):
            exact_add(i, j)
    if not exact:
        large_a = {int(i): word_ngrams(a_tok[i], n) for i in np.flatnonzero(a_large)}
        large_b = {int(j): word_ngrams(b_tok[j], n) for j in np.flatnonzero(b_large)}
        a_sets.update(large_a)
        b_sets.update(large_b)
        for j, i in _lsh_pairs(index=large_a, queries=large_b, t=threshold, seed=seed):
            exact_add(i, j)

    # A pair with a shorter text is compared at that text's length g < n. Its g-gram set is
    # one g-gram (the whole text): its share is 1 if the other text contains it, and the other
    # text's share is 1 / (that text's number of g-grams). An exact lookup, no sketch needed.
    for g in sorted({k for k in (*a_n, *b_n) if k is not None and k < n}):
        short_a = _by_ngram(a_tok, a_n, g)
        short_b = _by_ngram(b_tok, b_n, g)
        first_a = {key.split(" ", 1)[0] for key in short_a}
        first_b = {key.split(" ", 1)[0] for key in short_b}
        for j, k in enumerate(b_n):
            if k is not None and k >= g and short_a:
                for gram in _hits(b_tok[j], g, short_a, first_a):
                    size = len(word_ngrams(b_tok[j], g))
                    for i in short_a[gram]:
                        add(i, j, 1, 1, size, g)
        for i, k in enumerate(a_n):
            if k is not None and k > g and short_b:  # equal lengths were found just above
                for gram in _hits(a_tok[i], g, short_b, first_b):
                    size = len(word_ngrams(a_tok[i], g))
                    for j in short_b[gram]:
                        add(i, j, 1, size, 1, g)
    return [found[key] for key in sorted(found)]


def _hits(tokens: list[str], g: int, short: dict[str, list[int]], firsts: set[str]) -> set[str]:
    """The g-grams of ``tokens`` that are keys of ``short``; only the positions whose word is
    in ``firsts`` (the first words of the keys) are joined, a cheap filter."""
    grams = {" ".join(tokens[p : p + g]) for p in range(len(tokens) - g + 1) if tokens[p] in firsts}
    return grams & short.keys()


def _n_eff(n_words: int, n: int) -> int | None:
    """The n-gram length used for a text of ``n_words`` words; ``None``: too short."""
    if n_words < MIN_N:
        return None
    return min(n, n_words)


def _by_ngram(tokens: list[list[str]], n_eff: list[int | None], g: int) -> dict[str, list[int]]:
    """Texts whose n-gram length is ``g``, keyed by their single g-gram (the whole text)."""
    out: dict[str, list[int]] = {}
    for i, k in enumerate(n_eff):
        if k == g:
            out.setdefault(" ".join(tokens[i]), []).append(i)
    return out


def _lsh_pairs(
    *, index: dict[int, set[str]], queries: dict[int, set[str]], t: float, seed: int
) -> set[tuple[int, int]]:
    """Candidate ``(query key, index key)`` pairs whose containment may reach ``t``.

    Both directions, each with a ``datasketch.MinHashLSHEnsemble`` (MinHash LSH indexes
    partitioned by set size, so that containment rather than Jaccard is what is thresholded):
    queries contained in indexed sets, then indexed sets contained in queries.

    Returns:
        Candidate pairs, not yet verified (LSH has false positives and, rarely, misses).
    """
    if not index or not queries:
        return set()
    from datasketch import MinHashLSHEnsemble

    index_keys, query_keys = sorted(index), sorted(queries)
    sketches = _minhashes([index[k] for k in index_keys] + [queries[k] for k in query_keys], seed)
    index_sk = dict(zip(index_keys, sketches))
    query_sk = dict(zip(query_keys, sketches[len(index_keys) :]))
    out: set[tuple[int, int]] = set()
    for flip in (False, True):
        sets, sk, probes, probe_sk = (
            (queries, query_sk, index, index_sk) if flip else (index, index_sk, queries, query_sk)
        )
        lsh = MinHashLSHEnsemble(threshold=t, num_perm=NUM_PERM, weights=(0.2, 0.8))
        lsh.index([(k, sk[k], len(sets[k])) for k in sorted(sets)])
        for p in sorted(probes):
            for key in lsh.query(probe_sk[p], len(probes[p])):
                out.add((int(key), p) if flip else (p, int(key)))
    return out


def _minhashes(sets: list[set[str]], seed: int) -> list[Any]:
    """One MinHash per set, sharing one set of seeded permutations."""
    from datasketch import MinHash

    data = [[g.encode("utf-8") for g in grams] for grams in sets]
    if hasattr(MinHash, "bulk"):  # newer datasketch: the permutations are generated once
        return list(MinHash.bulk(data, num_perm=NUM_PERM, seed=seed))
    out = []
    for grams in data:
        mh = MinHash(num_perm=NUM_PERM, seed=seed)
        mh.update_batch(grams)
        out.append(mh)
    return out
