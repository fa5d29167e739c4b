"""Exact and near-duplicate texts shared by members and non-members.

A non-member whose text (or most of it) also appears among the members was, in effect, trained
on: its label is wrong for the model, and a good attack is punished for noticing. Exact copies
are found by :func:`miakit.data.validate.find_overlaps`; this module adds near-duplicates.

Near-duplicate test: word n-gram containment (:mod:`miakit.data.containment`, which describes
the measure, the search and the handling of short texts). Texts are lowercased and split into
word tokens; each becomes the set of its word n-grams (default ``n = 13``). For a member ``a``
and a non-member ``b``::

    containment = max(|G(a) ∩ G(b)| / |G(a)|, |G(a) ∩ G(b)| / |G(b)|)

(the share of either text's n-grams that the other contains: a short text copied into a long
one scores 1). A pair with ``containment >= threshold`` (default 0.5) is a near-duplicate.
Every pair is compared exactly (a join of hashed n-grams, then the exact sets) when one side
has at most :data:`~miakit.data.containment.EXACT_MAX_NGRAMS` n-grams; beyond that, pairs of
two large texts come from MinHash LSH (``MinHashLSHEnsemble``) candidates whose containment is then
computed exactly, so no reported number is an estimate.

Short texts. A text with fewer than ``n`` words uses ``n`` equal to its word count, but never
less than 3; a pair is compared at the smaller of its two texts' n. So a 7-word non-member that
appears word for word inside a member is reported (containment 1): the model did see those
words. Texts of fewer than 3 words are skipped (too short for any phrase to be evidence) and
listed in :attr:`OverlapReport.skipped`; exact copies of them are still found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from miakit.data.containment import (
    MIN_N,
    NUM_PERM,
    SMALL_SET,
    check_params,
    containment,
    find_contained,
    too_short,
    word_ngrams,
    words,
)
from miakit.data.schema import Label, Sample
from miakit.data.validate import find_overlaps

__all__ = [
    "MIN_N",
    "NUM_PERM",
    "SMALL_SET",
    "NearDuplicate",
    "OverlapReport",
    "containment",
    "find_near_duplicates",
    "overlap_report",
    "word_ngrams",
    "words",
]


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
    threshold = check_params(n, threshold)
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
    m_texts = [s.text for s in members]
    n_texts = [s.text for s in nonmembers]
    skipped = [members[i].id for i in too_short(m_texts)]
    skipped += [nonmembers[j].id for j in too_short(n_texts)]
    for c in find_contained(m_texts, n_texts, n=n, threshold=threshold, seed=seed):
        ids = (members[c.i].id, nonmembers[c.j].id)
        if (c.j, c.i) not in found and ids not in exact_set:
            found[(c.j, c.i)] = NearDuplicate(*ids, c.containment, "near")

    pairs = tuple(found[key] for key in sorted(found))
    return OverlapReport(
        pairs=pairs,
        n=n,
        threshold=threshold,
        n_nonmembers=len(nonmembers),
        skipped=tuple(skipped),
    )
