"""Exact and near-duplicate texts shared by members and non-members.

A non-member whose text (or most of it) also appears among the members was, in effect, trained
on: its label is wrong for the model, and a good attack is punished for noticing. Exact copies
are found by :func:`miakit.data.validate.find_overlaps`; this module adds near-duplicates.

Near-duplicate test. Texts are lowercased and split into word tokens (``\\w+``); each becomes the
set of its word n-grams (default ``n = 13``, the contamination n-gram of GPT-3's and later
overlap studies). For a member ``a`` and a non-member ``b``::

    containment = max(|G(a) ∩ G(b)| / |G(a)|, |G(a) ∩ G(b)| / |G(b)|)

(the share of either text's n-grams that the other contains: a short text copied into a long
one scores 1). A pair with ``containment >= threshold`` (default 0.5) is a near-duplicate.

Finding pairs. Comparing every member with every non-member is quadratic. A text with at most
:data:`SMALL_SET` n-grams (about 75 words) is compared exactly: an inverted index of the small
sets gives every text that shares an n-gram with one, and how many it shares. Pairs of two
larger texts come from MinHash LSH over the n-gram sets (``num_perm=128``, seeded), and each
candidate's containment is then computed exactly from the sets, so no reported number is an
estimate. The LSH index is datasketch's ``MinHashLSHEnsemble``: ``MinHashLSH`` indexes
partitioned by set size, which turn the containment threshold into the right Jaccard threshold
per partition, queried both ways (non-members in members and members in non-members) and
weighted towards recall. A plain ``MinHashLSH`` thresholds Jaccard, which is tiny when a short
text sits inside a long one (14 words inside 300: Jaccard 0.007, containment 1); on 30 planted
pairs of that kind it found 18–22, the ensemble 30. LSH can still miss a pair of two large
texts whose sizes differ by well over 10x, near the threshold.

Short texts (the choice documented here). A text with fewer than ``n`` words uses ``n`` equal
to its word count, but never less than 3; a pair is compared at the smaller of its two texts'
n. So a 7-word non-member that appears word for word inside a member is reported (containment
1): the model did see those words. Such a text has a single n-gram (itself), so the check is
an exact lookup of it among the other side's n-grams of that length; no sketch is involved.
Texts of fewer than 3 words are skipped (too short for any phrase to be evidence) and listed in
:attr:`OverlapReport.skipped`; exact copies of them are still found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from miakit.data.schema import Label, Sample
from miakit.data.validate import find_overlaps
from miakit.errors import InvalidParameterError

#: Shortest n used for texts with fewer than ``n`` words; shorter texts are skipped.
MIN_N = 3
NUM_PERM = 128
#: Sets of at most this many n-grams are compared exactly (an inverted index), not by LSH.
SMALL_SET = 64
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class NearDuplicate:
    """A member and a non-member with the same or nearly the same text.

    Attributes:
        member_id, nonmember_id: the two samples.
        containment: the larger share of either text's word n-grams found in the other, in
            ``[0, 1]`` (1.0 for ``kind == "exact"``).
        kind: ``"exact"`` (identical strings) or ``"near"``.
    """

    member_id: str
    nonmember_id: str
    containment: float
    kind: Literal["exact", "near"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "nonmember_id": self.nonmember_id,
            "containment": self.containment,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class OverlapReport:
    """What :func:`overlap_report` found.

    Attributes:
        pairs: exact and near-duplicate pairs, in non-member order, then member order.
        n: the word n-gram length asked for.
        threshold: the containment threshold.
        n_nonmembers: non-members checked (skipped ones included).
        skipped: ids of members and non-members with fewer than :data:`MIN_N` words, which
            were checked for exact copies only.
    """

    pairs: tuple[NearDuplicate, ...]
    n: int
    threshold: float
    n_nonmembers: int
    skipped: tuple[str, ...] = field(default=())

    @property
    def n_exact(self) -> int:
        return sum(1 for p in self.pairs if p.kind == "exact")

    @property
    def n_near(self) -> int:
        return sum(1 for p in self.pairs if p.kind == "near")

    @property
    def n_nonmembers_with_duplicate(self) -> int:
        """Non-members with at least one exact or near-duplicate member."""
        return len({p.nonmember_id for p in self.pairs})

    @property
    def fraction_nonmembers(self) -> float:
        """:attr:`n_nonmembers_with_duplicate` over :attr:`n_nonmembers` (0 when none)."""
        return self.n_nonmembers_with_duplicate / self.n_nonmembers if self.n_nonmembers else 0.0

    def to_dict(self, *, max_pairs: int = 1000) -> dict[str, Any]:
        """A JSON-ready dict; at most ``max_pairs`` pairs are listed (all are counted)."""
        return {
            "n_exact": self.n_exact,
            "n_near": self.n_near,
            "pairs": [p.to_dict() for p in self.pairs[:max_pairs]],
            "pairs_truncated": len(self.pairs) > max_pairs,
            "n": self.n,
            "threshold": self.threshold,
            "n_nonmembers": self.n_nonmembers,
            "n_nonmembers_with_duplicate": self.n_nonmembers_with_duplicate,
            "fraction_nonmembers": self.fraction_nonmembers,
            "n_skipped": len(self.skipped),
            "skipped": list(self.skipped[:max_pairs]),
        }


def words(text: str) -> list[str]:
    """Lowercase word tokens (``\\w+``) of a text."""
    return _WORD.findall(text.lower())


def word_ngrams(tokens: Sequence[str], n: int) -> set[str]:
    """The set of word n-grams of a token list, each joined by single spaces."""
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def containment(a: set[str], b: set[str]) -> float:
    """``max(|a ∩ b| / |a|, |a ∩ b| / |b|)``; 0 when either set is empty."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return max(common / len(a), common / len(b))


def find_near_duplicates(
    samples: Iterable[Sample], *, n: int = 13, threshold: float = 0.5, seed: int = 0
) -> list[NearDuplicate]:
    """Member/non-member pairs with identical or nearly identical texts.

    See the module docstring for the test, the candidate search and short texts. Samples
    with an unknown label are ignored.

    Args:
        samples: the samples of a run.
        n: word n-gram length, at least :data:`MIN_N`.
        threshold: containment at or above which a pair is reported, in ``(0, 1]``.
        seed: seed of the MinHash permutations (affects only which candidates LSH proposes).

    Returns:
        Exact pairs (``kind="exact"``, containment 1.0) and near pairs, in non-member order,
        then member order.

    Raises:
        InvalidParameterError: ``n`` or ``threshold`` out of range.
    """
    return list(overlap_report(samples, n=n, threshold=threshold, seed=seed).pairs)


def overlap_report(
    samples: Iterable[Sample], *, n: int = 13, threshold: float = 0.5, seed: int = 0
) -> OverlapReport:
    """:func:`find_near_duplicates` with counts and the skipped short texts.

    Args and Raises: as :func:`find_near_duplicates`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < MIN_N:
        raise InvalidParameterError(f"n must be an integer >= {MIN_N}; got {n!r}.")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidParameterError(f"threshold must be a number in (0, 1]; got {threshold!r}.")
    if not 0.0 < float(threshold) <= 1.0:
        raise InvalidParameterError(f"threshold must be in (0, 1]; got {threshold!r}.")
    threshold = float(threshold)

    items = list(samples)
    members = [s for s in items if s.label is Label.MEMBER]
    nonmembers = [s for s in items if s.label is Label.NONMEMBER]
    exact = find_overlaps(items)
    exact_set = set(exact)
    m_pos = {s.id: i for i, s in enumerate(members)}
    n_pos = {s.id: i for i, s in enumerate(nonmembers)}
    found: dict[tuple[int, int], NearDuplicate] = {
        (n_pos[b], m_pos[a]): NearDuplicate(a, b, 1.0, "exact") for a, b in exact
    }

    m_tokens = [words(s.text) for s in members]
    n_tokens = [words(s.text) for s in nonmembers]
    m_n = [_n_eff(len(t), n) for t in m_tokens]
    n_n = [_n_eff(len(t), n) for t in n_tokens]
    skipped = [s.id for s, k in zip(members, m_n) if k is None]
    skipped += [s.id for s, k in zip(nonmembers, n_n) if k is None]

    def add(j: int, i: int, c: float) -> None:  # (non-member position, member position)
        if (j, i) not in found and (members[i].id, nonmembers[j].id) not in exact_set:
            found[(j, i)] = NearDuplicate(members[i].id, nonmembers[j].id, c, "near")

    # Texts of at least n words. A pair with a small set: exact shared-n-gram counts from an
    # inverted index of the small sets. Two large sets: MinHash LSH candidates, then exact.
    m_sets = {i: word_ngrams(m_tokens[i], n) for i, k in enumerate(m_n) if k == n}
    n_sets = {j: word_ngrams(n_tokens[j], n) for j, k in enumerate(n_n) if k == n}
    m_large = {i: g for i, g in m_sets.items() if len(g) > SMALL_SET}
    n_large = {j: g for j, g in n_sets.items() if len(g) > SMALL_SET}
    shared = _shared_counts({i: g for i, g in m_sets.items() if i not in m_large}, n_sets)
    flipped = _shared_counts({j: g for j, g in n_sets.items() if j not in n_large}, m_large)
    shared.update({(i, j): c for (j, i), c in flipped.items()})
    for (i, j), common in shared.items():
        c = max(common / len(m_sets[i]), common / len(n_sets[j]))
        if c >= threshold:
            add(j, i, c)
    for j, i in _lsh_pairs(index=m_large, queries=n_large, t=threshold, seed=seed):
        c = containment(m_sets[i], n_sets[j])
        if c >= threshold:
            add(j, i, c)

    # A pair with a shorter text is compared at that text's length g < n. Its g-gram set is
    # one g-gram (the whole text), so containment is 1 if the other text contains it and at
    # most 1/|other's g-grams| otherwise: an exact lookup, no sketch needed.
    for g in sorted({k for k in (*m_n, *n_n) if k is not None and k < n}):
        short_m = _by_ngram(m_tokens, m_n, g)
        short_n = _by_ngram(n_tokens, n_n, g)
        for j, k in enumerate(n_n):
            if k is not None and k >= g and short_m:
                for gram in word_ngrams(n_tokens[j], g):
                    for i in short_m.get(gram, ()):
                        add(j, i, 1.0)
        for i, k in enumerate(m_n):
            if k is not None and k > g and short_n:  # equal lengths were found just above
                for gram in word_ngrams(m_tokens[i], g):
                    for j in short_n.get(gram, ()):
                        add(j, i, 1.0)

    pairs = tuple(found[key] for key in sorted(found))
    return OverlapReport(
        pairs=pairs,
        n=n,
        threshold=threshold,
        n_nonmembers=len(nonmembers),
        skipped=tuple(skipped),
    )


def _n_eff(n_words: int, n: int) -> int | None:
    """The n-gram length used for a text of ``n_words`` words; ``None``: too short."""
    if n_words < MIN_N:
        return None
    return min(n, n_words)


def _shared_counts(
    small: dict[int, set[str]], others: dict[int, set[str]]
) -> dict[tuple[int, int], int]:
    """``(small key, other key) -> |small ∩ other|`` for every pair sharing an n-gram."""
    if not small or not others:
        return {}
    where: dict[str, list[int]] = {}
    for key, grams in small.items():
        for gram in grams:
            where.setdefault(gram, []).append(key)
    counts: dict[tuple[int, int], int] = {}
    for other, grams in others.items():
        for gram in grams:
            for key in where.get(gram, ()):
                counts[(key, other)] = counts.get((key, other), 0) + 1
    return counts


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
