"""Auxiliary texts must never be evaluation texts: exact and normalised-text matches.

Auxiliary sets (ReCaLL prefixes, a calibration set, a frequency corpus) feed an attack or
choose its hyperparameters. A text present both there and among the evaluation samples leaks:
a ReCaLL prefix holding the text scores the text with itself in context (mimir's ReCaLL takes
its prefix from the evaluation non-members), and a calibration set holding evaluation samples
tunes on the test set. Such overlaps are refused.

Two texts *match* when they are identical strings (``exact``) or equal after
:func:`normalise_text` (``normalised``): Unicode NFKC, case folding, punctuation removed
(every character of a Unicode ``P*`` category) and runs of whitespace collapsed to one space,
then stripped. So ``"Hello, World!"`` and ``"hello world"`` match; a copy that differs in
punctuation, case or line breaks is still a copy.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from miakit.data._messages import listing
from miakit.data.schema import Sample
from miakit.errors import DataError


@functools.cache
def _punctuation() -> dict[int, None]:
    """``str.translate`` table deleting every Unicode punctuation character (``P*``)."""
    return {
        cp: None
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)).startswith("P")
    }


def normalise_text(text: str) -> str:
    """NFKC, casefold, drop punctuation (Unicode ``P*``), collapse whitespace, strip."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_punctuation()).split())


def text_hash(text: str) -> int:
    """A 63-bit hash of ``text`` (SHA-256 prefix), stable across processes."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class Match:
    """An auxiliary text that matches an evaluation text."""

    aux_id: str
    eval_id: str
    kind: Literal["exact", "normalised"]

    def describe(self, other: str = "evaluation") -> str:
        sign = "=" if self.kind == "exact" else "≈"
        return f"{self.aux_id!r} {sign} {other} {self.eval_id!r} ({self.kind})"


def find_matches(aux: Iterable[Sample], evaluation: Iterable[Sample]) -> list[Match]:
    """Pairs of an auxiliary and an evaluation sample with exact or normalised-equal texts.

    An exact pair is reported once, as exact. Runs in time linear in the total text length.
    """
    exact: dict[str, list[str]] = {}
    norm: dict[str, list[str]] = {}
    for s in evaluation:
        exact.setdefault(s.text, []).append(s.id)
        norm.setdefault(normalise_text(s.text), []).append(s.id)
    out: list[Match] = []
    for a in aux:
        same = exact.get(a.text, [])
        out += [Match(a.id, e, "exact") for e in same]
        key = normalise_text(a.text)
        if key:  # a text of punctuation only normalises to "" and matches nothing
            out += [Match(a.id, e, "normalised") for e in norm.get(key, []) if e not in same]
    return out


def require_disjoint(
    aux: Sequence[Sample], evaluation: Sequence[Sample], *, what: str, other: str = "evaluation"
) -> None:
    """Raise if any auxiliary text matches an evaluation text (exact or normalised).

    Args:
        aux: the auxiliary samples.
        evaluation: the samples they must not overlap.
        what: how to name the auxiliary set in the message, e.g. ``"--aux-nonmembers (a.jsonl)"``.
        other: how to name ``evaluation`` in the message.

    Raises:
        DataError: naming every offending pair of ids.
    """
    matches = find_matches(aux, evaluation)
    if matches:
        pairs = [m.describe(other) for m in matches]
        raise DataError(
            f"{what} shares {len(matches)} text(s) with the {other} data: {listing(pairs)}. "
            "Texts used to build prefixes, calibrate or count frequencies must never be the "
            "texts scored (exact copies and copies differing only in case, punctuation or "
            "whitespace count). Remove them from one of the two sets."
        )
