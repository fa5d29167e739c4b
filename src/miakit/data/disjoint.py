"""Auxiliary texts must never be evaluation texts: exact and normalised-text matches.

Auxiliary sets (ReCaLL prefixes, a calibration set, a frequency corpus) feed an attack or
choose its hyperparameters. A text present both there and among the evaluation samples leaks:
a ReCaLL prefix holding the text scores the text with itself in context (mimir's ReCaLL takes
its prefix from the evaluation non-members), and a calibration set holding evaluation samples
tunes on the test set. Such overlaps are refused.

Two texts *match* when they are identical strings (``exact``) or equal after
:func:`normalise_text` (``normalised``): format characters removed (Unicode ``Cf``: zero-width
spaces, soft hyphens, ...), Unicode NFKC, case folding, punctuation removed (every character of
a Unicode ``P*`` category) and runs of whitespace collapsed to one space, then stripped. So
``"Hello, World!"`` and ``"hello world"`` match; a copy that differs in punctuation, case, line
breaks, invisible characters or full-width letters is still a copy. The containment check uses
the same normalisation (:func:`miakit.data.containment.fold_text`) before it splits words.

Equality is not enough: WikiMIA's longer splits extend its shorter ones, so a prefix drawn from
another split holds an evaluation text verbatim plus a sentence or two.
:func:`require_disjoint` therefore also refuses *containment*, with the same test as
member/non-member near-duplicates (:mod:`miakit.data.containment`: word 13-grams, an exact
inverted index, MinHash LSH only for inputs of over 2 million n-grams, shares computed
exactly): an auxiliary text that holds at least half of an evaluation text's 13-grams
(``contains``, the WikiMIA case) or whose own 13-grams lie at least half in one evaluation text
(``is inside``, a sub-passage of at least 13 words). Short texts: an evaluation text of 3 to 12
words is compared at n = its word count, so one found word for word in an auxiliary text is
refused (it is all in the context); an auxiliary text of fewer than 13 words found inside an
evaluation text is not (a phrase that short puts too little of the text in the context, and
common phrases would refuse most auxiliary sets); texts of fewer than 3 words are compared only
by exact and normalised equality. There is no switch to allow an overlap: remove the texts.
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
from miakit.data.containment import find_contained, fold_text
from miakit.data.schema import Sample
from miakit.errors import DataError

#: Word n-gram length and containment threshold of :func:`require_disjoint`.
N = 13
THRESHOLD = 0.5


@functools.cache
def _punctuation() -> dict[int, None]:
    """``str.translate`` table deleting every Unicode punctuation character (``P*``)."""
    return {
        cp: None
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)).startswith("P")
    }


def normalise_text(text: str) -> str:
    """:func:`~miakit.data.containment.fold_text` (format characters removed, NFKC,
    casefold), then drop punctuation (Unicode ``P*``), collapse whitespace, strip."""
    return " ".join(fold_text(text).translate(_punctuation()).split())


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


@dataclass(frozen=True)
class Containment:
    """An auxiliary text that contains, or lies inside, an evaluation text.

    Attributes:
        aux_in_eval: share of the auxiliary text's word n-grams found in the evaluation text.
        eval_in_aux: share of the evaluation text's word n-grams found in the auxiliary text.
        n: the n-gram length of the comparison.
    """

    aux: Sample
    evaluation: Sample
    aux_in_eval: float
    eval_in_aux: float
    n: int

    @property
    def direction(self) -> Literal["contains", "is inside"]:
        return "contains" if self.eval_in_aux >= self.aux_in_eval else "is inside"

    @property
    def containment(self) -> float:
        return max(self.aux_in_eval, self.eval_in_aux)

    def refused(self, *, n: int = 13, threshold: float = 0.5) -> bool:
        """Whether the pair leaks: the evaluation text's share in the auxiliary text reaches
        ``threshold``, or the auxiliary text's share in the evaluation text does and the
        auxiliary text is a passage of at least ``n`` words (a shorter phrase inside an
        evaluation text puts too few of its words in the context to count)."""
        return self.eval_in_aux >= threshold or (self.aux_in_eval >= threshold and self.n >= n)

    def describe(self, other: str = "evaluation") -> str:
        a, e = self.aux, self.evaluation
        where_a = f" ({a.source})" if a.source else ""
        where_e = f" ({e.source})" if e.source else ""
        return (
            f"{a.id!r}{where_a} {self.direction} {other} {e.id!r}{where_e}: containment "
            f"{self.containment:.2f} (its text in the aux text {self.eval_in_aux:.2f}, the aux "
            f"text in it {self.aux_in_eval:.2f}; word {self.n}-grams)"
        )


def find_containments(
    aux: Sequence[Sample],
    evaluation: Sequence[Sample],
    *,
    n: int = 13,
    threshold: float = 0.5,
    seed: int = 0,
    exact: bool | None = None,
) -> list[Containment]:
    """Pairs of an auxiliary and an evaluation sample whose word n-gram containment reaches
    ``threshold`` (either direction; see the module docstring), in auxiliary order.
    ``exact``: as :func:`miakit.data.containment.find_contained` (no LSH)."""
    pairs = find_contained(
        [s.text for s in aux],
        [s.text for s in evaluation],
        n=n,
        threshold=threshold,
        seed=seed,
        exact=exact,
    )
    return [
        Containment(aux[c.i], evaluation[c.j], c.a_in_b, c.b_in_a, c.n)
        for c in sorted(pairs, key=lambda c: (c.i, c.j))
    ]


def require_disjoint(
    aux: Sequence[Sample], evaluation: Sequence[Sample], *, what: str, other: str = "evaluation"
) -> None:
    """Raise if any auxiliary text matches, contains or lies inside an evaluation text.

    Exact and normalised matches (:func:`find_matches`), then word n-gram containment
    (:func:`find_containments`, defaults ``n = 13``, ``threshold = 0.5``); a pair found by
    both is listed once, as a match.

    Args:
        aux: the auxiliary samples.
        evaluation: the samples they must not overlap.
        what: how to name the auxiliary set in the message, e.g. ``"--aux-nonmembers (a.jsonl)"``.
        other: how to name ``evaluation`` in the message.

    Raises:
        DataError: listing the first 10 offending pairs (ids, file:line, containment and its
            direction) and counting the rest.
    """
    aux, evaluation = list(aux), list(evaluation)
    matches = find_matches(aux, evaluation)
    seen = {(m.aux_id, m.eval_id) for m in matches}
    contained = [
        c
        for c in find_containments(aux, evaluation, n=N, threshold=THRESHOLD)
        if (c.aux.id, c.evaluation.id) not in seen and c.refused(n=N, threshold=THRESHOLD)
    ]
    if matches or contained:
        pairs = [m.describe(other) for m in matches] + [c.describe(other) for c in contained]
        n_texts = len({m.aux_id for m in matches} | {c.aux.id for c in contained})
        raise DataError(
            f"{what} shares {n_texts} text(s) with the {other} data ({len(pairs)} pair(s)): "
            f"{listing(pairs)}. Texts used to build prefixes, calibrate or count frequencies "
            "must never hold the texts scored: exact copies, copies differing only in case, "
            "punctuation or whitespace, texts that contain one (half or more of its word "
            f"{N}-grams) and passages of {N}+ words lying inside one all count. Remove those "
            "texts from the auxiliary file."
        )
