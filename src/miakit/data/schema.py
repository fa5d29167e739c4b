"""The sample schema shared by every part of miakit.

A sample is one text with an identifier and a membership label. Optional fields carry a
``group`` (for subgroup metrics), a ``doc_id`` (for document-level aggregation of chunks) and
free-form ``metadata``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from miakit.errors import DataError


class Label(str, enum.Enum):
    """Membership label of a sample. The string values are what files and outputs contain."""

    MEMBER = "member"
    NONMEMBER = "nonmember"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: Any, *, where: str = "") -> Label:
        """Parse a label from a file cell.

        Accepts ``member``/``nonmember``/``unknown`` (any case, ``non-member`` and
        ``non_member`` too), booleans and the integers 1/0.

        Raises:
            DataError: the value is not a recognised label; ``where`` names the place.
        """
        if isinstance(value, Label):
            return value
        if isinstance(value, bool):
            return cls.MEMBER if value else cls.NONMEMBER
        if isinstance(value, int | float) and value in (0, 1):
            return cls.MEMBER if value == 1 else cls.NONMEMBER
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "").replace("_", "")
            aliases = {
                "member": cls.MEMBER,
                "1": cls.MEMBER,
                "true": cls.MEMBER,
                "nonmember": cls.NONMEMBER,
                "0": cls.NONMEMBER,
                "false": cls.NONMEMBER,
                "unknown": cls.UNKNOWN,
                "": cls.UNKNOWN,
            }
            if key in aliases:
                return aliases[key]
        prefix = f"{where}: " if where else ""
        raise DataError(
            f"{prefix}invalid label {value!r}; expected one of 'member', 'nonmember', 'unknown' "
            "(or 1/0, true/false). Fix the label column or pass the sets separately with "
            "--members/--nonmembers."
        )


@dataclass(frozen=True)
class Sample:
    """One text to score.

    Attributes:
        id: unique identifier within a run.
        text: the text, as given (never stripped or normalised).
        label: membership label.
        group: optional subgroup name.
        doc_id: optional identifier of the document this text is a chunk of.
        metadata: any further columns of the input, kept verbatim.
        source: where the sample came from, e.g. ``"members.jsonl:12"`` (file and 1-based line
            or row), used in error messages.
    """

    id: str
    text: str
    label: Label = Label.UNKNOWN
    group: str | None = None
    doc_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class SampleSet:
    """An ordered, immutable collection of samples with convenience accessors."""

    samples: tuple[Sample, ...]

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> SampleSet:
        return cls(tuple(samples))

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.samples]

    @property
    def labels(self) -> list[Label]:
        return [s.label for s in self.samples]

    def label_array(self) -> Any:
        """Return labels as a numpy int array: 1 member, 0 non-member, -1 unknown."""
        import numpy as np

        code = {Label.MEMBER: 1, Label.NONMEMBER: 0, Label.UNKNOWN: -1}
        return np.array([code[s.label] for s in self.samples], dtype=np.int64)

    def count(self, label: Label) -> int:
        return sum(1 for s in self.samples if s.label is label)

    def require_unique_ids(self) -> None:
        """Raise :class:`DataError` listing duplicate ids, if any."""
        seen: dict[str, str] = {}
        dups: list[str] = []
        for s in self.samples:
            if s.id in seen:
                dups.append(f"{s.id!r} ({seen[s.id]} and {s.source})")
            else:
                seen[s.id] = s.source
        if dups:
            shown = "; ".join(dups[:10])
            more = f" and {len(dups) - 10} more" if len(dups) > 10 else ""
            raise DataError(
                f"duplicate sample ids: {shown}{more}. Ids must be unique across members and "
                "non-members; rename them or drop the id column to let miakit number the rows."
            )
