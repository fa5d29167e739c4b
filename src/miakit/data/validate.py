"""Checks on a whole sample set before scoring: unique ids, non-empty texts, no overlaps.

A text present among both members and non-members makes the two sets indistinguishable on that
sample, so an attack's score says nothing about membership there; such pairs are refused unless
the user asks to keep them, and then they are reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from miakit.data._messages import listing
from miakit.data.schema import Label, Sample, SampleSet
from miakit.errors import DataError, OverlapError


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate` found.

    Attributes:
        n_members, n_nonmembers, n_unknown: samples per label.
        overlaps: ``(member_id, nonmember_id)`` pairs with identical texts; non-empty only when
            overlaps were allowed.
    """

    n_members: int
    n_nonmembers: int
    n_unknown: int
    overlaps: tuple[tuple[str, str], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the report."""
        return {
            "n_members": self.n_members,
            "n_nonmembers": self.n_nonmembers,
            "n_unknown": self.n_unknown,
            "n_overlaps": len(self.overlaps),
            "overlaps": [{"member_id": m, "nonmember_id": n} for m, n in self.overlaps],
        }


def find_overlaps(samples: Iterable[Sample]) -> list[tuple[str, str]]:
    """Pairs ``(member_id, nonmember_id)`` of samples whose texts are identical strings.

    Runs in time linear in the number of samples plus pairs (a dict from text to member ids).
    Pairs come in non-member order, then member order.
    """
    members: dict[str, list[str]] = {}
    nonmembers: list[Sample] = []
    for s in samples:
        if s.label is Label.MEMBER:
            members.setdefault(s.text, []).append(s.id)
        elif s.label is Label.NONMEMBER:
            nonmembers.append(s)
    return [(m, s.id) for s in nonmembers for m in members.get(s.text, ())]


def validate(samples: SampleSet, *, allow_overlap: bool = False) -> ValidationReport:
    """Check a sample set before scoring it.

    Args:
        samples: the samples of a run.
        allow_overlap: keep member/non-member pairs with identical texts and report them,
            instead of refusing them.

    Returns:
        Counts per label and, with ``allow_overlap``, the overlapping pairs.

    Raises:
        DataError: ids repeat, or texts are empty or whitespace-only; each lists all cases.
        OverlapError: identical texts among members and non-members, unless ``allow_overlap``.
    """
    samples.require_unique_ids()
    # The loaders already refuse empty texts; samples built in code reach here unchecked.
    empty = [
        f"{s.id!r} ({s.source})" if s.source else repr(s.id)
        for s in samples
        if not isinstance(s.text, str) or not s.text.strip()
    ]
    if empty:
        raise DataError(
            f"{len(empty)} sample(s) with an empty or whitespace-only text: {listing(empty)}. "
            "Every sample needs a text: remove these samples or fill in their text."
        )
    overlaps = find_overlaps(samples)
    if overlaps and not allow_overlap:
        pairs = [f"member {m!r} = non-member {n!r}" for m, n in overlaps]
        raise OverlapError(
            f"{len(overlaps)} member/non-member pair(s) have identical texts: {listing(pairs)}. "
            "No attack can tell such samples apart, so they would distort the results. Remove "
            "them from one side, or pass --allow-overlap to score them anyway (they will be "
            "reported)."
        )
    return ValidationReport(
        n_members=samples.count(Label.MEMBER),
        n_nonmembers=samples.count(Label.NONMEMBER),
        n_unknown=samples.count(Label.UNKNOWN),
        overlaps=tuple(overlaps),
    )
