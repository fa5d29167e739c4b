"""The per-sample parts of a run record: the samples, one attack's scores, token counts.

Every column is aligned with the record's sample ids: entry ``i`` belongs to sample
``ids[i]``. The record checks the lengths once, when it is built, and hands values out by id
(:meth:`miakit.results.RunRecord.scores_by_id`), so no caller pairs a list position with an id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from miakit.data import Label, SampleSet


def _frozen(values: object, dtype: type) -> np.ndarray:
    """``values`` as a read-only 1-d array of ``dtype`` (a copy: the record owns it)."""
    arr: np.ndarray = np.array(values, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-d array; got shape {arr.shape}")
    arr.flags.writeable = False
    return arr


def arrays_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Same shape and values, NaN equal to NaN (``None`` equals only ``None``)."""
    if a is None or b is None:
        return a is None and b is None
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


@dataclass(frozen=True)
class SampleColumns:
    """The samples of a run, in the order of every output file's rows.

    Attributes:
        ids: unique sample ids.
        labels: membership labels.
        sources: where each sample came from (``"members.jsonl:12"``); ``None`` if unknown.
        texts: the texts as given; ``None`` where a loaded folder did not hold them.
        groups: optional subgroup of each sample.
        doc_ids: optional document each sample is a chunk of.
    """

    ids: tuple[str, ...]
    labels: tuple[Label, ...]
    sources: tuple[str | None, ...]
    texts: tuple[str | None, ...]
    groups: tuple[str | None, ...]
    doc_ids: tuple[str | None, ...]

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("labels", "sources", "texts", "groups", "doc_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: {len(getattr(self, name))} values for {n} samples")
        if len(set(self.ids)) != n:
            dups = sorted(i for i, k in Counter(self.ids).items() if k > 1)
            raise ValueError(f"duplicate sample ids: {dups[:10]}")

    @classmethod
    def of(cls, samples: SampleSet) -> SampleColumns:
        return cls(
            ids=tuple(s.id for s in samples),
            labels=tuple(s.label for s in samples),
            sources=tuple(s.source for s in samples),
            texts=tuple(s.text for s in samples),
            groups=tuple(s.group for s in samples),
            doc_ids=tuple(s.doc_id for s in samples),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, order: Sequence[int]) -> SampleColumns:
        """The samples at positions ``order``, in that order."""
        return SampleColumns(
            ids=tuple(self.ids[i] for i in order),
            labels=tuple(self.labels[i] for i in order),
            sources=tuple(self.sources[i] for i in order),
            texts=tuple(self.texts[i] for i in order),
            groups=tuple(self.groups[i] for i in order),
            doc_ids=tuple(self.doc_ids[i] for i in order),
        )


@dataclass(frozen=True, eq=False)
class AttackScores:
    """One attack's scores: shape ``(n_samples,)`` float64, higher = more likely member.

    ``reasons[i]`` says why ``scores[i]`` is NaN (``None`` where it is finite).
    """

    scores: np.ndarray
    reasons: tuple[str | None, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", _frozen(self.scores, np.float64))
        object.__setattr__(self, "reasons", tuple(self.reasons))
        if len(self.reasons) != len(self.scores):
            raise ValueError(f"{len(self.reasons)} NaN reasons for {len(self.scores)} scores")

    def take(self, order: Sequence[int]) -> AttackScores:
        return AttackScores(self.scores[list(order)], tuple(self.reasons[i] for i in order))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AttackScores):
            return NotImplemented
        return arrays_equal(self.scores, other.scores) and self.reasons == other.reasons

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class TokenCounts:
    """The target model's plain signal table, per sample (``samples.parquet``'s columns).

    Attributes:
        n_text_tokens: shape ``(n,)``, int64: tokens of the text before truncation.
        n_scored: shape ``(n,)``, int64: tokens that were scored.
        truncated: shape ``(n,)``, bool: the text was cut to ``max_length`` tokens.
    """

    n_text_tokens: np.ndarray
    n_scored: np.ndarray
    truncated: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_text_tokens", _frozen(self.n_text_tokens, np.int64))
        object.__setattr__(self, "n_scored", _frozen(self.n_scored, np.int64))
        object.__setattr__(self, "truncated", _frozen(self.truncated, np.bool_))
        if not len(self.n_text_tokens) == len(self.n_scored) == len(self.truncated):
            raise ValueError("token counts of different lengths")

    def __len__(self) -> int:
        return len(self.truncated)

    def take(self, order: Sequence[int]) -> TokenCounts:
        idx = list(order)
        return TokenCounts(self.n_text_tokens[idx], self.n_scored[idx], self.truncated[idx])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenCounts):
            return NotImplemented
        return all(
            arrays_equal(a, b)
            for a, b in zip(
                (self.n_text_tokens, self.n_scored, self.truncated),
                (other.n_text_tokens, other.n_scored, other.truncated),
                strict=True,
            )
        )

    __hash__ = None  # type: ignore[assignment]
